import { stringify } from 'yaml';
import { API_VERSION, JOB_LABEL, KIND, type ParquetOutput, type ParquetOutputStatus } from '../../src/api/parquet-output.ts';
import { desiredOutputStatus } from '../../src/controller/desired.ts';
import type { OutputObservation, ParquetFile } from '../../src/controller/observation.ts';
import { outputName, SOURCE_LABEL } from '../../src/controller/reconcile.ts';
import { SPARK_GROUP_VERSION, type JobView } from '../../src/api/spark-application.ts';
import { S3ReadError } from '../../src/s3/errors.ts';

/**
 * The ParquetOutputs of the health check's testdata/, built by the controller's own functions
 * (outputName, desiredOutputStatus, S3ReadError) from the prod stage's job, so that the statuses,
 * reasons and messages the check is tested on are the ones the controller writes. When the
 * controller changes what it writes, the testdata test fails and `vitest -u` rewrites the files.
 */

const BUCKET = 'fruits-orchard-prod';
const PREFIX = 'features/fruits-360-training/';
/** As featurizeOutputs writes it into the job's annotation: no trailing slash. */
const URI = `s3a://${BUCKET}/${PREFIX.replace(/\/$/, '')}`;
const SCHEMA = [
  { name: 'path', type: 'string' },
  { name: 'label', type: 'string' },
  { name: 'features', type: 'array<float>' },
  { name: 'pca', type: 'array<float>' },
];
/** A `limit: 240` run reads the first eight class folders of fruits-360/Training, 30 images each. */
const LABELS = ['Apple Braeburn', 'Apple Crimson Snow', 'Apple Golden 1', 'Apple Golden 2', 'Apple Golden 3', 'Apple Granny Smith', 'Apple Red 1', 'Apple Red 2'];

const job = (state: string, submissionAttempt: number, errorMessage?: string): JobView => ({
  kind: 'SparkApplication',
  name: 'featurize-fruits-360',
  namespace: 'orchard',
  uid: '3c9e5a71-0b2d-4f68-9a14-7d2e8b6f0c53',
  state,
  submissionAttempt,
  ...(errorMessage ? { errorMessage } : {}),
});

/** A Parquet part as Spark names it: part-<partition>-<write uuid>-c000.snappy.parquet. */
const part = (partition: number, rows: number, bytes: number): ParquetFile => ({
  key: `${PREFIX}part-${String(partition).padStart(5, '0')}-8f14e45f-ceea-467f-a0e6-1b3c5d7e9a2b-c000.snappy.parquet`,
  rows,
  bytes,
  schema: SCHEMA,
});
const basename = (key: string) => key.slice(key.lastIndexOf('/') + 1);

/** What the controller reads after a clean run; `overrides` make it dirty. */
function observation(files: readonly ParquetFile[], decoded: number, overrides: Partial<OutputObservation> = {}): OutputObservation {
  const found = 240;
  // Images that did not decode are taken from the last class: the counts are of decoded images.
  const labels = Object.fromEntries(LABELS.map((label, i) => [label, i === LABELS.length - 1 ? 30 - (found - decoded) : 30]));
  return {
    uri: URI,
    bucket: BUCKET,
    prefix: PREFIX,
    success: { state: 'manifest', manifest: { committer: 'magic', filenames: files.map((f) => `/${f.key}`) } },
    files,
    unreadable: [],
    metrics: {
      state: 'present',
      metrics: {
        imagesFound: found,
        imagesDecoded: decoded,
        imagesFailed: found - decoded,
        labels,
        durationSeconds: 96.4,
        imagesPerSecond: Math.round((decoded / 96.4) * 100) / 100,
        rowsWritten: files.reduce((sum, f) => sum + f.rows, 0),
        files: files.map((f) => basename(f.key)),
      },
    },
    ...overrides,
  };
}

const CREATED = '2026-11-23T14:02:11Z';
const at = (time: string) => new Date(time);

/** The object as the API server returns it: what Argo CD's cache holds and hands to the check. */
function parquetOutput(source: JobView, generation: number, status?: ParquetOutputStatus): ParquetOutput & { metadata: Record<string, unknown> } {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: {
      name: outputName(source, URI),
      namespace: source.namespace,
      uid: 'b7d41f0e-5c2a-4e93-8d6b-2f0a9c1e7d48',
      resourceVersion: String(48211 + generation * 7),
      generation,
      creationTimestamp: CREATED,
      labels: { [SOURCE_LABEL]: source.name, [JOB_LABEL]: source.name },
      ownerReferences: [{ apiVersion: SPARK_GROUP_VERSION, kind: source.kind, name: source.name, uid: source.uid, controller: true, blockOwnerDeletion: false }],
    },
    spec: { source: { kind: source.kind, name: source.name, uid: source.uid, submissionAttempt: source.submissionAttempt }, uri: URI },
    ...(status ? { status } : {}),
  };
}

function recorded(source: JobView, o: OutputObservation, now: string, generation = 1): ParquetOutput {
  return parquetOutput(source, generation, desiredOutputStatus({ job: source, uri: URI, observation: o, generation, now: at(now) }));
}

const twoParts = [part(0, 120, 1_019_842), part(1, 119, 1_011_377)];
// The classic committer leaves an aborted attempt's file beside the committed ones; the job counts
// what it finds after writing, so its metrics agree with the listing but not with the images decoded.
const classicParts = [...twoParts, { ...part(1, 119, 1_011_377), key: part(1, 0, 0).key.replace('8f14e45f', '2a7b9c3d') }].sort((a, b) => (a.key < b.key ? -1 : 1));
const failedAttempt = job('FAILED', 1, 'driver container failed with ExitCode: 137, Reason: OOMKilled');
const s3Denied = new S3ReadError(
  { uri: URI, bucket: BUCKET, key: PREFIX, operation: 'ListObjectsV2' },
  'AccessDenied',
  `User: arn:aws:sts::123456789012:assumed-role/orchard-controller/botocore-session-1763906400 is not authorized to perform: s3:ListBucket on resource: "arn:aws:s3:::${BUCKET}" because no identity-based policy allows the s3:ListBucket action`,
  403,
);

/** testdata/<file> → the object in it. */
export const TESTDATA: ReadonlyMap<string, ParquetOutput> = new Map([
  // Created by the controller the moment it saw the job; the status follows in a second write.
  ['no-status.yaml', parquetOutput(job('', 0), 1)],
  ['pending-running.yaml', parquetOutput(job('RUNNING', 1), 1, desiredOutputStatus({ job: job('RUNNING', 1), uri: URI, generation: 1, now: at('2026-11-23T14:02:12Z') }))],
  [
    'pending-s3-unavailable.yaml',
    parquetOutput(job('COMPLETED', 1), 1, desiredOutputStatus({ job: job('COMPLETED', 1), uri: URI, s3Error: s3Denied.message, generation: 1, now: at('2026-11-23T14:05:40Z') })),
  ],
  ['recorded.yaml', recorded(job('COMPLETED', 1), observation(twoParts, 239), '2026-11-23T14:05:41Z')],
  ['recorded-one-file.yaml', recorded(job('COMPLETED', 1), observation([part(0, 240, 2_031_516)], 240), '2026-11-23T14:05:41Z')],
  ['incomplete-classic-committer.yaml', recorded(job('COMPLETED', 1), observation(classicParts, 239, { success: { state: 'empty' } }), '2026-11-23T14:05:41Z')],
  ['incomplete-row-count-mismatch.yaml', recorded(job('COMPLETED', 1), observation(twoParts, 240), '2026-11-23T14:05:41Z')],
  ['failed.yaml', parquetOutput(failedAttempt, 1, desiredOutputStatus({ job: failedAttempt, uri: URI, generation: 1, now: at('2026-11-23T14:04:02Z') }))],
  // The operator retried the job: the controller moved spec.source.submissionAttempt to 2
  // (generation 2) and has not yet written a status for it, so the status is attempt 1's failure.
  [
    'stale-observed-generation.yaml',
    parquetOutput(job('SUBMITTED', 2), 2, desiredOutputStatus({ job: failedAttempt, uri: URI, generation: 1, now: at('2026-11-23T14:04:02Z') })),
  ],
]);

/** A testdata file's text: YAML 1.1 quoting, so that Argo CD's go-yaml (1.1) reads the same values as a 1.2 parser. */
export function testdataYaml(file: string, object: ParquetOutput): string {
  return `# Generated by test/argocd/parquet-outputs.ts (${file}); rewrite with: npx vitest run test/argocd -u\n${stringify(object, { lineWidth: 0, version: '1.1' })}`;
}
