import { randomBytes } from 'node:crypto';
import { CreateMultipartUploadCommand, ListMultipartUploadsCommand, ListObjectsV2Command, PutObjectCommand, UploadPartCommand, type S3Client } from '@aws-sdk/client-s3';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOB_SERIES_LABEL } from '../../src/api/parquet-output.ts';
import { eventRecorder } from '../../src/controller/events.ts';
import { ControllerMetrics } from '../../src/controller/metrics.ts';
import { observeOutput } from '../../src/controller/observe.ts';
import { Reconciler } from '../../src/controller/reconcile.ts';
import { createLogger } from '../../src/log.ts';
import { s3Client } from '../../src/s3/client.ts';
import { orchard } from '../support/cli.ts';
import { writeDataset } from '../support/dataset.ts';
import { freshNamespace, kubeConfig, stack } from '../support/kube.ts';
import { listOutputs } from '../support/outputs.ts';
import { createSchedule, createScheduledRun, getJob, setJobState } from '../support/spark-job.ts';

const log = createLogger({ component: 'gc-test' }, () => {});

describe('orchard gc against the real S3 server', () => {
  let kc: KubeConfig;
  let s3: S3Client;
  let bucket: string;

  beforeAll(() => {
    kc = kubeConfig();
    s3 = s3Client(stack().s3);
    bucket = stack().s3.bucket;
  });

  afterAll(() => s3?.destroy());

  const keys = async (prefix: string) => ((await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))).Contents ?? []).map((o) => o.Key!).sort();
  const uploads = async (prefix: string) => (await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }))).Uploads ?? [];

  it('finds and aborts real pending uploads and partial __magic paths, keeps every Recorded dataset, and applies retention only with --keep', async () => {
    const ns = await freshNamespace(kc, 'gc');
    const root = `features/${randomBytes(4).toString('hex')}/nightly`;
    const schedule = await createSchedule(kc, ns, 'nightly', `s3a://${bucket}/${root}`);
    const metrics = new ControllerMetrics();
    const reconciler = new Reconciler({ kc, s3, observe: observeOutput, events: eventRecorder(kc, 'test', log), metrics, log });
    /** The nightly job's leftover gauges, as the controller would export them. */
    const gauges = async () => {
      const of = async (gauge: typeof metrics.leftoverUploads) => (await gauge.get()).values.find((v) => v.labels.spark_namespace === ns && v.labels[JOB_SERIES_LABEL] === 'nightly')?.value;
      return { uploads: await of(metrics.leftoverUploads), objects: await of(metrics.leftoverObjects), bytes: await of(metrics.leftoverBytes) };
    };

    // Three nightly runs: the first and third recorded, the second killed while writing, leaving
    // an upload begun by a task and the magic committer's pending-commit file behind.
    const runs = [];
    for (const [day, state] of [[2, 'COMPLETED'], [3, 'FAILED'], [4, 'COMPLETED']] as const) {
      const run = await createScheduledRun(kc, schedule, new Date(`2026-12-0${day}T02:00:00Z`));
      const prefix = `${root}/${run.metadata.name}/`;
      if (state === 'COMPLETED') {
        await writeDataset(s3, bucket, prefix, { files: 2, rowsPerFile: 3 });
        // A retried task of the last run began an upload it never completed, beside the committed dataset.
        if (day === 4) await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: `${prefix}part-00009-retried.snappy.parquet` }));
      } else {
        const key = `${prefix}part-00000-attempt.snappy.parquet`;
        const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
        await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: randomBytes(1024) }));
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}__magic_job-0001/job-0001/tasks/attempt_0/part-00000.pending`, Body: '{}' }));
      }
      await setJobState(kc, ns, run.metadata.name, state);
      await reconciler.reconcile(`${ns}/${run.metadata.name}`, (await getJob(kc, ns, run.metadata.name))!);
      runs.push({ name: run.metadata.name, prefix });
    }
    const [first, killed, last] = runs as [(typeof runs)[0], (typeof runs)[0], (typeof runs)[0]];
    const byRun = async () => new Map((await listOutputs(kc, ns)).map((o) => [o.spec.source.name, o]));
    const records = await byRun();
    expect([first, killed, last].map((r) => records.get(r.name)?.status?.phase)).toEqual(['Recorded', 'Failed', 'Recorded']);
    // The controller reports the leftovers on the failed run's record.
    expect(records.get(killed.name)?.status?.leftovers).toMatchObject({ pendingUploads: 1, partialObjects: 1, partialBytes: 2 });
    expect(records.get(first.name)?.status?.leftovers).toBeUndefined();
    expect(records.get(last.name)?.status?.leftovers).toMatchObject({ pendingUploads: 1, partialObjects: 0 });
    // And the job's gauges add them up over its runs.
    expect(await gauges()).toEqual({ uploads: 2, objects: 1, bytes: 2 });
    const recordedBefore = { first: await keys(first.prefix), last: await keys(last.prefix) };

    const cli = ['gc', '--dev', '--state', stack().stateDir, '-n', ns, '--min-age', '0'];
    const dry = await orchard(...cli);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`abort upload   s3a://${bucket}/${killed.prefix}part-00000-attempt.snappy.parquet`);
    expect(dry.stdout).toContain(`delete partial s3a://${bucket}/${killed.prefix}__magic_job-0001/`);
    expect(dry.stdout).toMatch(/dry run: nothing was deleted; pass --yes to delete\n$/);
    expect(await uploads(killed.prefix)).toHaveLength(1);

    // An hour's minimum age (the default) spares an upload begun a moment ago.
    expect((await orchard(...cli.slice(0, -2))).stdout).toContain('less than the minimum age ago');

    const done = await orchard(...cli, '--yes');
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toContain('aborted 2 uploads, deleted 1 partial objects and 0 datasets');
    expect(await uploads(`${root}/`)).toEqual([]);
    expect(await keys(killed.prefix)).toEqual([]);
    expect({ first: await keys(first.prefix), last: await keys(last.prefix) }).toEqual(recordedBefore);
    expect((await orchard(...cli)).stdout).toBe('nothing to remove\n');
    // The next reconciles find nothing left: the records say so.
    for (const run of [killed, last]) await reconciler.reconcile(`${ns}/${run.name}`, (await getJob(kc, ns, run.name))!);
    const cleaned = await byRun();
    expect([cleaned.get(killed.name)?.status?.leftovers, cleaned.get(last.name)?.status?.leftovers, cleaned.get(last.name)?.status?.phase]).toEqual([undefined, undefined, 'Recorded']);
    expect(await gauges()).toEqual({ uploads: 0, objects: 0, bytes: 0 });

    // Retention: the newest Recorded dataset stays; the older ones go, objects and record.
    const kept = await orchard(...cli, '--keep', '1', '--yes');
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stdout).toContain(`delete dataset s3a://${bucket}/${first.prefix} (${recordedBefore.first.length} objects`);
    expect(await keys(first.prefix)).toEqual([]);
    expect(await keys(last.prefix)).toEqual(recordedBefore.last);
    const after = await byRun();
    expect([...after.keys()].sort()).toEqual([last.name]);
    expect(after.get(last.name)?.status?.phase).toBe('Recorded');
    // The runs go with their datasets, so the controller does not record them again.
    expect([await getJob(kc, ns, first.name), await getJob(kc, ns, killed.name), (await getJob(kc, ns, last.name))?.metadata.name]).toEqual([undefined, undefined, last.name]);
  });
});
