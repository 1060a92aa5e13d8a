import type { S3Client } from '@aws-sdk/client-s3';
import { parquetMetadataAsync, parquetReadObjects, parquetSchema, type AsyncBuffer, type FileMetaData } from 'hyparquet';
import { isDataFile, METRICS_KEY, METRICS_SCHEMA } from '../api/dataset.ts';
import { featureQualityOf, lineageOf, parseJobMetricsFile } from '../api/job-metrics.ts';
import type { FeatureQuality, Lineage } from '../api/parquet-output.ts';
import { OrchardError } from '../errors.ts';
import { FOOTER_FETCH_BYTES } from '../parquet/footer.ts';
import { OutputReads, type ListedObject } from '../s3/output-reads.ts';
import { objectUri, parseS3Uri } from '../api/s3-uri.ts';

/**
 * Points in the PCA scatter at most: enough to show every class of Fruits-360 as a cloud, few
 * enough that the report stays a few hundred KiB and a browser draws it at once.
 */
export const DEFAULT_MAX_POINTS = 5_000;

export interface ReportOptions {
  /** Points in the PCA scatter at most. @default 5,000 */
  readonly maxPoints?: number;
  /** Cancels every request in flight. */
  readonly signal?: AbortSignal;
}

export interface FailedImage {
  readonly path: string;
  readonly reason: string;
}

export interface ScatterPoint {
  readonly label: string;
  /** First and second PCA components. */
  readonly x: number;
  readonly y: number;
}

export interface DataFile {
  /** Object key, relative to the bucket. */
  readonly key: string;
  readonly bytes: number;
  readonly rows: number;
}

/** Everything a report shows about one feature-extraction output, read from S3. */
export interface ReportData {
  readonly outputUri: string;
  /** The job's input URI, as the job recorded it. */
  readonly inputUri: string;
  readonly images: {
    readonly found: number;
    /** Images the job read: all found, or the first `--limit` of them by path. */
    readonly considered: number;
    readonly decoded: number;
    readonly failed: number;
    readonly failures: readonly FailedImage[];
  };
  readonly rowsWritten: number;
  readonly labelCounts: Readonly<Record<string, number>>;
  /** Null when the job ran with `--pca-components 0`. */
  readonly pca: { readonly k: number; readonly explainedVariance: readonly number[]; readonly explainedVarianceTotal: number } | null;
  /** The job's linear probe of its features, as the ParquetOutput records it; null when the job did not probe. */
  readonly quality: FeatureQuality | null;
  /** Which dataset an incremental run started from and what it reused; null in metrics from before incremental runs. */
  readonly lineage: Lineage | null;
  /**
   * Images per class of the parent dataset, from its metrics, to show what this run added and
   * removed per class; null without a parent, or when the parent's metrics are gone (`orchard gc`).
   */
  readonly parentLabelCounts: Readonly<Record<string, number>> | null;
  /** The job's own stage timings in seconds (`wall_s`, `inference_s`, `pca_s`, `write_s`). */
  readonly timings: Readonly<Record<string, number>>;
  /** Images per second of inference, and of the whole job; null when the job's clock read zero. */
  readonly imagesPerSecond: number | null;
  readonly imagesPerSecondWall: number | null;
  readonly model: { readonly name: string; readonly weights: string } | null;
  /** The Parquet data files under the output, sorted by key, with row counts from their footers. */
  readonly files: readonly DataFile[];
  /**
   * A deterministic sample of rows with their first two PCA components, evenly spread over the
   * dataset in path order; null when the output has fewer than 2 PCA components.
   */
  readonly scatter: { readonly rows: number; readonly points: readonly ScatterPoint[] } | null;
  /** What the ranged reads cost: a fraction of `files` bytes, since `features` is never fetched. */
  readonly fetched: { readonly requests: number; readonly bytes: number };
}


/**
 * Reads a report's data from an output URI: the job's `_orchard/metrics.json`, the footers of the
 * Parquet data files, and, for the scatter, only their `label` and `pca` column chunks through
 * ranged GETs. Throws OrchardError when the output has no metrics or files that cannot be read,
 * and S3ReadError when S3 cannot be reached.
 */
export async function collectReportData(s3: S3Client, outputUri: string, options: ReportOptions = {}): Promise<ReportData> {
  const maxPoints = options.maxPoints ?? DEFAULT_MAX_POINTS;
  if (!Number.isSafeInteger(maxPoints) || maxPoints < 1) {
    throw new OrchardError(`scatter point limit ${maxPoints} is not a positive integer`, 'pass maxPoints of 1 or more', { uri: outputUri });
  }
  const { bucket, prefix } = parseS3Uri(outputUri);
  const io = new OutputReads(s3, outputUri, bucket, options.signal);

  const metricsBytes = await io.get(prefix + METRICS_KEY);
  if (!metricsBytes) {
    throw new OrchardError(`${objectUri(bucket, prefix + METRICS_KEY)} does not exist, so there is nothing to report`, 'the job writes its metrics last: wait for it to finish, or read its driver log for why it failed', {
      uri: outputUri,
    });
  }
  const metrics = parseMetrics(metricsBytes, objectUri(bucket, prefix + METRICS_KEY));

  const listed = (await io.list(prefix)).filter((object) => isDataFile(object.key.slice(prefix.length))).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  // One file per 20,000 images (metrics.py ROWS_PER_OUTPUT_FILE): a few dozen footers at most, read at once.
  const footers = await Promise.all(listed.map((object) => readFooter(io, object)));
  const files = listed.map((object, index) => ({ key: object.key, bytes: object.bytes, rows: Number(footers[index]!.metadata.num_rows) }));

  const scatter = metrics.pca && metrics.pca.k >= 2 ? await readScatter(io, footers, maxPoints) : null;
  const parentLabelCounts = metrics.lineage?.parent ? await readParentLabelCounts(s3, metrics.lineage.parent, options.signal) : null;
  return { ...metrics, outputUri, files, scatter, parentLabelCounts, fetched: { requests: io.requests, bytes: io.bytes } };
}

/** The parent dataset's images per class, from its metrics; null when they are gone or unreadable. */
async function readParentLabelCounts(s3: S3Client, parentUri: string, signal: AbortSignal | undefined): Promise<Readonly<Record<string, number>> | null> {
  const { bucket, prefix } = parseS3Uri(parentUri, 'parent dataset URI');
  const bytes = await new OutputReads(s3, parentUri, bucket, signal).get(prefix + METRICS_KEY);
  const parsed = bytes && parseJobMetricsFile(bytes);
  return parsed && parsed.ok ? parsed.document.label_counts : null;
}

interface Footer {
  readonly object: ListedObject;
  readonly file: AsyncBuffer;
  readonly metadata: FileMetaData;
}

async function readFooter(io: OutputReads, object: ListedObject): Promise<Footer> {
  const file = asyncBuffer(io, object);
  const metadata = await parquet(io, object, () => parquetMetadataAsync(file, { initialFetchSize: FOOTER_FETCH_BYTES, geoparquet: false }));
  return { object, file, metadata };
}

async function readScatter(io: OutputReads, footers: readonly Footer[], maxPoints: number): Promise<ReportData['scatter']> {
  const rows = footers.reduce((sum, footer) => sum + Number(footer.metadata.num_rows), 0);
  const wanted = Math.min(rows, maxPoints);
  // The job sorts rows by path, and paths group images by class folder: an even stride through
  // that order samples every class in proportion, and the same output always gives the same sample.
  const sampled = (j: number) => Math.floor((j * rows) / wanted);
  const points: ScatterPoint[] = [];
  let start = 0;
  for (const footer of footers) {
    const count = Number(footer.metadata.num_rows);
    const end = start + count;
    if (points.length < wanted && sampled(points.length) < end) {
      const columns = parquetSchema(footer.metadata).children.map((child) => child.element.name);
      for (const column of ['label', 'pca']) {
        if (!columns.includes(column)) {
          throw new OrchardError(`${objectUri(io.bucket, footer.object.key)} has no "${column}" column, though the job's metrics record PCA`, 'the output was rewritten by another job or tool; re-run the featurize job into a fresh output', {
            uri: io.uri,
            columns: columns.join(', '),
          });
        }
      }
      // Files are read one after another: a file's pca chunk decodes to 20,000 arrays at once.
      const records = await parquet(io, footer.object, () => parquetReadObjects({ file: footer.file, metadata: footer.metadata, columns: ['label', 'pca'] }));
      for (let index = sampled(points.length); points.length < wanted && index < end; index = sampled(points.length)) {
        const record = records[index - start]!;
        const pca = record.pca as ArrayLike<number> | null;
        if (!pca || pca.length < 2) {
          throw new OrchardError(`row ${index - start} of ${objectUri(io.bucket, footer.object.key)} has ${pca ? pca.length : 'no'} PCA components, expected 2 or more`, 're-run the featurize job into a fresh output', {
            uri: io.uri,
          });
        }
        points.push({ label: String(record.label ?? ''), x: Number(pca[0]), y: Number(pca[1]) });
      }
    }
    start = end;
  }
  return { rows, points };
}

/** Runs a hyparquet read, naming the file when its content is not the Parquet it should be. */
async function parquet<T>(io: OutputReads, object: ListedObject, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof OrchardError) throw error;
    throw new OrchardError(
      `${objectUri(io.bucket, object.key)} is not readable Parquet: ${(error as Error).message}`,
      'the controller records unreadable files on the ParquetOutput; re-run the featurize job into a fresh output',
      { uri: io.uri, bytes: object.bytes },
      { cause: error },
    );
  }
}

/** The job's metrics, validated against their schema (src/api/job-metrics.ts), as the report shows them. */
function parseMetrics(bytes: Uint8Array, object: string): Omit<ReportData, 'outputUri' | 'files' | 'scatter' | 'parentLabelCounts' | 'fetched'> {
  const parsed = parseJobMetricsFile(bytes);
  if (!parsed.ok) {
    throw new OrchardError(`${object} is not orchard job metrics: ${parsed.error}`, `it should be written by the featurize job with schema "${METRICS_SCHEMA}"; re-run the job`, { object });
  }
  const m = parsed.document;
  return {
    inputUri: m.input,
    images: { found: m.images.found, considered: m.images.considered, decoded: m.images.decoded, failed: m.images.failed, failures: m.images.failures },
    rowsWritten: m.rows_written,
    labelCounts: m.label_counts,
    pca: m.pca && { k: m.pca.k, explainedVariance: m.pca.explained_variance, explainedVarianceTotal: m.pca.explained_variance_total },
    quality: featureQualityOf(m.probe) ?? null,
    lineage: lineageOf(m.lineage) ?? null,
    timings: m.timings,
    imagesPerSecond: m.images_per_second,
    imagesPerSecondWall: m.images_per_second_wall,
    model: { name: m.model.name, weights: m.model.weights },
  };
}

function asyncBuffer(io: OutputReads, object: ListedObject): AsyncBuffer {
  return {
    byteLength: object.bytes,
    slice: async (start, end = object.bytes) => {
      if (end <= start) return new ArrayBuffer(0);
      // The SDK may hand out a view into a larger pooled buffer; hyparquet wants exactly the range.
      return (await io.range(object, start, end - start)).slice().buffer;
    },
  };
}
