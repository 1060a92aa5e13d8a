import { randomBytes } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { parquetWriteBuffer } from 'hyparquet-writer';

export interface DatasetOptions {
  readonly files: number;
  readonly rowsPerFile: number;
  /** What `_SUCCESS` holds: an S3A magic committer manifest, zero bytes (classic committer), or nothing. */
  readonly success?: 'magic' | 'empty' | 'none';
  /** Write orchard's `_orchard/metrics.json`; `rowsWritten` overrides its row count to fake a mismatch. */
  readonly metrics?: boolean | { readonly rowsWritten: number };
  /** The `probe` section of the metrics (test/support/probe.ts); none by default, as in metrics from before the probe. */
  readonly probe?: Record<string, unknown>;
  /** The `lineage` section of the metrics; none by default, as in metrics from before incremental runs. */
  readonly lineage?: Record<string, unknown>;
  /** A DOUBLE column beyond path, label and score, to change the schema between datasets. */
  readonly extraColumn?: string;
  readonly concurrency?: number;
}

export interface Dataset {
  readonly uri: string;
  readonly keys: readonly string[];
  readonly rows: number;
  readonly bytes: number;
  readonly labels: Readonly<Record<string, number>>;
}

const LABELS = ['Apple Braeburn', 'Banana', 'Cherry 1', 'Pear'];

/** Writes a dataset laid out as orchard's job writes one: real Parquet parts, `_SUCCESS`, job metrics. */
export async function writeDataset(s3: S3Client, bucket: string, prefix: string, options: DatasetOptions): Promise<Dataset> {
  const base = prefix.replace(/\/?$/, '/');
  const job = randomBytes(8).toString('hex');
  const labels: Record<string, number> = {};
  const parts = Array.from({ length: options.files }, (_, i) => {
    const paths = Array.from({ length: options.rowsPerFile }, (_, r) => `s3a://${bucket}/input/${i}/${r}.jpg`);
    const rowLabels = paths.map((_, r) => LABELS[(i + r) % LABELS.length]!);
    for (const l of rowLabels) labels[l] = (labels[l] ?? 0) + 1;
    const body = new Uint8Array(
      parquetWriteBuffer({
        columnData: [
          { name: 'path', data: paths, type: 'STRING' },
          { name: 'label', data: rowLabels, type: 'STRING' },
          { name: 'score', data: paths.map((_, r) => r / 7), type: 'DOUBLE' },
          ...(options.extraColumn ? [{ name: options.extraColumn, data: paths.map(() => 1), type: 'DOUBLE' as const }] : []),
        ],
      }),
    );
    return { key: `${base}part-${String(i).padStart(5, '0')}-${job}-c000.snappy.parquet`, body };
  });
  const queue = [...parts];
  await Promise.all(
    Array.from({ length: options.concurrency ?? 16 }, async () => {
      for (let part = queue.shift(); part; part = queue.shift()) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: part.key, Body: part.body }));
    }),
  );
  const rows = options.files * options.rowsPerFile;
  const names = parts.map((p) => p.key.slice(base.length));
  if (options.metrics !== false) {
    const rowsWritten = typeof options.metrics === 'object' ? options.metrics.rowsWritten : rows;
    const metrics = {
      schema: 'orchard.featurize.metrics/v1',
      input: 's3a://fruits/Training',
      output: `s3a://${bucket}/${base}`,
      images: { found: rows + 1, considered: rows + 1, decoded: rowsWritten, failed: 1, failures: [{ path: 'broken.jpg', reason: 'cannot identify image file' }] },
      rows_written: rowsWritten,
      label_counts: labels,
      files: parts.map((p, i) => ({ name: names[i], bytes: p.body.byteLength })),
      timings: { wall_s: 12.5, inference_s: 10 },
      images_per_second: 10,
      images_per_second_wall: 8,
      pca: null,
      model: { name: 'resnet50', weights: 'random' },
      ...(options.probe ? { probe: options.probe } : {}),
      ...(options.lineage ? { lineage: options.lineage } : {}),
    };
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${base}_orchard/metrics.json`, Body: JSON.stringify(metrics) }));
  }
  const success = options.success ?? 'magic';
  if (success !== 'none') {
    const manifest = {
      name: 'org.apache.hadoop.fs.s3a.commit.files.SuccessData/1',
      timestamp: Date.now(),
      date: new Date().toString(),
      hostname: 'driver-0',
      committer: 'magic',
      description: 'Task committer',
      jobId: `job-${job}`,
      metrics: {},
      diagnostics: {},
      // Hadoop names at most 100 files in the manifest.
      filenames: parts.slice(0, 100).map((p) => `/${p.key}`),
    };
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${base}_SUCCESS`, Body: success === 'magic' ? JSON.stringify(manifest) : new Uint8Array(0) }));
  }
  return { uri: `s3a://${bucket}/${base}`, keys: parts.map((p) => p.key), rows, bytes: parts.reduce((s, p) => s + p.body.byteLength, 0), labels };
}
