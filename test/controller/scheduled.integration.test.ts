import { randomBytes } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import type { KubeConfig } from '@kubernetes/client-node';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOB_LABEL, JOB_SERIES_LABEL } from '../../src/api/parquet-output.ts';
import { eventRecorder } from '../../src/controller/events.ts';
import { ControllerMetrics } from '../../src/controller/metrics.ts';
import { observeOutput } from '../../src/controller/observe.ts';
import { Reconciler } from '../../src/controller/reconcile.ts';
import { createLogger } from '../../src/log.ts';
import { s3Client } from '../../src/s3/client.ts';
import { ControllerProcess, kubeconfigThrough } from '../support/controller.ts';
import { writeDataset } from '../support/dataset.ts';
import { eventually, freshNamespace, kubeConfig, stack } from '../support/kube.ts';
import { eventsFor, listOutputs } from '../support/outputs.ts';
import { createSchedule, createScheduledRun, getJob, setJobState } from '../support/spark-job.ts';

const log = createLogger({ component: 'scheduled-test' }, () => {});

/** The lineage block of an incremental run's metrics, as the job writes it (src/api/job-metrics.schema.json). */
const LINEAGE = {
  mode: 'incremental',
  reason: 'newest complete dataset under the output root',
  images: { reused: 3, featurized: 1, removed: 0 },
  pca: { action: 'off', reason: '--pca-components 0', explained_variance_fitted: null, explained_variance_new: null },
};

describe('the controller records every run of a ScheduledSparkApplication', () => {
  let kc: KubeConfig;
  let s3: S3Client;
  let reconciler: Reconciler;
  let metrics: ControllerMetrics;

  beforeAll(() => {
    kc = kubeConfig();
    s3 = s3Client(stack().s3);
    metrics = new ControllerMetrics();
    reconciler = new Reconciler({ kc, s3, observe: observeOutput, events: eventRecorder(kc, 'test', log), metrics, log });
  });

  const schemaChanged = async (namespace: string, job: string) =>
    (await metrics.schemaChanged.get()).values.find((v) => v.labels.spark_namespace === namespace && v.labels[JOB_SERIES_LABEL] === job)?.value;

  afterAll(() => s3?.destroy());

  it('is what the controller process does: it watches the run by its copied job label and records it through the schedule', async () => {
    const ns = await freshNamespace(kc, 'sched-ctl');
    const bucket = stack().s3.bucket;
    const root = `features/${randomBytes(4).toString('hex')}/hourly`;
    const schedule = await createSchedule(kc, ns, 'hourly', `s3a://${bucket}/${root}`);
    const run = await createScheduledRun(kc, schedule, new Date('2026-12-04T03:00:00Z'));
    const dataset = await writeDataset(s3, bucket, `${root}/${run.metadata.name}`, { files: 1, rowsPerFile: 5 });
    const dir = mkdtempSync(join(tmpdir(), 'orchard-scheduled-'));
    const controller = await ControllerProcess.start({
      kubeconfig: kubeconfigThrough(kc, Number(new URL(stack().apiServer).port), dir),
      s3Endpoint: stack().s3.endpoint,
      stack: stack(),
      namespace: ns,
      id: 'scheduled-0',
    });
    try {
      await setJobState(kc, ns, run.metadata.name, 'COMPLETED');
      const recorded = await eventually(async () => (await listOutputs(kc, ns)).find((o) => o.status?.phase === 'Recorded'), 30_000, 'the run recorded');
      expect(recorded.spec).toMatchObject({ uri: dataset.uri, source: { name: run.metadata.name, uid: run.metadata.uid } });
    } finally {
      await controller.stop('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("resolves each run's own output from the schedule that owns it, and keeps the records with the schedule", async () => {
    const ns = await freshNamespace(kc, 'sched');
    const bucket = stack().s3.bucket;
    const root = `features/${randomBytes(4).toString('hex')}/nightly`;
    const schedule = await createSchedule(kc, ns, 'nightly', `s3a://${bucket}/${root}`);

    const uris: string[] = [];
    const runs: string[] = [];
    for (const startedAt of [new Date('2026-12-03T02:00:00Z'), new Date('2026-12-04T02:00:00Z')]) {
      const run = await createScheduledRun(kc, schedule, startedAt);
      expect(run.metadata.annotations ?? {}).toEqual({});
      // The second run is incremental from the first, and adds a column.
      const parent = uris[0];
      const dataset = await writeDataset(s3, bucket, `${root}/${run.metadata.name}`, {
        files: 1,
        rowsPerFile: 4,
        ...(parent ? { extraColumn: 'ripeness', lineage: { ...LINEAGE, parent } } : {}),
      });
      uris.push(dataset.uri);
      runs.push(run.metadata.name);
      await setJobState(kc, ns, run.metadata.name, 'COMPLETED');
      await reconciler.reconcile(`${ns}/${run.metadata.name}`, (await getJob(kc, ns, run.metadata.name))!);
    }

    const outputs = (await listOutputs(kc, ns)).sort((a, b) => (a.spec.uri < b.spec.uri ? -1 : 1));
    expect(outputs.map((o) => [o.spec.uri, o.status?.phase])).toEqual(uris.map((uri) => [uri, 'Recorded']));
    expect(uris[0]).toMatch(/\/nightly\/nightly-1796263200000000000\/$/);
    for (const output of outputs) {
      expect(output.spec.source).toMatchObject({ kind: 'SparkApplication', name: expect.stringMatching(/^nightly-\d{19}$/) });
      expect(output.metadata.labels?.[JOB_LABEL]).toBe('nightly');
      // Owned by the schedule, not the run: the operator deletes runs beyond its history limits.
      expect(output.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'ScheduledSparkApplication', name: 'nightly', uid: schedule.metadata.uid, controller: true })]);
    }

    // Lineage and drift: the second record names its parent, and flags the column the first lacked.
    const [first, second] = outputs;
    expect(first!.status?.lineage).toBeUndefined();
    expect(first!.status?.conditions?.map((c) => c.type)).toEqual(['Recorded', 'Complete']);
    expect(second!.status?.lineage).toEqual({ mode: 'incremental', parent: uris[0], reason: LINEAGE.reason, images: { reused: 3, featurized: 1, removed: 0 }, pca: { action: 'off', reason: '--pca-components 0' } });
    expect(second!.status?.conditions?.find((c) => c.type === 'SchemaChanged')).toMatchObject({ status: 'True', reason: 'ColumnsChanged', message: expect.stringContaining('added ripeness (double)') });
    const events = await eventually(async () => {
      const found = (await eventsFor(kc, ns, runs[1]!)).filter((e) => e.reason === 'SchemaChanged');
      return found.length > 0 ? found : undefined;
    }, 10_000, 'a SchemaChanged event on the second run');
    expect(events[0]!.message).toContain(`ParquetOutput ${second!.metadata.name}: the columns under ${uris[1]} differ from ${uris[0]}`);

    // The job's gauge follows its newest dataset: set by the second run, cleared by a third that keeps the new column.
    expect(await schemaChanged(ns, 'nightly')).toBe(1);
    const third = await createScheduledRun(kc, schedule, new Date('2026-12-05T02:00:00Z'));
    await writeDataset(s3, bucket, `${root}/${third.metadata.name}`, { files: 1, rowsPerFile: 4, extraColumn: 'ripeness', lineage: { ...LINEAGE, parent: uris[1]! } });
    await setJobState(kc, ns, third.metadata.name, 'COMPLETED');
    await reconciler.reconcile(`${ns}/${third.metadata.name}`, (await getJob(kc, ns, third.metadata.name))!);
    const kept = (await listOutputs(kc, ns)).find((o) => o.spec.source.name === third.metadata.name);
    expect(kept?.status?.conditions?.find((c) => c.type === 'SchemaChanged')).toMatchObject({ status: 'False', reason: 'SameColumns' });
    expect(await schemaChanged(ns, 'nightly')).toBe(0);
  });

  it('warns on a run whose schedule is gone or was re-created, naming it, and records nothing', async () => {
    const ns = await freshNamespace(kc, 'sched-gone');
    const schedule = await createSchedule(kc, ns, 'replaced', `s3a://${stack().s3.bucket}/features/${randomBytes(4).toString('hex')}`);
    // A run of an earlier schedule of the same name: its owner's uid is not the current schedule's.
    const gone = '00000000-0000-4000-8000-000000000000';
    const run = await createScheduledRun(kc, { ...schedule, metadata: { ...schedule.metadata, uid: gone } }, new Date('2026-12-04T02:00:00Z'));
    // The garbage collector deletes such a run in the background: reconcile the object as created.
    await reconciler.reconcile(`${ns}/${run.metadata.name}`, run);
    const events = await eventually(async () => {
      const found = await eventsFor(kc, ns, run.metadata.name);
      return found.length > 0 ? found : undefined;
    }, 10_000, 'an InvalidOutputsAnnotation event');
    expect(events[0]).toMatchObject({ reason: 'InvalidOutputsAnnotation', type: 'Warning', message: expect.stringContaining(`a run of ScheduledSparkApplication replaced (uid ${gone}), which no longer exists`) });
    expect(await listOutputs(kc, ns)).toEqual([]);
  });
});
