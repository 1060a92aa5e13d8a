import { describe, expect, it } from 'vitest';
import { assessOutput, desiredOutputStatus, sameStatus } from '../../src/controller/desired.ts';
import type { OutputObservation, ParquetFile } from '../../src/controller/observation.ts';
import type { JobView } from '../../src/api/spark-application.ts';
import { featureQualityOf } from '../../src/api/job-metrics.ts';
import { incrementalLineage } from '../support/lineage.ts';
import { probeMetrics, skippedProbeMetrics } from '../support/probe.ts';

const uri = 's3a://bucket/features/run-1/';
const schema = [
  { name: 'path', type: 'string' },
  { name: 'features', type: 'array<float>' },
];
const file = (n: number, rows: number): ParquetFile => ({ key: `features/run-1/part-0000${n}-abc.snappy.parquet`, bytes: 1000 + n, rows, schema });

function observation(overrides: Partial<OutputObservation> = {}): OutputObservation {
  const files = overrides.files ?? [file(0, 60), file(1, 40)];
  return {
    uri,
    bucket: 'bucket',
    prefix: 'features/run-1/',
    success: { state: 'manifest', manifest: { committer: 'magic', filenames: files.map((f) => `/${f.key}`) } },
    files,
    unreadable: [],
    metrics: {
      state: 'present',
      metrics: { imagesFound: 101, imagesDecoded: 100, imagesFailed: 1, labels: { Apple: 60, Pear: 40 }, durationSeconds: 12.5, imagesPerSecond: 8, rowsWritten: 100, files: files.map((f) => f.key.split('/').pop()!) },
    },
    ...overrides,
  };
}

const presentMetrics = () => {
  const m = observation().metrics;
  if (m.state !== 'present') throw new Error('fixture has metrics');
  return m.metrics;
};
const job = (state: string, extra: Partial<JobView> = {}): JobView => ({ kind: 'SparkApplication', name: 'featurize', namespace: 'jobs', uid: 'u-1', state, submissionAttempt: 1, ...extra });
const now = new Date('2026-11-24T10:00:00.000Z');
const later = new Date('2026-11-24T11:00:00.000Z');
// The API server returns fields in its own order; equality must not depend on it.
const reverseKeys = <T,>(v: T): T =>
  (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reverseKeys(x)])) : Array.isArray(v) ? v.map(reverseKeys) : v) as T;
const reasons = (o: OutputObservation) => assessOutput(o).map((p) => p.reason);

describe('assessing an output', () => {
  it('finds nothing wrong with a committed, consistent output', () => {
    expect(assessOutput(observation())).toEqual([]);
  });

  it('names a missing, empty or invalid _SUCCESS', () => {
    expect(reasons(observation({ success: { state: 'missing' } }))).toEqual(['ManifestMissing']);
    expect(reasons(observation({ success: { state: 'empty' } }))).toEqual(['ClassicCommitter']);
    expect(reasons(observation({ success: { state: 'invalid', error: 'not JSON' } }))).toEqual(['ManifestInvalid']);
  });

  it('compares the listing with the manifest, which is complete only below 100 names', () => {
    const extra = observation({ files: [file(0, 60), file(1, 40), file(2, 0)] });
    const withTwoNames = { ...extra, success: observation().success };
    const problems = assessOutput(withTwoNames);
    expect(problems.map((p) => p.reason)).toContain('FileCountMismatch');
    expect(problems.find((p) => p.reason === 'FileCountMismatch')!.message).toMatch(/in S3 but not in _SUCCESS: part-00002/);

    const many = Array.from({ length: 150 }, (_, i) => ({ ...file(i, 1), key: `features/run-1/part-${String(i).padStart(5, '0')}.parquet` }));
    const capped = observation({
      files: many,
      success: { state: 'manifest', manifest: { committer: 'magic', filenames: many.slice(0, 100).map((f) => `/${f.key}`) } },
      metrics: { state: 'present', metrics: { ...presentMetrics(), rowsWritten: 150, imagesDecoded: 150, files: many.map((f) => f.key.split('/').pop()!) } },
    });
    expect(reasons(capped)).toEqual([]);
    const gone = { ...capped, files: many.slice(1) };
    expect(assessOutput(gone).map((p) => p.message).join('\n')).toMatch(/named in _SUCCESS but not in S3: part-00000/);
  });

  it('cross-checks footer rows against the job metrics', () => {
    const o = observation({ files: [file(0, 60), file(1, 39)] });
    const problems = assessOutput(o);
    expect(problems.map((p) => p.reason)).toEqual(['RowCountMismatch']);
    expect(problems[0]!.message).toBe(`Parquet footers under ${uri} hold 99 rows, the job metrics say 100 rows written from 100 decoded images`);
  });

  it('reports unreadable footers, missing metrics and mixed schemas', () => {
    expect(reasons(observation({ unreadable: [{ key: 'features/run-1/part-9.parquet', bytes: 3, error: 'last 4 bytes are not PAR1' }] }))).toContain('FooterUnreadable');
    expect(reasons(observation({ metrics: { state: 'missing' } }))).toEqual(['JobMetricsMissing']);
    const mixed = observation({ files: [file(0, 60), { ...file(1, 40), schema: [{ name: 'path', type: 'binary' }] }] });
    expect(reasons(mixed)).toEqual(['SchemaMismatch']);
  });
});

describe('desired status', () => {
  it('records a complete output with its figures and two True conditions', () => {
    const status = desiredOutputStatus({ job: job('COMPLETED'), uri, observation: observation(), generation: 1, now });
    expect(status).toMatchObject({ phase: 'Recorded', files: 2, rows: 100, bytes: 2001, committer: 'magic', schema, observedGeneration: 1 });
    expect(status.jobMetrics).toEqual({ imagesFound: 101, imagesDecoded: 100, imagesFailed: 1, labels: { Apple: 60, Pear: 40 }, durationSeconds: 12.5, imagesPerSecond: 8 });
    expect(status.conditions!.map((c) => [c.type, c.status, c.reason, c.lastTransitionTime])).toEqual([
      ['Recorded', 'True', 'Recorded', '2026-11-24T10:00:00Z'],
      ['Complete', 'True', 'Complete', '2026-11-24T10:00:00Z'],
    ]);
  });

  it('is Incomplete, not Recorded, when anything is wrong, and says all of it', () => {
    const status = desiredOutputStatus({ job: job('COMPLETED'), uri, observation: observation({ success: { state: 'empty' }, files: [file(0, 60), file(1, 39)] }), generation: 1, now });
    expect(status.phase).toBe('Incomplete');
    expect(status.committer).toBe('classic');
    const complete = status.conditions!.find((c) => c.type === 'Complete')!;
    expect(complete.status).toBe('False');
    expect(complete.reason).toBe('ClassicCommitter');
    expect(complete.message).toMatch(/RowCount|99 rows/);
  });

  it('is Pending while the job runs or S3 cannot be read, and Failed when the job failed', () => {
    expect(desiredOutputStatus({ job: job('RUNNING'), uri, generation: 1, now }).phase).toBe('Pending');
    const s3 = desiredOutputStatus({ job: job('COMPLETED'), uri, s3Error: 'connect ECONNREFUSED', generation: 1, now });
    expect(s3.phase).toBe('Pending');
    expect(s3.conditions![0]).toMatchObject({ reason: 'S3Unavailable', status: 'False' });
    expect(s3.conditions![0]!.message).toMatch(/ECONNREFUSED/);
    const failed = desiredOutputStatus({ job: job('FAILED', { errorMessage: 'driver OOMKilled' }), uri, generation: 1, now });
    expect(failed.phase).toBe('Failed');
    expect(failed.rows).toBeUndefined();
    expect(failed.conditions![1]!.message).toMatch(/FAILED \(attempt 1\): driver OOMKilled/);
    // The operator keeps an exit code; the job's own error, from its driver, says why.
    const said = desiredOutputStatus({ job: job('FAILED', { errorMessage: 'driver container failed with ExitCode: 2, Reason: Error' }), uri, jobError: 's3a://b/in holds no images', generation: 1, now });
    expect(said.conditions!.map((c) => c.message)).toEqual([expect.stringMatching(/ExitCode: 2, Reason: Error; the job said: s3a:\/\/b\/in holds no images; nothing under /), expect.stringMatching(/the job said: s3a:\/\/b\/in holds no images$/)]);
  });

  it("says a failed attempt's own error while its retry is pending, since the retry deletes the driver pod that holds it", () => {
    const failing = desiredOutputStatus({ job: job('FAILING', { errorMessage: 'driver container failed with ExitCode: 1, Reason: Error' }), uri, jobError: 'S3 at http://10.88.0.1:9000 did not answer', generation: 1, now });
    expect(failing.phase).toBe('Pending');
    expect(failing.conditions!.map((c) => [c.reason, c.status])).toEqual([['JobAttemptFailed', 'False'], ['JobAttemptFailed', 'Unknown']]);
    expect(failing.conditions![0]!.message).toMatch(/attempt 1 failed; the job said: S3 at http:\/\/10\.88\.0\.1:9000 did not answer; its restartPolicy decides/);
    // The retry pending, the operator has cleared its error: the same words, so no second Event.
    const pending = desiredOutputStatus({ job: job('PENDING_RERUN'), uri, jobError: 'S3 at http://10.88.0.1:9000 did not answer', previous: failing, generation: 1, now });
    expect(pending.conditions).toEqual(failing.conditions);
    // Without the driver's words (the pod is gone), FAILING is a job not finished, as before.
    expect(desiredOutputStatus({ job: job('FAILING'), uri, generation: 1, now }).conditions![0]!.reason).toBe('JobNotFinished');
  });

  it('keeps lastTransitionTime while a condition holds, so the same world gives the same status', () => {
    const first = desiredOutputStatus({ job: job('COMPLETED'), uri, observation: observation(), generation: 1, now });
    const again = desiredOutputStatus({ job: job('COMPLETED'), uri, observation: observation(), previous: first, generation: 1, now: later });
    expect(sameStatus(first, again)).toBe(true);
    const reordered = reverseKeys(again);
    expect(sameStatus(first, reordered)).toBe(true);
    const pending = desiredOutputStatus({ job: job('RUNNING'), uri, generation: 1, now });
    const done = desiredOutputStatus({ job: job('COMPLETED'), uri, observation: observation(), previous: pending, generation: 1, now: later });
    expect(done.conditions!.every((c) => c.lastTransitionTime === '2026-11-24T11:00:00Z')).toBe(true);
  });
});

describe('feature quality and its gate', () => {
  const judged = (probe: Parameters<typeof featureQualityOf>[0]) =>
    desiredOutputStatus({ job: job('COMPLETED'), uri, observation: observation({ metrics: { state: 'present', metrics: { ...presentMetrics(), featureQuality: featureQualityOf(probe)! } } }), generation: 1, now });
  const complete = (status: ReturnType<typeof desiredOutputStatus>) => status.conditions!.find((c) => c.type === 'Complete')!;

  it('records the probe from the job metrics: method, split, accuracy and the worst classes with what they are taken for', () => {
    const status = judged(probeMetrics(0.85));
    expect(status.phase).toBe('Recorded');
    expect(status.featureQuality).toEqual({
      method: 'ridge',
      split: 'sha1(<Class>/<file>), 20% held out',
      features: 'pca',
      width: 50,
      classes: 4,
      testImages: 40,
      top1: 0.85,
      top5: 1,
      worstClasses: [
        { label: 'Apple Braeburn', recall: 0.5, images: 10, confusedWith: 'Cherry 1' },
        { label: 'Banana', recall: 0.9, images: 10, confusedWith: 'Pear' },
        { label: 'Cherry 1', recall: 1, images: 10 },
        { label: 'Pear', recall: 1, images: 10 },
      ],
    });
  });

  it('passes a dataset at or above the gate and marks one below it Incomplete with QualityBelowThreshold', () => {
    expect(judged(probeMetrics(0.85, 0.85)).phase).toBe('Recorded');
    const below = judged(probeMetrics(0.84, 0.85));
    expect(below.phase).toBe('Incomplete');
    expect(below.featureQuality).toMatchObject({ top1: 0.84, minTop1: 0.85 });
    expect(complete(below)).toMatchObject({ status: 'False', reason: 'QualityBelowThreshold' });
    expect(complete(below).message).toMatch(/top-1 84\.0% \(40 images, 4 classes\), below the quality gate \(linear-probe top-1 >= 85\.0%\); worst: Apple Braeburn 50\.0% \(taken for Cherry 1\)/);
    // The dataset is read and its figures kept: only its completeness is refused.
    expect(below.conditions!.find((c) => c.type === 'Recorded')!.status).toBe('True');
  });

  it('does not pass a gate it could not check, and needs no gate to record a skipped probe', () => {
    const unchecked = judged(skippedProbeMetrics(0.9));
    expect(unchecked.phase).toBe('Incomplete');
    expect(complete(unchecked)).toMatchObject({ reason: 'QualityNotMeasured' });
    expect(complete(unchecked).message).toMatch(/could not be checked .*: 1 of 4 classes have fewer than 10 images/);
    const ungated = judged(skippedProbeMetrics());
    expect(ungated.phase).toBe('Recorded');
    expect(ungated.featureQuality).toEqual({ method: 'ridge', split: 'sha1(<Class>/<file>), 20% held out', skipped: skippedProbeMetrics().skipped });
  });

  it('lists a broken dataset first and the quality after it', () => {
    const status = desiredOutputStatus({
      job: job('COMPLETED'),
      uri,
      observation: observation({ success: { state: 'missing' }, metrics: { state: 'present', metrics: { ...presentMetrics(), featureQuality: featureQualityOf(probeMetrics(0.1, 0.9))! } } }),
      generation: 1,
      now,
    });
    expect(complete(status).reason).toBe('ManifestMissing');
    expect(complete(status).message).toMatch(/QualityBelowThreshold|below the quality gate/);
  });

  it('records nothing when the job did not probe (--no-probe, or metrics from before the probe)', () => {
    expect(featureQualityOf(null)).toBeUndefined();
    expect(featureQualityOf(undefined)).toBeUndefined();
    expect(judged(null).featureQuality).toBeUndefined();
  });
});

describe('lineage and drift on the record', () => {
  const lineage = incrementalLineage('s3a://bucket/features/run-0/', { reused: 90, featurized: 10, removed: 3 });

  it('records the lineage the job wrote in its metrics', () => {
    const withLineage = observation({ metrics: { state: 'present', metrics: { ...presentMetrics(), lineage } } });
    expect(desiredOutputStatus({ job: job('COMPLETED'), uri, observation: withLineage, generation: 1, now }).lineage).toEqual(lineage);
    expect(desiredOutputStatus({ job: job('COMPLETED'), uri, observation: observation(), generation: 1, now }).lineage).toBeUndefined();
  });

  it('records leftovers on a finished job only, failed or completed', () => {
    const leftovers = { pendingUploads: 2, oldestUpload: '2026-11-24T09:00:00Z', partialObjects: 3, partialBytes: 300 };
    expect(desiredOutputStatus({ job: job('FAILED'), uri, leftovers, generation: 1, now }).leftovers).toEqual(leftovers);
    expect(desiredOutputStatus({ job: job('COMPLETED'), uri, observation: observation(), leftovers, generation: 1, now }).leftovers).toEqual(leftovers);
    expect(desiredOutputStatus({ job: job('RUNNING'), uri, leftovers, generation: 1, now }).leftovers).toBeUndefined();
  });

  it("flags columns that differ from the job's previous dataset, and says so when they do not", () => {
    const predecessor = { name: 'featurize-0', uri: 's3a://bucket/features/run-0/', schema: [{ name: 'path', type: 'string' }] };
    const changed = desiredOutputStatus({ job: job('COMPLETED'), uri, observation: observation(), predecessor, generation: 1, now });
    expect(changed.phase).toBe('Recorded');
    expect(changed.conditions?.find((c) => c.type === 'SchemaChanged')).toMatchObject({
      status: 'True',
      reason: 'ColumnsChanged',
      message: `the columns under ${uri} differ from s3a://bucket/features/run-0/ (ParquetOutput featurize-0), the job's previous dataset: added features (array<float>); a reader of both datasets must handle the change`,
    });
    const same = desiredOutputStatus({ job: job('COMPLETED'), uri, observation: observation(), predecessor: { ...predecessor, schema }, generation: 1, now });
    expect(same.conditions?.find((c) => c.type === 'SchemaChanged')).toMatchObject({ status: 'False', reason: 'SameColumns' });
    expect(desiredOutputStatus({ job: job('COMPLETED'), uri, observation: observation(), generation: 1, now }).conditions?.map((c) => c.type)).toEqual(['Recorded', 'Complete']);
  });
});
