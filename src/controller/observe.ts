import type { S3Client } from '@aws-sdk/client-s3';
import { isDataFile, isPartialPath, METRICS_KEY } from '../api/dataset.ts';
import type { Leftovers } from '../api/parquet-output.ts';
import { featureQualityOf, lineageOf, parseJobMetricsFile } from '../api/job-metrics.ts';
import { OrchardError } from '../errors.ts';
import { readParquetFooter } from '../parquet/footer.ts';
import { OutputReads } from '../s3/output-reads.ts';
import { parseSuccessMarker, SUCCESS_MARKER, type SuccessMarker } from '../s3/success-manifest.ts';
import { parseS3Uri } from '../api/s3-uri.ts';
import type { JobMetricsFile, OutputObservation, ParquetFile, UnreadableFile } from './observation.ts';

/**
 * Footer reads in flight per output. A feature dataset has one file per 20,000 images (a few
 * dozen files); 16 parallel ranged GETs read them in one or two round trips while staying far
 * below the SDK's default connection pool (50) that concurrent reconciles share.
 */
export const DEFAULT_CONCURRENCY = 16;

export interface ObserveOptions {
  /** Footers read at once. @default 16 */
  readonly concurrency?: number;
  /** Cancels every request in flight; the observation then rejects with an S3ReadError (`AbortError`). */
  readonly signal?: AbortSignal;
  /** Keys per ListObjectsV2 page. @default S3's own maximum, 1000; tests set a few to see paging. */
  readonly pageSize?: number;
}

/**
 * Everything S3 holds about one output URI: its `_SUCCESS` marker, its Parquet files (row counts
 * and schemas from their footers) and orchard's job metrics. Content problems are recorded in the
 * result; a URI that is not an S3 folder throws OrchardError, and a failure to read S3 throws
 * S3ReadError.
 */
export async function observeOutput(s3: S3Client, uri: string, options: ObserveOptions = {}): Promise<OutputObservation> {
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new OrchardError(`footer read concurrency ${concurrency} is not a positive integer`, 'pass a concurrency of 1 or more', { uri });
  }
  const { bucket, prefix } = parseS3Uri(uri);
  const io = new OutputReads(s3, uri, bucket, options.signal);

  // Committers write _SUCCESS once every data file is visible, and the job writes its metrics
  // after _SUCCESS. S3 listings are strongly consistent (since December 2020), so reading in that
  // order, a manifest seen here means the listing below holds every committed file.
  const successBytes = await io.get(prefix + SUCCESS_MARKER);
  const success: SuccessMarker = successBytes ? parseSuccessMarker(successBytes) : { state: 'missing' };
  const [listed, metricsBytes] = await Promise.all([io.list(prefix, options.pageSize), io.get(prefix + METRICS_KEY)]);
  const metrics: JobMetricsFile = metricsBytes ? parseJobMetrics(metricsBytes) : { state: 'missing' };

  const dataFiles = listed.filter((object) => isDataFile(object.key.slice(prefix.length))).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const footers = await mapBounded(dataFiles, concurrency, (object) => readParquetFooter((offset, length) => io.range(object, offset, length), object.bytes));

  const files: ParquetFile[] = [];
  const unreadable: UnreadableFile[] = [];
  dataFiles.forEach((object, index) => {
    const footer = footers[index]!;
    if (footer.readable) files.push({ key: object.key, bytes: object.bytes, rows: footer.rows, schema: footer.schema });
    else unreadable.push({ key: object.key, bytes: object.bytes, error: footer.error });
  });
  return { uri, bucket, prefix, success, files, unreadable, metrics };
}

/**
 * What failed or interrupted writes left under an output: pending multipart uploads and the magic
 * committer's `__magic*` objects; undefined when there are none. Throws S3ReadError.
 */
export async function observeLeftovers(s3: S3Client, uri: string, signal?: AbortSignal): Promise<Leftovers | undefined> {
  const { bucket, prefix } = parseS3Uri(uri);
  const io = new OutputReads(s3, uri, bucket, signal);
  const [uploads, listed] = await Promise.all([io.uploads(prefix), io.list(prefix)]);
  const partial = listed.filter((object) => isPartialPath(object.key.slice(prefix.length)));
  if (uploads.length === 0 && partial.length === 0) return undefined;
  const oldest = uploads.map((u) => u.initiated.getTime()).sort((a, b) => a - b)[0];
  return {
    pendingUploads: uploads.length,
    ...(oldest !== undefined ? { oldestUpload: new Date(oldest).toISOString().replace(/\.\d{3}Z$/, 'Z') } : {}),
    partialObjects: partial.length,
    partialBytes: partial.reduce((sum, o) => sum + o.bytes, 0),
  };
}

/** The job's metrics, validated against their schema (src/api/job-metrics.ts), as the record keeps them. */
export function parseJobMetrics(bytes: Uint8Array): Exclude<JobMetricsFile, { state: 'missing' }> {
  const parsed = parseJobMetricsFile(bytes);
  if (!parsed.ok) return { state: 'invalid', error: parsed.error };
  const m = parsed.document;
  const featureQuality = featureQualityOf(m.probe);
  const lineage = lineageOf(m.lineage);
  return {
    state: 'present',
    metrics: {
      imagesFound: m.images.found,
      imagesDecoded: m.images.decoded,
      imagesFailed: m.images.failed,
      labels: m.label_counts,
      durationSeconds: m.timings.wall_s,
      // The job writes null when its wall time rounds to zero.
      imagesPerSecond: m.images_per_second_wall ?? 0,
      rowsWritten: m.rows_written,
      files: m.files.map((file) => file.name),
      ...(featureQuality ? { featureQuality } : {}),
      ...(lineage ? { lineage } : {}),
    },
  };
}

/**
 * `fn` over `items`, at most `concurrency` at a time, results in input order. After a failure no
 * new item starts, so an unreachable S3 costs a few requests, not one per file.
 */
async function mapBounded<T, R>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await fn(items[index]!);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}
