import { Ajv, type ErrorObject } from 'ajv';
import { describeValue } from '../format.ts';
import { METRICS_KEY } from './dataset.ts';
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
  readonly files: readonly { readonly name: string; readonly bytes: number }[];
  readonly timings: Readonly<Record<string, number>> & { readonly wall_s: number };
  readonly images_per_second: number | null;
  readonly images_per_second_wall: number | null;
  readonly model: { readonly name: string; readonly weights: string };
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
