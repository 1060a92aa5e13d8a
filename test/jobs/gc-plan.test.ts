import { describe, expect, it } from 'vitest';
import { JOB_LABEL, type ParquetOutput, type Phase } from '../../src/api/parquet-output.ts';
import { planGc, type PrefixContents } from '../../src/jobs/gc-plan.ts';

const now = new Date('2026-12-04T12:00:00Z');
const hoursAgo = (h: number) => new Date(now.getTime() - h * 3_600_000);

function record(run: string, phase: Phase | undefined, created: string, job = 'nightly'): ParquetOutput {
  return {
    apiVersion: 'orchard.fruits.dev/v1alpha1',
    kind: 'ParquetOutput',
    metadata: { name: `${run}-rec`, namespace: 'jobs', labels: { [JOB_LABEL]: job }, creationTimestamp: created } as ParquetOutput['metadata'],
    spec: { source: { kind: 'SparkApplication', name: run, uid: `uid-${run}` }, uri: `s3a://fruits/features/${job}/${run}/` },
    ...(phase ? { status: { phase } } : {}),
  };
}

function under(run: string, extra: Partial<PrefixContents> = {}, job = 'nightly'): [string, PrefixContents] {
  const prefix = `features/${job}/${run}/`;
  return [
    `s3a://fruits/${prefix}`,
    { uploads: [], objects: [{ key: `${prefix}part-00000.parquet`, bytes: 100 }, { key: `${prefix}_SUCCESS`, bytes: 10 }], ...extra },
  ];
}

describe('planGc', () => {
  const failed = record('run-2', 'Failed', '2026-12-02T02:00:00Z');
  const leftovers = under('run-2', {
    uploads: [
      { key: 'features/nightly/run-2/part-00001.parquet', uploadId: 'old', initiated: hoursAgo(30) },
      { key: 'features/nightly/run-2/part-00002.parquet', uploadId: 'new', initiated: hoursAgo(0.1) },
    ],
    objects: [{ key: 'features/nightly/run-2/__magic_job-1/task.pending', bytes: 50 }, { key: 'features/nightly/run-2/part-00000.parquet', bytes: 100 }],
  });

  it('aborts old pending uploads and deletes __magic paths of finished runs, never a data file, and leaves young uploads', () => {
    const plan = planGc([record('run-1', 'Recorded', '2026-12-01T02:00:00Z'), failed], new Map([under('run-1'), leftovers]), { minUploadAgeMs: 3_600_000 }, now);
    expect(plan.uploads.map((u) => u.uploadId)).toEqual(['old']);
    expect(plan.partialObjects.map((o) => o.key)).toEqual(['features/nightly/run-2/__magic_job-1/task.pending']);
    expect(plan.datasets).toEqual([]);
    expect(plan.skipped).toEqual([{ uri: 's3a://fruits/features/nightly/run-2/', reason: expect.stringContaining('less than the minimum age ago') }]);
  });

  it("never touches the prefix of a job that is still writing, whatever is left there", () => {
    const running = record('run-2', 'Pending', '2026-12-02T02:00:00Z');
    const plan = planGc([running, { ...failed, metadata: { ...failed.metadata, name: 'earlier-attempt' } }], new Map([leftovers]), { minUploadAgeMs: 0 }, now);
    expect([plan.uploads, plan.partialObjects, plan.datasets]).toEqual([[], [], []]);
    expect(plan.skipped).toEqual([{ uri: 's3a://fruits/features/nightly/run-2/', reason: 'a job is still writing s3a://fruits/features/nightly/run-2/' }]);
  });

  it('keeps the newest N Recorded datasets of each job and deletes an older one only behind N newer Recorded ones', () => {
    const records = [
      record('run-1', 'Recorded', '2026-12-01T02:00:00Z'),
      record('run-2', 'Incomplete', '2026-12-02T02:00:00Z'),
      record('run-3', 'Recorded', '2026-12-03T02:00:00Z'),
      record('run-4', 'Failed', '2026-12-04T02:00:00Z'),
      record('other-1', 'Recorded', '2026-11-01T02:00:00Z', 'other'),
    ];
    const contents = new Map([under('run-1'), under('run-2'), under('run-3'), under('run-4'), under('other-1', {}, 'other')]);
    const plan = planGc(records, contents, { keep: 1, minUploadAgeMs: 0 }, now);
    expect(plan.datasets.map((d) => [d.record.metadata.name, d.objects.length, d.reason])).toEqual([
      ['run-2-rec', 2, 'job nightly keeps 1: run-3-rec is newer and Recorded'],
      ['run-1-rec', 2, 'job nightly keeps 1: run-3-rec is newer and Recorded'],
    ]);
    // Only datasets older than the N-th Recorded one go: run-2 is newer than run-1, run-4 than run-3.
    expect(planGc(records, contents, { keep: 2, minUploadAgeMs: 0 }, now).datasets).toEqual([]);
    expect(planGc(records, contents, { keep: 3, minUploadAgeMs: 0 }, now).datasets).toEqual([]);
    expect(planGc(records, contents, { minUploadAgeMs: 0 }, now).datasets).toEqual([]);
  });
});
