import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { SchemaElement } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobMetrics } from '../../src/controller/observation.ts';
import { isDataFile } from '../../src/api/dataset.ts';
import { observeOutput, parseJobMetrics } from '../../src/controller/observe.ts';
import { OrchardError } from '../../src/errors.ts';
import { FOOTER_FETCH_BYTES } from '../../src/parquet/footer.ts';
import { s3Client } from '../../src/s3/client.ts';
import { S3ReadError } from '../../src/s3/errors.ts';
import { stack } from '../support/kube.ts';

/** A file shaped like the featurize job's output (path, label, features: array<float>), in row groups of `rowGroupSize`. */
function featureFile(rows: number, rowGroupSize: number): Uint8Array {
  return new Uint8Array(
    parquetWriteBuffer({
      columnData: [
        { name: 'path', data: Array.from({ length: rows }, (_, i) => `s3a://fruits/Training/Apple/img-${i}.jpg`) },
        { name: 'label', data: Array.from({ length: rows }, (_, i) => ['Apple', 'Banana', 'Cherry'][i % 3]) },
        { name: 'features', data: Array.from({ length: rows }, (_, i) => Array.from({ length: 8 }, (_, j) => Math.fround(i + j / 8))) },
      ],
      schema: [
        { name: 'spark_schema', num_children: 3 },
        { name: 'path', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
        { name: 'label', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
        { name: 'features', repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
        { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
        { name: 'element', type: 'FLOAT', repetition_type: 'OPTIONAL' },
      ] satisfies SchemaElement[],
      rowGroupSize,
    }),
  );
}

const FEATURE_SCHEMA = [
  { name: 'path', type: 'string' },
  { name: 'label', type: 'string' },
  { name: 'features', type: 'array<float>' },
];

/** `name` as Spark names the parts of one write job. */
const part = (index: number) => `part-${String(index).padStart(5, '0')}-86438f71-b3c2-4d49-90db-1e258e4cfcbc-c000.snappy.parquet`;

function magicSuccess(prefix: string, names: string[]): string {
  return JSON.stringify(
    {
      name: 'org.apache.hadoop.fs.s3a.commit.files.SuccessData/1',
      timestamp: 1795499036566,
      date: 'Tue Nov 24 05:43:56 UTC 2026',
      hostname: 'spark-driver-0',
      committer: 'magic',
      description: 'Task committer attempt_202611240543551182824059451097255_0000_m_000000_0',
      jobId: '8329c807-394a-42a0-8705-f6e9985a4858',
      jobIdSource: 'spark.sql.sources.writeJobUUID',
      metrics: { committer_commits_completed: names.length },
      diagnostics: {},
      filenames: names.map((name) => `/${prefix}${name}`),
      iostatistics: { counters: {}, gauges: {}, minimums: {}, maximums: {}, meanstatistics: {} },
    },
    null,
    2,
  );
}

/** What spark-images/orchard_featurize/metrics.py `build_metrics` writes. */
function jobMetrics(uri: string, files: { name: string; bytes: number }[]): Record<string, unknown> {
  return {
    schema: 'orchard.featurize.metrics/v1',
    input: 's3a://fruits/Training',
    output: uri,
    images: {
      found: 42,
      considered: 41,
      decoded: 38,
      failed: 3,
      failures: [
        { path: 's3a://fruits/Training/Apple/bad-0.jpg', reason: 'cannot identify image file' },
        { path: 's3a://fruits/Training/Apple/bad-1.jpg', reason: 'truncated' },
        { path: 's3a://fruits/Training/Cherry/bad-2.jpg', reason: 'truncated' },
      ],
    },
    rows_written: 38,
    label_counts: { Apple: 13, Banana: 13, Cherry: 12 },
    pca: null,
    files,
    success_manifest: { committer: 'magic', filenames: files.length, jobId: '8329c807-394a-42a0-8705-f6e9985a4858' },
    timings: { wall_s: 12.345, listing_s: 0.5, inference_s: 8.1 },
    images_per_second: 5.06,
    images_per_second_wall: 3.32,
    model: { name: 'resnet50', weights: 'random', sha256: 'ab'.repeat(32) },
    versions: { spark: '3.5.8', onnxruntime: '1.20.1' },
    args: { image_size: 224, partitions: 0 },
  };
}

/** What the controller records of jobMetrics(): the same figures, named as the ParquetOutput names them. */
function recordedMetrics(files: string[]): JobMetrics {
  return { imagesFound: 42, imagesDecoded: 38, imagesFailed: 3, labels: { Apple: 13, Banana: 13, Cherry: 12 }, durationSeconds: 12.345, imagesPerSecond: 3.32, rowsWritten: 38, files };
}

interface Request {
  readonly command: string;
  readonly key: string | undefined;
  readonly range: string | undefined;
}

/** A client of the dev stack's S3 that notes every request it sends, and how many were in flight at once. */
function recordingClient() {
  const client = s3Client(stack().s3);
  const requests: Request[] = [];
  let inFlight = 0;
  let maxRangedInFlight = 0;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { Key?: string; Range?: string };
      requests.push({ command: context.commandName ?? 'unknown', key: input.Key, range: input.Range });
      const ranged = input.Range !== undefined;
      if (ranged) maxRangedInFlight = Math.max(maxRangedInFlight, ++inFlight);
      try {
        return await next(args);
      } finally {
        if (ranged) inFlight -= 1;
      }
    },
    { step: 'initialize', name: 'orchardTestRecorder' },
  );
  return { client, requests, maxRangedInFlight: () => maxRangedInFlight };
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function rejection(promise: Promise<unknown>): Promise<S3ReadError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(S3ReadError);
  expect(error).toBeInstanceOf(OrchardError);
  return error as S3ReadError;
}

describe('observeOutput against the dev stack S3 server', () => {
  let s3: S3Client;
  let bucket: string;
  let base: string;

  beforeAll(() => {
    s3 = s3Client(stack().s3);
    bucket = stack().s3.bucket;
    base = `tests/observe-${randomBytes(4).toString('hex')}`;
  });

  afterAll(() => s3?.destroy());

  /** A fresh output folder: its prefix (ending in `/`) and its s3a:// URI. */
  const output = (name: string) => ({ prefix: `${base}/${name}/`, uri: `s3a://${bucket}/${base}/${name}/` });
  const put = (key: string, body: Uint8Array | string) =>
    s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: typeof body === 'string' ? Buffer.from(body) : body }));

  it('records a committed dataset: manifest, each Parquet file field by field, job metrics; hidden paths skipped', async () => {
    const { prefix, uri } = output('committed');
    const parts = [
      { name: part(0), file: featureFile(13, 5), rows: 13 },
      { name: part(1), file: featureFile(13, 13), rows: 13 },
      { name: part(2), file: featureFile(12, 4), rows: 12 },
    ];
    const partitioned = { key: `${prefix}label=Durian/${part(3)}`, file: featureFile(5, 2) };
    const garbage = 'not parquet: a reader that looked here would report it unreadable';
    await Promise.all([
      ...parts.map(({ name, file }) => put(prefix + name, file)),
      put(partitioned.key, partitioned.file),
      put(`${prefix}_SUCCESS`, magicSuccess(prefix, parts.map((p) => p.name))),
      put(`${prefix}_orchard/metrics.json`, JSON.stringify(jobMetrics(uri, parts.map((p) => ({ name: p.name, bytes: p.file.length }))))),
      // Side files and leftovers that Hadoop's hidden-path rule keeps out of the dataset.
      put(`${prefix}_orchard/pca-model/data/part-00000-0f3a.snappy.parquet`, featureFile(2, 2)),
      put(`${prefix}_orchard/pca-model/metadata/part-00000`, '{"class":"org.apache.spark.ml.PipelineModel"}'),
      put(`${prefix}_temporary/0/_temporary/attempt_1/${part(0)}`, garbage),
      put(`${prefix}__magic_job-8329c807/tasks/attempt_1/__base/${part(0)}`, garbage),
      put(`${prefix}.spark-staging-8329c807/${part(0)}`, garbage),
      put(`${prefix}label=Durian/_committing/${part(4)}`, garbage),
      put(`${prefix}.${part(0)}.crc`, garbage),
      put(`${prefix}README.txt`, garbage),
      // A sibling folder whose name extends this one's: outside the dataset.
      put(`${base}/committed-2/${part(0)}`, garbage),
    ]);

    const observation = await observeOutput(s3, uri);

    expect(observation).toEqual({
      uri,
      bucket,
      prefix,
      success: {
        state: 'manifest',
        manifest: {
          committer: 'magic',
          filenames: parts.map((p) => `/${prefix}${p.name}`),
          jobId: '8329c807-394a-42a0-8705-f6e9985a4858',
          hostname: 'spark-driver-0',
          timestamp: 1795499036566,
        },
      },
      files: [
        { key: partitioned.key, bytes: partitioned.file.length, rows: 5, schema: FEATURE_SCHEMA },
        ...parts.map((p) => ({ key: prefix + p.name, bytes: p.file.length, rows: p.rows, schema: FEATURE_SCHEMA })),
      ],
      unreadable: [],
      metrics: {
        state: 'present',
        metrics: recordedMetrics(parts.map((p) => p.name)),
      },
    });
  });

  it('records an empty, missing or malformed _SUCCESS and malformed metrics as they are', async () => {
    const cases = {
      empty: { success: '', metrics: undefined },
      missing: { success: undefined, metrics: undefined },
      invalid: { success: '{"name": "org.apache.hadoop.fs.s3a.commit.files.SuccessData/1", "committer": ', metrics: '{"schema": "orchard.featurize.metrics/v1",' },
      'bad-field': { success: undefined, metrics: JSON.stringify({ ...jobMetrics('s3a://x/y/', []), images: { found: 3, considered: 3, decoded: '2', failed: 1, failures: [] } }) },
    };
    const observations = await Promise.all(
      Object.entries(cases).map(async ([name, { success, metrics }]) => {
        const { prefix, uri } = output(`marker-${name}`);
        await put(prefix + part(0), featureFile(3, 3));
        if (success !== undefined) await put(`${prefix}_SUCCESS`, success);
        if (metrics !== undefined) await put(`${prefix}_orchard/metrics.json`, metrics);
        return [name, await observeOutput(s3, uri)] as const;
      }),
    );
    const byName = Object.fromEntries(observations);
    expect(byName.empty!.success).toEqual({ state: 'empty' });
    expect(byName.missing!.success).toEqual({ state: 'missing' });
    expect(byName.invalid!.success).toMatchObject({ state: 'invalid', error: expect.stringMatching(/^_SUCCESS: not JSON \(/) });
    expect(byName.empty!.metrics).toEqual({ state: 'missing' });
    expect(byName.invalid!.metrics).toMatchObject({ state: 'invalid', error: expect.stringMatching(/^_orchard\/metrics.json: not JSON \(/) });
    expect(byName['bad-field']!.metrics).toEqual({ state: 'invalid', error: '_orchard/metrics.json: images.decoded is string "2", expected integer' });
    // The data is recorded whatever the markers say.
    for (const [, observation] of observations) expect(observation.files.map((f) => f.rows)).toEqual([3]);
  });

  it('pages through the listing with continuation tokens', async () => {
    const { prefix, uri } = output('paged');
    const file = featureFile(2, 2);
    const names = Array.from({ length: 20 }, (_, i) => part(i));
    await Promise.all([...names.map((name) => put(prefix + name, file)), put(`${prefix}_SUCCESS`, ''), put(`${prefix}_orchard/metrics.json`, '{}')]);

    const { client, requests } = recordingClient();
    const paged = await observeOutput(client, uri, { pageSize: 7 });
    client.destroy();

    // 22 keys, 7 a page.
    expect(requests.filter((r) => r.command === 'ListObjectsV2Command')).toHaveLength(4);
    expect(paged.files.map((f) => f.key)).toEqual(names.map((name) => prefix + name));
    expect(paged.files.every((f) => f.rows === 2 && f.bytes === file.length)).toBe(true);
    expect(await observeOutput(s3, uri)).toEqual(paged);
  });

  it('reports files that are not Parquet as unreadable, and still reads the others', async () => {
    const { prefix, uri } = output('corrupt');
    const good = featureFile(10, 4);
    const footerLength = new DataView(good.buffer).getUint32(good.length - 8, true);
    const lyingLength = good.slice();
    new DataView(lyingLength.buffer).setUint32(good.length - 8, 1_000_000, true);
    const garbledFooter = good.slice();
    garbledFooter.fill(0xff, good.length - 8 - footerLength, good.length - 8);
    const files = [
      [part(0), good],
      [part(1), good.slice(0, 700)],
      [part(2), new TextEncoder().encode('<Error><Code>AccessDenied</Code></Error>')],
      [part(3), new Uint8Array(0)],
      [part(4), lyingLength],
      [part(5), garbledFooter],
    ] as const;
    await Promise.all(files.map(([name, body]) => put(prefix + name, body)));

    const observation = await observeOutput(s3, uri);

    expect(observation.files).toEqual([{ key: prefix + part(0), bytes: good.length, rows: 10, schema: FEATURE_SCHEMA }]);
    const tail = (bytes: Uint8Array) => Array.from(bytes.subarray(-4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    expect(observation.unreadable).toEqual([
      { key: prefix + part(1), bytes: 700, error: `last 4 bytes are not PAR1 (found ${tail(good.slice(0, 700))})` },
      { key: prefix + part(2), bytes: files[2][1].length, error: 'last 4 bytes are not PAR1 (found 72 6f 72 3e)' },
      { key: prefix + part(3), bytes: 0, error: 'file size 0 is too short for Parquet (magic, footer length and magic alone take 12 bytes)' },
      { key: prefix + part(4), bytes: good.length, error: `footer length 1000000 exceeds file size ${good.length}` },
      { key: prefix + part(5), bytes: good.length, error: expect.stringMatching(new RegExp(`^footer of ${footerLength} bytes is not valid Parquet metadata: `)) },
    ]);
  });

  it('reads a footer longer than 64 KiB with exactly two ranged GETs, and a small file with one', async () => {
    const { prefix, uri } = output('wide');
    const columns = Array.from({ length: 1500 }, (_, c) => `pc_${String(c).padStart(4, '0')}`);
    const wide = new Uint8Array(parquetWriteBuffer({ columnData: columns.map((name, c) => ({ name, data: [c, c / 2, c / 4], type: 'DOUBLE' as const })) }));
    const footerLength = new DataView(wide.buffer).getUint32(wide.length - 8, true);
    expect(footerLength + 8).toBeGreaterThan(FOOTER_FETCH_BYTES);
    const small = featureFile(4, 4);
    await Promise.all([put(prefix + part(0), wide), put(prefix + part(1), small)]);

    const { client, requests } = recordingClient();
    const observation = await observeOutput(client, uri);
    client.destroy();

    expect(observation.files).toEqual([
      { key: prefix + part(0), bytes: wide.length, rows: 3, schema: columns.map((name) => ({ name, type: 'double' })) },
      { key: prefix + part(1), bytes: small.length, rows: 4, schema: FEATURE_SCHEMA },
    ]);
    const gets = (key: string) => requests.filter((r) => r.command === 'GetObjectCommand' && r.key === key).map((r) => r.range);
    expect(gets(prefix + part(0))).toEqual([
      `bytes=${wide.length - FOOTER_FETCH_BYTES}-${wide.length - 1}`,
      `bytes=${wide.length - footerLength - 8}-${wide.length - FOOTER_FETCH_BYTES - 1}`,
    ]);
    expect(gets(prefix + part(1))).toEqual([`bytes=0-${small.length - 1}`]);
    // Whole-object reads are for the two small JSON files only.
    expect(requests.filter((r) => r.command === 'GetObjectCommand' && r.range === undefined).map((r) => r.key)).toEqual([
      `${prefix}_SUCCESS`,
      `${prefix}_orchard/metrics.json`,
    ]);
  });

  it('reads at most `concurrency` footers at once', async () => {
    const { prefix, uri } = output('bounded');
    const file = featureFile(3, 3);
    await Promise.all(Array.from({ length: 12 }, (_, i) => put(prefix + part(i), file)));

    const { client, maxRangedInFlight } = recordingClient();
    const observation = await observeOutput(client, uri, { concurrency: 3 });
    client.destroy();

    expect(observation.files).toHaveLength(12);
    expect(maxRangedInFlight()).toBeLessThanOrEqual(3);
    expect(maxRangedInFlight()).toBeGreaterThan(1);
  });

  it('throws S3ReadError with the errno when S3 is unreachable', async () => {
    const port = await closedPort();
    const { accessKeyId, secretAccessKey, region } = stack().s3;
    const unreachable = new S3Client({
      endpoint: `http://127.0.0.1:${port}`,
      forcePathStyle: true,
      region,
      credentials: { accessKeyId: accessKeyId!, secretAccessKey: secretAccessKey! },
      maxAttempts: 1,
    });
    const uri = `s3a://${bucket}/${base}/unreachable/`;
    const error = await rejection(observeOutput(unreachable, uri));
    unreachable.destroy();
    expect(error).toMatchObject({ code: 'ECONNREFUSED', uri, bucket, key: `${base}/unreachable/_SUCCESS`, operation: 'GetObject', httpStatus: undefined });
    expect(error.message).toMatch(new RegExp(`^GetObject s3://${bucket}/${base}/unreachable/_SUCCESS failed \\(ECONNREFUSED\\): `));
    expect(error.hint).toContain('S3 endpoint');
    expect(error.context).toMatchObject({ uri, code: 'ECONNREFUSED' });
  });

  it("throws S3ReadError with S3's error code for a missing bucket and for refused credentials", async () => {
    const missingBucket = `orchard-missing-${randomBytes(4).toString('hex')}`;
    const noBucket = await rejection(observeOutput(s3, `s3a://${missingBucket}/features/run-1/`));
    expect(noBucket).toMatchObject({ code: 'NoSuchBucket', httpStatus: 404, bucket: missingBucket });
    expect(noBucket.hint).toContain(`check the bucket name in s3a://${missingBucket}/features/run-1/`);

    const intruder = s3Client({ ...stack().s3, secretAccessKey: 'not-the-secret' });
    const denied = await rejection(observeOutput(intruder, output('denied').uri));
    intruder.destroy();
    expect(denied).toMatchObject({ code: 'SignatureDoesNotMatch', httpStatus: 403 });
    expect(denied.hint).toContain("check the controller's credentials: its IAM role (IRSA) must allow s3:ListBucket");
  });

  it('throws S3ReadError (AbortError) when the caller aborts', async () => {
    const { prefix, uri } = output('aborted');
    await put(prefix + part(0), featureFile(3, 3));

    const early = await rejection(observeOutput(s3, uri, { signal: AbortSignal.abort() }));
    expect(early.code).toBe('AbortError');
    expect(early.hint).toContain('cancelled');

    const controller = new AbortController();
    const pending = observeOutput(s3, uri, { signal: controller.signal });
    controller.abort();
    expect((await rejection(pending)).code).toBe('AbortError');
  });

  it('throws OrchardError, not S3ReadError, for what no retry can fix', async () => {
    await expect(observeOutput(s3, `s3a://${bucket}/`)).rejects.toThrow(`output URI names the whole bucket "${bucket}", not a dataset folder`);
    await expect(observeOutput(s3, `s3a://${bucket}/`)).rejects.not.toBeInstanceOf(S3ReadError);
    await expect(observeOutput(s3, output('x').uri, { concurrency: 0 })).rejects.toThrow('footer read concurrency 0 is not a positive integer');
  });
});

describe('isDataFile', () => {
  it("follows Hadoop's hidden-path rule on every component, and takes only .parquet files", () => {
    const cases: [string, boolean][] = [
      [part(0), true],
      [`label=Apple/${part(0)}`, true],
      ['year=2026/month=11/part-0.parquet', true],
      ['_orchard/pca-model/data/part-0.parquet', false],
      ['_temporary/0/part-0.parquet', false],
      ['__magic_job-1/part-0.parquet', false],
      ['.spark-staging-1/part-0.parquet', false],
      ['label=Apple/_committing/part-0.parquet', false],
      ['label=Apple/.part-0.parquet', false],
      ['_SUCCESS', false],
      ['.part-0.parquet.crc', false],
      ['part-0.parquet.crc', false],
      ['part-0.json', false],
      ['label=Apple/', false],
    ];
    for (const [key, expected] of cases) expect(isDataFile(key), key).toBe(expected);
  });
});

describe('parseJobMetrics', () => {
  const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
  const valid = jobMetrics('s3a://fruits/features/run-1/', [
    { name: part(1), bytes: 200 },
    { name: part(0), bytes: 100 },
  ]);

  it('maps the fields the controller records', () => {
    expect(parseJobMetrics(encode(valid))).toEqual({
      state: 'present',
      metrics: recordedMetrics([part(1), part(0)]),
    });
  });

  it('takes a null throughput (a run too short to time) as 0', () => {
    const metrics = parseJobMetrics(encode({ ...valid, images_per_second_wall: null, timings: { wall_s: 0 } }));
    expect(metrics).toMatchObject({ state: 'present', metrics: { imagesPerSecond: 0, durationSeconds: 0 } });
  });

  it('names the field that is missing or of the wrong type, by the schema (src/api/job-metrics.schema.json)', () => {
    const images = valid.images as Record<string, unknown>;
    const cases: [unknown, string][] = [
      [{ ...valid, schema: 'orchard.featurize.metrics/v2' }, 'schema is string "orchard.featurize.metrics/v2", expected "orchard.featurize.metrics/v1"'],
      [{ ...valid, schema: undefined }, 'schema is missing'],
      [[valid], 'the document is an array, expected object'],
      [{ ...valid, images: undefined }, 'images is missing'],
      [{ ...valid, images: { ...images, failed: -1 } }, 'images.failed is number -1, expected at least 0'],
      [{ ...valid, images: { ...images, found: 4.5 } }, 'images.found is number 4.5, expected integer'],
      [{ ...valid, images: { ...images, considered: undefined } }, 'images.considered is missing'],
      [{ ...valid, label_counts: [13, 12] }, 'label_counts is an array, expected object'],
      [{ ...valid, label_counts: { Apple: '13' } }, 'label_counts.Apple is string "13", expected integer'],
      [{ ...valid, timings: {} }, 'timings.wall_s is missing'],
      [{ ...valid, images_per_second_wall: 'fast' }, 'images_per_second_wall is string "fast", expected number or null'],
      [{ ...valid, images_per_second_wall: undefined }, 'images_per_second_wall is missing'],
      [{ ...valid, rows_written: null }, 'rows_written is null, expected integer'],
      [{ ...valid, files: 'part-0.parquet' }, 'files is string "part-0.parquet", expected array'],
      [{ ...valid, files: [{ name: part(0), bytes: 1 }, { bytes: 3 }] }, 'files[1].name is missing'],
      [{ ...valid, model: { name: 'resnet50' } }, 'model.weights is missing'],
      [{ ...valid, pca: { k: 2, explained_variance: [0.5, 0.2] } }, 'pca.explained_variance_total is missing'],
    ];
    for (const [json, error] of cases) expect(parseJobMetrics(encode(json)), error).toEqual({ state: 'invalid', error: `_orchard/metrics.json: ${error}` });
    expect(parseJobMetrics(new TextEncoder().encode('{"schema":'))).toMatchObject({ state: 'invalid', error: expect.stringMatching(/^_orchard\/metrics.json: not JSON \(/) });
  });

  it('keeps a label named __proto__ as a label', () => {
    const metrics = parseJobMetrics(new TextEncoder().encode(JSON.stringify(valid).replace('"Apple"', '"__proto__"')));
    expect(metrics.state === 'present' && Object.keys(metrics.metrics.labels)).toEqual(['__proto__', 'Banana', 'Cherry']);
  });
});
