import { Ajv, type ErrorObject } from 'ajv';
import { describeValue } from '../format.ts';
import { METRICS_KEY } from './dataset.ts';
import { WORST_CLASSES_RECORDED, type FeatureQuality, type Lineage } from './parquet-output.ts';
import schema from './job-metrics.schema.json' with { type: 'json' };

/**
 * `_orchard/metrics.json` as the featurize job writes it. job-metrics.schema.json is the one
 * definition of the file: pytest checks the job's output against it, and `parseJobMetricsFile`
 * validates against it before any field is read. This type spells out the fields TypeScript reads.
 */
export interface JobMetricsDocument {
  readonly schema: 'orchard.featurize.metrics/v1';
  readonly input: string;
  readonly output: string;
  readonly images: {
    readonly found: number;
    readonly considered: number;
    readonly decoded: number;
    readonly failed: number;
    readonly failures: readonly { readonly path: string; readonly reason: string }[];
  };
  readonly rows_written: number;
  readonly label_counts: Readonly<Record<string, number>>;
  readonly pca: null | { readonly k: number; readonly explained_variance: readonly number[]; readonly explained_variance_total: number };
  /** Absent in metrics written before the probe existed; null when the job ran with --no-probe. */
  readonly probe?: JobProbeMetrics | null;
  readonly files: readonly { readonly name: string; readonly bytes: number }[];
  readonly timings: Readonly<Record<string, number>> & { readonly wall_s: number };
  readonly images_per_second: number | null;
  readonly images_per_second_wall: number | null;
  readonly model: { readonly name: string; readonly weights: string };
  /** Absent in metrics written before incremental runs existed. */
  readonly lineage?: JobLineageMetrics;
}

/** Which dataset a run started from and what it reused (spark-images/orchard_featurize/lineage.py). */
export interface JobLineageMetrics {
  readonly mode: 'full' | 'incremental';
  readonly parent: string | null;
  readonly reason: string;
  readonly images: { readonly reused: number; readonly featurized: number; readonly removed: number };
  readonly pca: {
    readonly action: 'fitted' | 'reused' | 'refitted' | 'off';
    readonly reason: string;
    readonly explained_variance_fitted: number | null;
    readonly explained_variance_new: number | null;
  };
}

/** The lineage as a ParquetOutput records it and the report shows it: camelCase, and no nulls. */
export function lineageOf(lineage: JobLineageMetrics | undefined): Lineage | undefined {
  if (!lineage) return undefined;
  const { pca } = lineage;
  return {
    mode: lineage.mode,
    ...(lineage.parent ? { parent: lineage.parent } : {}),
    reason: lineage.reason,
    images: { reused: lineage.images.reused, featurized: lineage.images.featurized, removed: lineage.images.removed },
    pca: {
      action: pca.action,
      reason: pca.reason,
      ...(pca.explained_variance_fitted !== null ? { explainedVarianceFitted: pca.explained_variance_fitted } : {}),
      ...(pca.explained_variance_new !== null ? { explainedVarianceNew: pca.explained_variance_new } : {}),
    },
  };
}

/** The job's linear probe (spark-images/orchard_featurize/probe.py): measured, or `skipped` with the reason. */
export interface JobProbeMetrics {
  readonly method: string;
  readonly split: { readonly key: string; readonly test_fraction: number };
  readonly min_top1: number | null;
  readonly skipped?: string;
  readonly features?: string;
  readonly width?: number;
  readonly classes?: number;
  readonly test_images?: number;
  readonly top1?: number;
  readonly top5?: number;
  readonly full?: { readonly width: number; readonly top1: number; readonly top5: number };
  readonly worst_classes?: readonly { readonly label: string; readonly recall: number; readonly images: number; readonly confused_with: string | null }[];
}

/** The probe as a ParquetOutput records it and the report shows it; undefined when the job did not probe. */
export function featureQualityOf(probe: JobProbeMetrics | null | undefined): FeatureQuality | undefined {
  if (!probe) return undefined;
  // Only the fields the job wrote: a status holds no nulls, and the same metrics give the same status.
  const defined = <T extends object>(fields: T) => Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Partial<T>;
  return {
    method: probe.method,
    split: `${probe.split.key}, ${Math.round(probe.split.test_fraction * 100)}% held out`,
    ...defined({
      features: probe.features,
      width: probe.width,
      classes: probe.classes,
      testImages: probe.test_images,
      top1: probe.top1,
      top5: probe.top5,
      fullWidthTop1: probe.full?.top1,
      minTop1: probe.min_top1 ?? undefined,
      skipped: probe.skipped,
      worstClasses: probe.worst_classes
        ?.slice(0, WORST_CLASSES_RECORDED)
        .map((c) => ({ label: c.label, recall: c.recall, images: c.images, ...(c.confused_with ? { confusedWith: c.confused_with } : {}) })),
    }),
  };
}

export type ParsedJobMetrics = { readonly ok: true; readonly document: JobMetricsDocument } | { readonly ok: false; readonly error: string };

// Compiled once per process; allErrors off, so the message names the first problem.
const validate = new Ajv({ strict: true }).compile<JobMetricsDocument>(schema);

/** The one parser of the job's metrics file: JSON, then the schema; an error names the field and what it should be. */
export function parseJobMetricsFile(bytes: Uint8Array): ParsedJobMetrics {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    return { ok: false, error: `${METRICS_KEY}: not JSON (${(error as Error).message})` };
  }
  if (validate(json)) return { ok: true, document: json };
  return { ok: false, error: `${METRICS_KEY}: ${explain(validate.errors![0]!, json)}` };
}

/** An ajv error as `<field> is <value>, expected <what>`, the field in dotted form as the job's code names it. */
function explain(error: ErrorObject, document: unknown): string {
  const segments = error.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const at = (path: readonly string[]) => path.reduce<string>((text, s) => (/^\d+$/.test(s) ? `${text}[${s}]` : text ? `${text}.${s}` : s), '') || 'the document';
  const value = segments.reduce<unknown>((v, s) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[s] : undefined), document);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return `${at([...segments, String(params.missingProperty)])} is missing`;
    case 'const':
      return `${at(segments)} is ${describeValue(value)}, expected ${JSON.stringify(params.allowedValue)}`;
    case 'type':
      return `${at(segments)} is ${describeValue(value)}, expected ${[params.type].flat().join(' or ')}`;
    case 'minimum':
      return `${at(segments)} is ${describeValue(value)}, expected at least ${String(params.limit)}`;
    default:
      return `${at(segments)} is ${describeValue(value)}: ${error.message ?? error.keyword}`;
  }
}
