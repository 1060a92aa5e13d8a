/**
 * What the controller reads from S3 about one output URI. The reconciler gathers it
 * (`observeOutput`) and turns it into a ParquetOutput status (`desiredOutputStatus`) without I/O.
 * Problems with the content are data here; only a failure to reach S3 is thrown (S3ReadError).
 */
import type { FeatureQuality, Lineage } from '../api/parquet-output.ts';
import type { Column } from '../parquet/footer.ts';
import type { SuccessMarker } from '../s3/success-manifest.ts';

export interface ParquetFile {
  /** Object key, relative to the bucket. */
  readonly key: string;
  readonly bytes: number;
  readonly rows: number;
  readonly schema: readonly Column[];
}

export interface UnreadableFile {
  readonly key: string;
  readonly bytes: number;
  readonly error: string;
}

/** The parts of orchard's job metrics (`<output>/_orchard/metrics.json`) the controller records. */
export interface JobMetrics {
  readonly imagesFound: number;
  readonly imagesDecoded: number;
  readonly imagesFailed: number;
  readonly labels: Readonly<Record<string, number>>;
  readonly durationSeconds: number;
  readonly imagesPerSecond: number;
  readonly rowsWritten: number;
  /** Names (last path component) of the Parquet files the job says it wrote. */
  readonly files: readonly string[];
  /** The job's linear probe and the quality gate it ran with; absent when the job did not probe. */
  readonly featureQuality?: FeatureQuality;
  /** The parent dataset and what the run reused; absent in metrics from before incremental runs. */
  readonly lineage?: Lineage;
}

export type JobMetricsFile =
  | { readonly state: 'missing' }
  | { readonly state: 'invalid'; readonly error: string }
  | { readonly state: 'present'; readonly metrics: JobMetrics };

export interface OutputObservation {
  readonly uri: string;
  readonly bucket: string;
  /** Key prefix of the dataset, ending with `/`. */
  readonly prefix: string;
  readonly success: SuccessMarker;
  /** Data files: `*.parquet` keys under the prefix with no hidden (`_` or `.`) path component, sorted by key. */
  readonly files: readonly ParquetFile[];
  readonly unreadable: readonly UnreadableFile[];
  readonly metrics: JobMetricsFile;
}
