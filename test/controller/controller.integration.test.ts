import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { kubeRequest } from '../../src/kube/raw.ts';
import { s3Client } from '../../src/s3/client.ts';
import { outputName } from '../../src/controller/reconcile.ts';
import { ControllerProcess, kubeconfigThrough } from '../support/controller.ts';
import { writeDataset } from '../support/dataset.ts';
import { probeMetrics } from '../support/probe.ts';
import { eventually, freshNamespace, kubeConfig, stack } from '../support/kube.ts';
import { eventsFor, outputsOf, type RecordedOutput } from '../support/outputs.ts';
import { createJob, deleteJob, getJob, setJobState } from '../support/spark-job.ts';

describe('controller against the real API server and S3 server', () => {
  let kc: KubeConfig;
  let s3: S3Client;
  let bucket: string;
  let dir: string;
  let kubeconfig: string;
  const running: ControllerProcess[] = [];

  beforeAll(() => {
    kc = kubeConfig();
    s3 = s3Client(stack().s3);
    bucket = stack().s3.bucket;
    dir = mkdtempSync(join(tmpdir(), 'orchard-controller-'));
    kubeconfig = kubeconfigThrough(kc, Number(new URL(stack().apiServer).port), dir);
  });

  afterEach(async () => {
    await Promise.all(running.splice(0).map((c) => c.stop('SIGKILL')));
  });

  afterAll(() => {
    s3?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function controllerFor(namespace: string, id = 'test-0'): Promise<ControllerProcess> {
    const controller = await ControllerProcess.start({ kubeconfig, s3Endpoint: stack().s3.endpoint, stack: stack(), namespace, id });
    running.push(controller);
    return controller;
  }

  const prefix = () => `features/${randomBytes(4).toString('hex')}`;

  it('runs as the bundle the image holds, with plain node and no tsx, and records a completed job', async () => {
    const ns = await freshNamespace(kc, 'ctl-bundle');
    const dataset = await writeDataset(s3, bucket, prefix(), { files: 2, rowsPerFile: 10 });
    await createJob(kc, ns, 'bundled', dataset.uri);
    const controller = await ControllerProcess.start({ kubeconfig, s3Endpoint: stack().s3.endpoint, stack: stack(), namespace: ns, id: 'bundle-0', bundle: true });
    running.push(controller);
    await setJobState(kc, ns, 'bundled', 'COMPLETED');
    const recorded = await eventually(async () => {
      const outputs = await outputsOf(kc, ns, 'bundled');
      return outputs?.[0]?.status?.phase === 'Recorded' ? outputs[0] : undefined;
    }, 30_000, () => `a Recorded ParquetOutput from the bundle\n${controller.tail()}`);
    expect(recorded.status).toMatchObject({ files: 2, rows: 20, committer: 'magic' });
  });
  const phaseOf = async (ns: string, job: string, phase: string) => {
    const outputs = await outputsOf(kc, ns, job);
    return outputs?.[0]?.status?.phase === phase ? outputs[0] : undefined;
  };

  it('follows a job through SUBMITTED, RUNNING and COMPLETED and records what S3 holds, field by field', async () => {
    const ns = await freshNamespace(kc, 'ctl-record');
    const dataset = await writeDataset(s3, bucket, prefix(), { files: 3, rowsPerFile: 40 });
    const app = await createJob(kc, ns, 'featurize', dataset.uri);
    const controller = await controllerFor(ns);

    await setJobState(kc, ns, 'featurize', 'SUBMITTED');
    // The controller may record the job before it is submitted: wait for the SUBMITTED state in the record.
    const pending = await eventually(async () => {
      const o = await phaseOf(ns, 'featurize', 'Pending');
      return o?.status?.conditions?.find((c) => c.type === 'Recorded')?.message.includes('SUBMITTED') ? o : undefined;
    }, 20_000, () => `a Pending ParquetOutput for the SUBMITTED job\n${controller.tail()}`);
    expect(pending.status!.conditions!.find((c) => c.type === 'Recorded')).toMatchObject({ status: 'False', reason: 'JobNotFinished' });
    expect(pending.status!.conditions!.find((c) => c.type === 'Recorded')!.message).toMatch(/is SUBMITTED/);

    await setJobState(kc, ns, 'featurize', 'RUNNING');
    await eventually(async () => ((await phaseOf(ns, 'featurize', 'Pending'))?.status?.conditions?.[0]?.message.includes('RUNNING') ? true : undefined), 20_000, 'the RUNNING state in the record');
    await setJobState(kc, ns, 'featurize', 'COMPLETED');
    const recorded: RecordedOutput = await eventually(() => phaseOf(ns, 'featurize', 'Recorded'), 20_000, () => `a Recorded ParquetOutput\n${controller.tail()}`);

    // What S3 holds, listed independently of the controller.
    const listing = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: dataset.uri.slice(`s3a://${bucket}/`.length) }));
    const parquet = (listing.Contents ?? []).filter((o) => o.Key!.endsWith('.parquet') && !o.Key!.includes('/_'));
    expect(recorded.metadata.name).toBe(outputName({ name: 'featurize', uid: app.metadata.uid }, dataset.uri));
    expect(recorded.spec).toEqual({ source: { kind: 'SparkApplication', name: 'featurize', uid: app.metadata.uid, submissionAttempt: 1 }, uri: dataset.uri });
    expect(recorded.status!.files).toBe(parquet.length);
    expect(recorded.status!.files).toBe(3);
    expect(recorded.status!.bytes).toBe(parquet.reduce((s, o) => s + o.Size!, 0));
    expect(recorded.status!.bytes).toBe(dataset.bytes);
    expect(recorded.status!.rows).toBe(120);
    expect(recorded.status!.committer).toBe('magic');
    expect(recorded.status!.schema).toEqual([
      { name: 'path', type: 'string' },
      { name: 'label', type: 'string' },
      { name: 'score', type: 'double' },
    ]);
    expect(recorded.status!.jobMetrics).toEqual({ imagesFound: 121, imagesDecoded: 120, imagesFailed: 1, labels: dataset.labels, durationSeconds: 12.5, imagesPerSecond: 8 });
    expect(recorded.status!.observedGeneration).toBe(recorded.metadata.generation);
    expect(recorded.status!.conditions!.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Recorded', 'True', 'Recorded'],
      ['Complete', 'True', 'Complete'],
    ]);
    expect(recorded.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'SparkApplication', name: 'featurize', uid: app.metadata.uid, controller: true })]);
    const events = await eventually(async () => {
      const list = await eventsFor(kc, ns, 'featurize');
      return list.some((e) => e.reason === 'OutputRecorded') ? list : undefined;
    }, 10_000, 'an OutputRecorded event');
    expect(events.find((e) => e.reason === 'OutputRecorded')!.message).toMatch(/3 files, 120 rows/);
    expect(await controller.metric('orchard_recorded_rows_total')).toBe(120);
    expect(await controller.metric('orchard_parquet_outputs', { phase: 'Recorded' })).toBe(1);
  });

  it('records a FAILED job as Failed with the operator\'s error, and says why on the job', async () => {
    const ns = await freshNamespace(kc, 'ctl-failed');
    const dataset = await writeDataset(s3, bucket, prefix(), { files: 1, rowsPerFile: 5 });
    await createJob(kc, ns, 'doomed', dataset.uri);
    await controllerFor(ns);
    await setJobState(kc, ns, 'doomed', 'FAILED', { errorMessage: 'driver container failed with ExitCode: 1, Reason: Error' });
    const failed = await eventually(() => phaseOf(ns, 'doomed', 'Failed'), 20_000, 'a Failed ParquetOutput');
    expect(failed.status!.rows).toBeUndefined();
    const complete = failed.status!.conditions!.find((c) => c.type === 'Complete')!;
    expect(complete).toMatchObject({ status: 'False', reason: 'JobFailed' });
    expect(complete.message).toContain('driver container failed with ExitCode: 1');
    await eventually(async () => ((await eventsFor(kc, ns, 'doomed')).some((e) => e.reason === 'JobFailed' && e.type === 'Warning') ? true : undefined), 10_000, 'a JobFailed event');
  });

  it('never records an incomplete output as complete, and names what is wrong with each', async () => {
    const ns = await freshNamespace(kc, 'ctl-incomplete');
    const base = prefix();
    const classic = await writeDataset(s3, bucket, `${base}/classic`, { files: 2, rowsPerFile: 10, success: 'empty' });
    const uncommitted = await writeDataset(s3, bucket, `${base}/uncommitted`, { files: 2, rowsPerFile: 10, success: 'none' });
    const short = await writeDataset(s3, bucket, `${base}/short`, { files: 2, rowsPerFile: 10, metrics: { rowsWritten: 25 } });
    const corrupt = await writeDataset(s3, bucket, `${base}/corrupt`, { files: 2, rowsPerFile: 10 });
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: corrupt.keys[1], Body: 'PAR1 this is not parquet' }));
    const uris = [classic.uri, uncommitted.uri, short.uri, corrupt.uri];
    await createJob(kc, ns, 'partial', classic.uri, JSON.stringify(uris));
    await controllerFor(ns);
    await setJobState(kc, ns, 'partial', 'COMPLETED');
    const outputs = await eventually(async () => {
      const all = await outputsOf(kc, ns, 'partial', 4);
      return all?.every((o) => o.status?.phase === 'Incomplete') ? all : undefined;
    }, 20_000, 'four Incomplete ParquetOutputs');
    const reasonOf = (uri: string) => outputs.find((o) => o.spec.uri === uri)!.status!.conditions!.find((c) => c.type === 'Complete')!;
    expect(reasonOf(classic.uri).reason).toBe('ClassicCommitter');
    expect(outputs.find((o) => o.spec.uri === classic.uri)!.status!.committer).toBe('classic');
    expect(reasonOf(uncommitted.uri).reason).toBe('ManifestMissing');
    expect(reasonOf(short.uri).reason).toBe('RowCountMismatch');
    expect(reasonOf(short.uri).message).toContain('hold 20 rows, the job metrics say 25 rows written');
    expect(reasonOf(corrupt.uri).reason).toBe('FooterUnreadable');
    expect(reasonOf(corrupt.uri).message).toContain(corrupt.keys[1]);
    for (const o of outputs) expect(o.status!.conditions!.find((c) => c.type === 'Recorded')!.status).toBe('True');
  });

  it('records the features\' quality, and marks a dataset below its gate Incomplete with an Event and the quality gauge', async () => {
    const ns = await freshNamespace(kc, 'ctl-quality');
    const base = prefix();
    const good = await writeDataset(s3, bucket, `${base}/good`, { files: 2, rowsPerFile: 10, probe: probeMetrics(0.96, 0.9) });
    const poor = await writeDataset(s3, bucket, `${base}/poor`, { files: 2, rowsPerFile: 10, probe: probeMetrics(0.42, 0.9) });
    await createJob(kc, ns, 'gated', good.uri, JSON.stringify([good.uri, poor.uri]));
    const controller = await controllerFor(ns);
    await setJobState(kc, ns, 'gated', 'COMPLETED');
    const outputs = await eventually(async () => {
      const all = await outputsOf(kc, ns, 'gated', 2);
      return all?.every((o) => o.status?.phase === 'Recorded' || o.status?.phase === 'Incomplete') ? all : undefined;
    }, 20_000, 'two recorded ParquetOutputs');
    const byUri = (uri: string) => outputs.find((o) => o.spec.uri === uri)!.status!;
    expect(byUri(good.uri)).toMatchObject({ phase: 'Recorded', featureQuality: { method: 'ridge', top1: 0.96, minTop1: 0.9, worstClasses: [{ label: 'Apple Braeburn', confusedWith: 'Cherry 1' }, {}, {}, {}] } });
    expect(byUri(poor.uri)).toMatchObject({ phase: 'Incomplete', featureQuality: { top1: 0.42 } });
    expect(byUri(poor.uri).conditions!.find((c) => c.type === 'Complete')).toMatchObject({ status: 'False', reason: 'QualityBelowThreshold' });
    const event = await eventually(async () => (await eventsFor(kc, ns, 'gated')).find((e) => e.reason === 'OutputQualityBelowThreshold'), 20_000, 'an OutputQualityBelowThreshold event');
    expect(event.type).toBe('Warning');
    expect(event.message).toMatch(/top-1 42\.0% .*below the quality gate \(linear-probe top-1 >= 90\.0%\)/);
    expect(await controller.metric('orchard_parquet_outputs_failing_quality', { reason: 'QualityBelowThreshold' })).toBe(1);
  });

  it('refuses an outputs annotation that does not parse, with an event on the job and no record', async () => {
    const ns = await freshNamespace(kc, 'ctl-annotation');
    await createJob(kc, ns, 'garbled', 's3a://orchard-dev/features/x/', '["s3a://orchard-dev/features/x/"');
    const controller = await controllerFor(ns);
    await setJobState(kc, ns, 'garbled', 'COMPLETED');
    const event = await eventually(async () => (await eventsFor(kc, ns, 'garbled')).find((e) => e.reason === 'InvalidOutputsAnnotation'), 20_000, 'an InvalidOutputsAnnotation event');
    expect(event.type).toBe('Warning');
    expect(event.message).toMatch(/is not JSON .*set annotation orchard\.fruits\.dev\/outputs to a JSON list/);
    expect(await outputsOf(kc, ns, 'garbled')).toBeUndefined();
    expect(controller.running).toBe(true);
  });

  it('writes nothing when it reconciles the same state again, even after a restart', async () => {
    const ns = await freshNamespace(kc, 'ctl-idempotent');
    const dataset = await writeDataset(s3, bucket, prefix(), { files: 2, rowsPerFile: 10 });
    await createJob(kc, ns, 'steady', dataset.uri);
    await setJobState(kc, ns, 'steady', 'COMPLETED');
    let controller = await controllerFor(ns);
    const recorded = await eventually(() => phaseOf(ns, 'steady', 'Recorded'), 20_000, 'a Recorded ParquetOutput');
    const before = await controller.metric('orchard_reconcile_total');
    // Touch the job (a label the controller does not care about): an update event, a reconcile.
    const job = (await getJob(kc, ns, 'steady'))!;
    await kubeRequest(kc, 'PATCH', `/apis/sparkoperator.k8s.io/v1beta2/namespaces/${ns}/sparkapplications/steady`, { metadata: { labels: { touched: 'yes' } } }, 'application/merge-patch+json');
    await eventually(async () => ((await controller.metric('orchard_reconcile_total')) > before ? true : undefined), 10_000, 'a second reconcile');
    expect((await outputsOf(kc, ns, 'steady'))![0]!.metadata.resourceVersion).toBe(recorded.metadata.resourceVersion);
    await controller.stop();
    controller = await controllerFor(ns, 'test-1');
    await eventually(async () => ((await controller.metric('orchard_reconcile_total', { result: 'success' })) >= 1 ? true : undefined), 20_000, 'a reconcile after the restart');
    expect((await outputsOf(kc, ns, 'steady'))![0]!.metadata.resourceVersion).toBe(recorded.metadata.resourceVersion);
    expect(job.metadata.uid).toBe(recorded.spec.source.uid);
  });

  it('follows a retried job to its new submission attempt, and gives a re-created job new records', async () => {
    const ns = await freshNamespace(kc, 'ctl-attempts');
    const dataset = await writeDataset(s3, bucket, prefix(), { files: 1, rowsPerFile: 10 });
    const first = await createJob(kc, ns, 'again', dataset.uri);
    await controllerFor(ns);
    await setJobState(kc, ns, 'again', 'FAILED', { errorMessage: 'executor lost' });
    const failed = await eventually(() => phaseOf(ns, 'again', 'Failed'), 20_000, 'Failed after attempt 1');
    expect(failed.spec.source.submissionAttempt).toBe(1);
    await setJobState(kc, ns, 'again', 'RUNNING', { attempt: 2 });
    await setJobState(kc, ns, 'again', 'COMPLETED', { attempt: 2 });
    const retried = await eventually(() => phaseOf(ns, 'again', 'Recorded'), 20_000, 'Recorded after attempt 2');
    expect(retried.spec.source.submissionAttempt).toBe(2);
    expect(retried.metadata.generation).toBe(failed.metadata.generation! + 1);

    await deleteJob(kc, ns, 'again');
    await eventually(async () => ((await getJob(kc, ns, 'again')) ? undefined : true), 10_000, 'the job deleted');
    const second = await createJob(kc, ns, 'again', dataset.uri);
    await setJobState(kc, ns, 'again', 'COMPLETED');
    const renewed = await eventually(async () => (await outputsOf(kc, ns, 'again'))?.find((o) => o.spec.source.uid === second.metadata.uid && o.status?.phase === 'Recorded'), 20_000, 'a record of the new job');
    expect(renewed.metadata.name).not.toBe(retried.metadata.name);
    // The garbage collector removes the old job's record through its owner reference.
    await eventually(async () => ((await outputsOf(kc, ns, 'again'))?.some((o) => o.spec.source.uid === first.metadata.uid) ? undefined : true), 30_000, 'the old record collected');
  });
});
