import type { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { type StageConfig } from '../../../cdk8s/stages.ts';
import { JOB_LABEL } from '../../../src/api/parquet-output.ts';
import { SPARK_CONTAINER, sparkApplicationsPath } from '../../../src/api/spark-application.ts';
import { helmPath } from '../../../src/dev/helm.ts';
import { imageArchives } from '../../../src/dev/images.ts';
import { nodeBinaries } from '../../../src/dev/node/binaries.ts';
import { ensureNodeImages } from '../../../src/dev/node/images.ts';
import { EVERY_NAMESPACE, installSparkOperator, SPARK_OPERATOR_NAMESPACE } from '../../../src/dev/node/operator.ts';
import { waitForJob } from '../../../src/jobs/wait.ts';
import { applyAll } from '../../../src/kube/apply.ts';
import { kubeRequest } from '../../../src/kube/raw.ts';
import { createLogger } from '../../../src/log.ts';
import { EMR_SPARK_UID } from '../../../src/spark/application.ts';
import { eventually } from '../../support/kube.ts';
import { devStage, getOk, stageManifests, withSharedNode } from '../../support/node-stage.ts';
import { listOutputs } from '../../support/outputs.ts';

const log = createLogger({ component: 'node-test' });

/** Images per test job: enough for every task and both executors to get work, few enough for a busy 2-core machine. */
const SMALL_RUN = 120;

/** A job here starts a driver and two executor JVMs on two shared cores: minutes, not seconds. */
const JOB_TIMEOUT_MS = 900_000;

interface PodObject {
  metadata: { name: string };
  spec: { securityContext?: Record<string, unknown>; containers: { name: string; image: string; securityContext?: Record<string, unknown> }[] };
  status: { containerStatuses?: { name: string; state: { terminated?: { exitCode: number; message?: string } } }[] };
}

/** The restricted profile as orchard's pod templates give it, read back from a pod the operator made. */
function expectRestricted(pod: PodObject, container: string): void {
  expect(pod.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: EMR_SPARK_UID, seccompProfile: { type: 'RuntimeDefault' } });
  expect(pod.spec.containers.find((c) => c.name === container)?.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
}

/**
 * (Re)installs the operator from its chart with the webhook on or off; the binaries and images were
 * built by setup. A webhook's pods can be ready before the API server reaches them through its
 * Service: wait until a dry-run create goes through it.
 */
async function reinstallOperator(kc: KubeConfig, kubeconfig: string, stage: StageConfig, webhook: boolean): Promise<void> {
  const binaries = nodeBinaries();
  const images = await ensureNodeImages(binaries, log);
  await installSparkOperator({ helm: helmPath(), kubeconfig, source: binaries.sparkOperatorSource, image: images.sparkOperator, jobNamespaces: EVERY_NAMESPACE, webhook, log });
  if (!webhook) return;
  const probe = stageManifests(stage).find((m) => m.kind === 'SparkApplication')!;
  // Any answer but the API server's 500 ("failed calling webhook") means the webhook was reached.
  await eventually(async () => ((await kubeRequest(kc, 'POST', `${sparkApplicationsPath(stage.namespace)}?dryRun=All`, probe)).status < 500 ? true : undefined), 120_000, 'the operator webhook answering');
}

function pods(kc: KubeConfig, namespace: string, selector: string): Promise<{ items: PodObject[] }> {
  return getOk(kc, `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(selector)}`);
}

/**
 * SparkApplications as the dev stage declares them, run by the real spark-operator on the shared
 * node: driver and executor pods in a restricted namespace, recorded by the controller's pod, with
 * the operator's webhook on and off, a bad input, and a schedule.
 */
describe('jobs on the local Kubernetes node', () => {
  const node = withSharedNode(log);

  it('runs the dev stage on the real spark-operator: a driver and two executor pods in a restricted namespace, recorded by the controller pod', async () => {
    const stage = devStage(node.state, { name: 'node-small', limit: SMALL_RUN });
    await applyAll(node.kc, stageManifests(stage));
    const namespace = stage.namespace;
    const executors = new Set<string>();
    // Executor pods go when the job ends: note them while it runs.
    const watcher = setInterval(() => {
      pods(node.kc, namespace, 'spark-role=executor').then((found) => found.items.forEach((pod) => executors.add(pod.metadata.name)), () => undefined);
    }, 2_000);
    const outcome = await waitForJob(node.kc, namespace, 'node-small', { timeoutMs: JOB_TIMEOUT_MS }).finally(() => clearInterval(watcher));
    expect(outcome.job.status?.applicationState?.state).toBe('COMPLETED');
    expect(outcome.outputs.map((o) => [o.status?.phase, o.status?.rows])).toEqual([['Recorded', SMALL_RUN]]);
    // The record was written by the controller's pod, not by this process.
    const recorded = (await getOk<{ items: { reportingInstance?: string }[] }>(node.kc, `/api/v1/namespaces/${namespace}/events?fieldSelector=reason%3DOutputRecorded`)).items;
    expect(recorded.map((event) => event.reportingInstance)).toEqual([expect.stringMatching(/^orchard-controller-/)]);
    const namespaceLabels = (await getOk<{ metadata: { labels: Record<string, string> } }>(node.kc, `/api/v1/namespaces/${namespace}`)).metadata.labels;
    expect(namespaceLabels['pod-security.kubernetes.io/enforce']).toBe('restricted');
    const driver = await getOk<PodObject>(node.kc, `/api/v1/namespaces/${namespace}/pods/${outcome.job.status?.driverInfo?.podName}`);
    log.info('driver pod as the API server holds it', { pod: driver.metadata.name, podSecurityContext: driver.spec.securityContext, securityContext: driver.spec.containers[0]!.securityContext });
    expectRestricted(driver, SPARK_CONTAINER.driver);
    expect(executors.size).toBeGreaterThanOrEqual(2);
    // Both run this build of their image, under the name that follows its digest.
    const built = imageArchives();
    expect(driver.spec.containers[0]!.image).toBe(built.job.ref);
    const controllers = await pods(node.kc, namespace, 'app.kubernetes.io/name=orchard-controller');
    expect(controllers.items.map((pod) => pod.spec.containers[0]!.image)).toEqual(controllers.items.map(() => built.controller.ref));
  }, JOB_TIMEOUT_MS + 60_000);

  it('runs the same SparkApplication with the operator\'s webhook off, as EMR on EKS installs it: the pod templates carry the restricted profile', async () => {
    const stage = devStage(node.state, { name: 'node-no-webhook', limit: 40 });
    await reinstallOperator(node.kc, node.state.kubeconfig, stage, false);
    try {
      const webhooks = await getOk<{ items: unknown[] }>(node.kc, `/apis/apps/v1/namespaces/${SPARK_OPERATOR_NAMESPACE}/deployments?labelSelector=${encodeURIComponent('app.kubernetes.io/component=webhook')}`);
      expect(webhooks.items).toEqual([]);
      await applyAll(node.kc, stageManifests(stage));
      const executors: PodObject[] = [];
      const watcher = setInterval(() => {
        pods(node.kc, stage.namespace, 'spark-role=executor,sparkoperator.k8s.io/app-name=node-no-webhook').then((found) => found.items.forEach((pod) => executors.push(pod)), () => undefined);
      }, 2_000);
      const outcome = await waitForJob(node.kc, stage.namespace, 'node-no-webhook', { timeoutMs: JOB_TIMEOUT_MS }).finally(() => clearInterval(watcher));
      expect(outcome.job.status?.applicationState?.state).toBe('COMPLETED');
      expect(outcome.outputs.map((o) => [o.status?.phase, o.status?.rows])).toEqual([['Recorded', 40]]);
      expectRestricted(await getOk<PodObject>(node.kc, `/api/v1/namespaces/${stage.namespace}/pods/${outcome.job.status?.driverInfo?.podName}`), SPARK_CONTAINER.driver);
      expect(executors.length).toBeGreaterThan(0);
      expectRestricted(executors[0]!, SPARK_CONTAINER.executor);
    } finally {
      await reinstallOperator(node.kc, node.state.kubeconfig, stage, true);
    }
  }, JOB_TIMEOUT_MS + 180_000);

  it('ends a SparkApplication whose input holds no images FAILED, and records the output Failed', async () => {
    const stage = devStage(node.state, { name: 'node-empty', limit: SMALL_RUN, inputPrefix: 'no-such-prefix' });
    await applyAll(node.kc, stageManifests(stage));
    const outcome = await waitForJob(node.kc, stage.namespace, 'node-empty', { timeoutMs: JOB_TIMEOUT_MS });
    expect(outcome.job.status?.applicationState?.state).toBe('FAILED');
    expect(outcome.job.status?.applicationState?.errorMessage).toMatch(/driver container failed with ExitCode: [1-9]/);
    expect(outcome.outputs.map((o) => o.status?.phase)).toEqual(['Failed']);
    // The operator keeps only the exit code; the job's own error is the driver's termination message.
    const driver = await getOk<PodObject>(node.kc, `/api/v1/namespaces/${stage.namespace}/pods/${outcome.job.status?.driverInfo?.podName}`);
    const terminated = driver.status.containerStatuses?.find((c) => c.name === SPARK_CONTAINER.driver)?.state.terminated;
    log.info('failed driver', { terminated });
    expect(terminated?.message).toMatch(/"event": "failed".*no-such-prefix/);
    // The controller reads it into the record, where `kubectl describe pqo` shows it.
    const failed = outcome.outputs[0]!.status?.conditions?.find((c) => c.type === 'Complete');
    expect(failed?.message).toMatch(/ExitCode: [1-9].*; the job said: .*no-such-prefix/);
  }, JOB_TIMEOUT_MS + 60_000);

  it('runs a ScheduledSparkApplication on a schedule: both runs are recorded, and the second reuses every row of the first', async () => {
    const images = 60;
    // robfig/cron's interval descriptor, as the operator parses it: a run 10 s after the last one
    // ends, where a minute's cron would wait for the minute's turn twice (up to 2 minutes idle).
    const stage = devStage(node.state, { name: 'every-10s', limit: images, schedule: { cron: '@every 10s' } });
    await applyAll(node.kc, stageManifests(stage));
    const recorded = () => listOutputs(node.kc, stage.namespace).then((all) => all.filter((o) => o.metadata.labels?.[JOB_LABEL] === 'every-10s' && o.status?.phase === 'Recorded'));
    // Concurrency Forbid: the first tick after the first run ends starts the second.
    const runs = await eventually(async () => ((await recorded()).length >= 2 ? recorded() : undefined), 2 * JOB_TIMEOUT_MS, 'two recorded runs');
    // Where each run's time went, as the operator saw it: for a reader of the log, not asserted.
    const applications = await getOk<{ items: { metadata: { name: string; creationTimestamp?: string }; status?: { lastSubmissionAttemptTime?: string; terminationTime?: string; executorState?: Record<string, string> } }[] }>(
      node.kc,
      sparkApplicationsPath(stage.namespace),
    );
    log.info('scheduled runs as the operator saw them', {
      runs: applications.items.map((app) => ({ name: app.metadata.name, created: app.metadata.creationTimestamp, submitted: app.status?.lastSubmissionAttemptTime, ended: app.status?.terminationTime, executors: app.status?.executorState })),
      recorded: runs.map((o) => ({ name: o.metadata.name, created: o.metadata.creationTimestamp, conditions: o.status?.conditions?.map((c) => [c.type, c.reason, c.lastTransitionTime]) })),
    });
    const response = await kubeRequest(node.kc, 'DELETE', `/apis/sparkoperator.k8s.io/v1beta2/namespaces/${stage.namespace}/scheduledsparkapplications/every-10s`);
    expect(response.status, response.body).toBe(200);
    const [first, second] = runs.sort((a, b) => a.metadata.creationTimestamp!.localeCompare(b.metadata.creationTimestamp!));
    log.info('scheduled runs', { runs: runs.map((o) => ({ uri: o.spec.uri, lineage: o.status?.lineage })) });
    // Each run writes its own folder, named after its SparkApplication.
    expect(first!.spec.uri).not.toBe(second!.spec.uri);
    expect(first!.spec.uri).toMatch(/\/features\/every-10s\/every-10s-\d+\/$/);
    expect(first!.status?.lineage).toMatchObject({ mode: 'full', images: { featurized: images, reused: 0, removed: 0 } });
    expect(second!.status?.lineage).toMatchObject({ mode: 'incremental', images: { reused: images, featurized: 0, removed: 0 } });
    expect(second!.status?.lineage?.parent?.replace(/\/$/, '')).toBe(first!.spec.uri.replace(/\/$/, ''));
    expect(second!.status?.rows).toBe(images);
  }, 3 * JOB_TIMEOUT_MS);
});
