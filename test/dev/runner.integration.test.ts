import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadStage } from '../../cdk8s/stages.ts';
import { sparkApplicationsPath } from '../../src/api/spark-application.ts';
import { Informer } from '../../src/kube/informer.ts';
import { isGone } from '../../src/dev/process.ts';
import type { PythonSetup } from '../../src/dev/python.ts';
import { requirePythonSetup } from '../../src/dev/tools.ts';
import type { SparkApplicationStatus } from '../../src/api/spark-application.ts';
import type { RunnerApplication } from '../../src/dev/runner/status.ts';
import { refusalMessage, SPEC_FIELDS, type FieldRule, type FieldTable } from '../../src/dev/runner/translate.ts';
import { stackEnv } from '../../src/dev/stack.ts';
import { kubeRequest, statusMessage } from '../../src/kube/raw.ts';
import { createLogger } from '../../src/log.ts';
import { s3Client } from '../../src/s3/client.ts';
import { sparkApplicationFor, type FeaturizeProps } from '../../src/spark/application.ts';
import { CliProcess } from '../support/cli-process.ts';
import { uploadGeneratedImages } from '../support/images.ts';
import { eventually, freshNamespace, kubeConfig, stack } from '../support/kube.ts';
import { deleteJob, getJob } from '../support/spark-job.ts';

/** Generated images, uploaded once per stack: 3 classes x 4 JPEGs, enough for PCA and fast at 100 px. */
const IMAGES = 'test/dev-runner/images';

/** spark-submit in local mode costs 15-30 s on a 2-core machine: a run is given minutes, not seconds. */
const RUN_MS = 180_000;
/** A test outlasts its waits, so that a wait that times out reports what it saw. */
const TEST_MS = RUN_MS + 60_000;

describe('orchard dev runner: SparkApplications run with spark-submit in local mode', () => {
  let python: PythonSetup;
  let kc: KubeConfig;
  let s3: S3Client;
  const runners: CliProcess[] = [];
  const watches: AbortController[] = [];

  beforeAll(async () => {
    python = requirePythonSetup();
    kc = kubeConfig();
    s3 = s3Client(stack().s3);
    await uploadGeneratedImages(python, s3, stack().s3.bucket, IMAGES);
  }, 900_000);

  afterEach(async () => {
    // SIGTERM, so that a runner stops the spark-submits it started before it goes.
    await Promise.all(runners.splice(0).map((runner) => runner.stop('SIGTERM')));
    for (const watch of watches.splice(0)) watch.abort();
  });

  afterAll(() => s3?.destroy());

  async function startRunner(namespace: string): Promise<CliProcess> {
    const runner = new CliProcess(['dev', 'runner', '--state', stack().stateDir, '-n', namespace]);
    runners.push(runner);
    await runner.waitFor('dev runner ready', 120_000);
    return runner;
  }

  /** A SparkApplication of the dev stage (cdk8s/stages.ts with this stack's S3), small and fast, failing once. */
  function devApplication(namespace: string, name: string, props: Partial<FeaturizeProps> = {}): { metadata: { name: string }; spec: Record<string, any> } {
    const stage = loadStage('dev', stackEnv(stack()));
    return sparkApplicationFor({
      name,
      namespace,
      input: `s3a://${stage.bucket}/${IMAGES}`,
      output: `s3a://${stage.bucket}/features/${namespace}/${name}`,
      image: `${stage.registry}/${stage.images.job}`,
      serviceAccount: 'orchard-spark',
      executor: stage.featurize.executor,
      node: stage.featurize.node,
      s3: { region: stage.region, endpoint: stage.s3!.endpoint, staticCredentials: { accessKeyId: stage.s3!.accessKeyId, secretAccessKey: stage.s3!.secretAccessKey } },
      imageSize: 100,
      pcaComponents: 2,
      batchSize: 16,
      retries: 0,
      ...props,
    }) as unknown as { metadata: { name: string }; spec: Record<string, any> };
  }

  async function create(namespace: string, manifest: object): Promise<void> {
    const response = await kubeRequest(kc, 'POST', sparkApplicationsPath(namespace), manifest);
    if (response.status !== 201) throw new Error(`create SparkApplication: ${response.status} ${statusMessage(response)}`);
  }

  /**
   * Every state each application of the namespace passes through, as a watch delivers them. The
   * watch may trail a read of the status, so the list is taken once it has caught up with it.
   */
  function recordStates(namespace: string): (name: string) => Promise<string[]> {
    const seen = new Map<string, string[]>();
    const stop = new AbortController();
    watches.push(stop);
    const informer = new Informer<RunnerApplication>({ kc, path: sparkApplicationsPath(namespace), log: createLogger({}, () => {}) }, (event) => {
      if (event.type === 'delete' || event.type === 'resync') return;
      const state = event.object.status?.applicationState?.state;
      const states = seen.get(event.object.metadata.name) ?? [];
      if (state && states.at(-1) !== state) seen.set(event.object.metadata.name, [...states, state]);
    });
    void informer.run(stop.signal);
    return async (name) => {
      const current = (await statusOf(namespace, name))?.applicationState?.state;
      return eventually(async () => (seen.get(name)?.at(-1) === current ? seen.get(name) : undefined), 10_000, () => `the watch delivering ${namespace}/${name} ${current} (seen: ${seen.get(name)?.join(', ')})`);
    };
  }

  async function statusOf(namespace: string, name: string): Promise<SparkApplicationStatus | undefined> {
    return ((await getJob(kc, namespace, name)) as RunnerApplication | undefined)?.status;
  }

  function inState(namespace: string, name: string, state: string, runner: CliProcess, timeoutMs = RUN_MS): Promise<SparkApplicationStatus> {
    let last: SparkApplicationStatus | undefined;
    return eventually(
      async () => {
        last = await statusOf(namespace, name);
        return last?.applicationState?.state === state ? last : undefined;
      },
      timeoutMs,
      () => `${namespace}/${name} ${state} (last status: ${JSON.stringify(last)})\n${runner.tail()}`,
    );
  }

  const started = (runner: CliProcess, app: string) => runner.waitFor('spark-submit started', RUN_MS, (record) => record.app === app);

  it('runs a job that fails through SUBMITTED, RUNNING and FAILING to FAILED, with the job\'s own error and its driver log', async () => {
    const ns = await freshNamespace(kc, 'runner-fails');
    const states = recordStates(ns);
    const runner = await startRunner(ns);
    await create(ns, devApplication(ns, 'nothing-there', { input: `s3a://${stack().s3.bucket}/${ns}/missing/` }));

    const status = await inState(ns, 'nothing-there', 'FAILED', runner);
    const driverLog = join(stack().stateDir, 'runs', ns, 'nothing-there', 'attempt-1', 'driver.log');
    expect(await states('nothing-there')).toEqual(['SUBMITTED', 'RUNNING', 'FAILING', 'FAILED']);
    expect(status.applicationState!.errorMessage).toBe(
      `driver exited with code 2: input s3a://${stack().s3.bucket}/${ns}/missing does not exist: check the prefix (expected <root>/<Class>/<image>.jpg) (driver log: ${driverLog})`,
    );
    expect(status).toMatchObject({ submissionAttempts: 1, executionAttempts: 1, driverInfo: { podName: 'nothing-there-driver' } });
    expect(status.sparkApplicationId).toMatch(/^local-\d+$/);
    expect(status.submissionID).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(status.terminationTime!)).toBeGreaterThanOrEqual(Date.parse(status.lastSubmissionAttemptTime!));
    expect(readFileSync(driverLog, 'utf8')).toContain('"event": "failed"');
    expect((await started(runner, `${ns}/nothing-there`)).driverLog).toBe(driverLog);
  }, TEST_MS);

  it('refuses a spec it cannot honour, naming the field, without running anything', async () => {
    const ns = await freshNamespace(kc, 'runner-refuses');
    const states = recordStates(ns);
    const runner = await startRunner(ns);
    const manifest = devApplication(ns, 'with-packages');
    manifest.spec.deps = { packages: ['org.apache.hadoop:hadoop-aws:3.3.4'] };
    await create(ns, manifest);

    const status = await inState(ns, 'with-packages', 'FAILED', runner, 30_000);
    expect(await states('with-packages')).toEqual(['SUBMISSION_FAILED', 'FAILED']);
    expect(status.applicationState!.errorMessage).toBe(refusalMessage([{ field: 'spec.deps.packages', why: ((SPEC_FIELDS.deps as FieldTable).packages as FieldRule).why }]));
    expect(status.applicationState!.errorMessage).toContain('- spec.deps.packages resolves Maven packages at submit time');
    expect(status).toMatchObject({ submissionAttempts: 1, driverInfo: { podName: 'with-packages-driver' } });
    expect(status.executionAttempts).toBeUndefined();
    expect(runner.has('spark-submit started')).toBe(false);
  });

  it('runs the job to COMPLETED and leaves Parquet and the magic committer\'s _SUCCESS in S3', async () => {
    const ns = await freshNamespace(kc, 'runner-completes');
    const states = recordStates(ns);
    const runner = await startRunner(ns);
    await create(ns, devApplication(ns, 'featurize'));

    const status = await inState(ns, 'featurize', 'COMPLETED', runner);
    expect(await states('featurize')).toEqual(['SUBMITTED', 'RUNNING', 'SUCCEEDING', 'COMPLETED']);
    expect(status.applicationState!.errorMessage).toBeUndefined();
    const prefix = `features/${ns}/featurize/`;
    const listing = await s3.send(new ListObjectsV2Command({ Bucket: stack().s3.bucket, Prefix: prefix }));
    const keys = (listing.Contents ?? []).map((object) => object.Key!.slice(prefix.length));
    expect(keys.filter((key) => key.endsWith('.parquet')).length).toBeGreaterThan(0);
    const success = await s3.send(new GetObjectCommand({ Bucket: stack().s3.bucket, Key: `${prefix}_SUCCESS` }));
    expect(JSON.parse(await success.Body!.transformToString())).toMatchObject({ committer: 'magic' });
    const metrics = await s3.send(new GetObjectCommand({ Bucket: stack().s3.bucket, Key: `${prefix}_orchard/metrics.json` }));
    expect(JSON.parse(await metrics.Body!.transformToString())).toMatchObject({ rows_written: 12, pca: { k: 2 } });
  }, TEST_MS);

  it('retries a failed run as restartPolicy OnFailure says, through PENDING_RERUN, keeping each attempt\'s driver log', async () => {
    const ns = await freshNamespace(kc, 'runner-retries');
    const states = recordStates(ns);
    const runner = await startRunner(ns);
    const manifest = devApplication(ns, 'again', { input: `s3a://${stack().s3.bucket}/${ns}/missing/`, retries: 1 });
    // The construct waits 60 s between attempts; a second is enough to show the rerun.
    manifest.spec.restartPolicy.onFailureRetryInterval = 1;
    await create(ns, manifest);

    const status = await inState(ns, 'again', 'FAILED', runner, 2 * RUN_MS);
    expect(await states('again')).toEqual(['SUBMITTED', 'RUNNING', 'FAILING', 'PENDING_RERUN', 'SUBMITTED', 'RUNNING', 'FAILING', 'FAILED']);
    expect(status).toMatchObject({ submissionAttempts: 2, executionAttempts: 2 });
    for (const attempt of [1, 2]) expect(existsSync(join(stack().stateDir, 'runs', ns, 'again', `attempt-${attempt}`, 'driver.log'))).toBe(true);
    expect(status.applicationState!.errorMessage).toContain('attempt-2/driver.log');
  }, 2 * RUN_MS + 60_000);

  it('queues a second application, stops a deleted one\'s spark-submit, and on SIGTERM stops and fails what runs', async () => {
    const ns = await freshNamespace(kc, 'runner-lifecycle');
    const runner = await startRunner(ns);
    await create(ns, devApplication(ns, 'first'));
    const first = (await started(runner, `${ns}/first`)).pid as number;
    await inState(ns, 'first', 'RUNNING', runner);
    await create(ns, devApplication(ns, 'second'));
    await runner.waitFor('queued until a run ends', 30_000, (record) => record.app === `${ns}/second`);
    expect(await statusOf(ns, 'second')).toBeUndefined();

    await deleteJob(kc, ns, 'first');
    await eventually(async () => (isGone(first) ? true : undefined), 30_000, `spark-submit ${first} of the deleted application stopped`);
    const second = (await started(runner, `${ns}/second`)).pid as number;
    await inState(ns, 'second', 'RUNNING', runner);

    expect(await runner.stop('SIGTERM')).toBe(0);
    expect(isGone(second)).toBe(true);
    const status = await statusOf(ns, 'second');
    expect(status!.applicationState!.state).toBe('FAILED');
    expect(status!.applicationState!.errorMessage).toMatch(/^the dev runner stopped while the driver ran, and stopped the driver with it/);
  }, TEST_MS);

  it('after a restart, fails an application whose spark-submit it no longer follows, and stops what is left of it', async () => {
    const ns = await freshNamespace(kc, 'runner-restart');
    const first = await startRunner(ns);
    await create(ns, devApplication(ns, 'interrupted'));
    const pid = (await started(first, `${ns}/interrupted`)).pid as number;
    await inState(ns, 'interrupted', 'RUNNING', first);
    // A crash: no chance to stop its spark-submit, which lives on in its own process group.
    await first.stop('SIGKILL');

    const second = await startRunner(ns);
    const status = await inState(ns, 'interrupted', 'FAILED', second, 60_000);
    expect(status.applicationState!.errorMessage).toMatch(/^the dev runner restarted while this run was in progress \(submission [0-9a-f-]{36}\), so its outcome is unknown/);
    await eventually(async () => (isGone(pid) ? true : undefined), 30_000, `spark-submit ${pid} left by the first runner stopped`);
  }, TEST_MS);

  it('refuses to start beside another runner of the same stack', async () => {
    const ns = await freshNamespace(kc, 'runner-lock');
    const first = await startRunner(ns);
    const second = new CliProcess(['dev', 'runner', '--state', stack().stateDir, '-n', ns]);
    runners.push(second);
    expect(await second.exit()).toBe(1);
    expect(second.tail()).toContain(`another dev runner (pid ${first.child.pid}) already runs the SparkApplications of the stack in ${stack().stateDir}`);
  }, 60_000);
});
