/**
 * Live progress of the feature job, read from the Spark driver's REST API. The job runs its
 * inference under a job description (INFERENCE_DESCRIPTION in spark-images/orchard_featurize/job.py);
 * the SQL execution with that description has a Python UDF node whose "number of output rows"
 * counts the images inferred so far, kept current by executor heartbeats.
 */

export const INFERENCE_DESCRIPTION = 'orchard-featurize: inference';

/** The node of a scalar pandas UDF in Spark's physical plan. */
const UDF_NODE = 'ArrowEvalPython';

interface SqlExecution {
  readonly description?: string;
  readonly status?: string;
  readonly nodes?: readonly { readonly nodeName: string; readonly metrics?: readonly { readonly name: string; readonly value: string }[] }[];
}

/** Images inferred so far by the driver at `uiAddress` (host:port); undefined until inference starts. */
export async function inferenceProgress(uiAddress: string, timeoutMs = 2_000): Promise<number | undefined> {
  const base = `http://${uiAddress}/api/v1/applications`;
  try {
    const apps = (await (await fetch(base, { signal: AbortSignal.timeout(timeoutMs) })).json()) as { id: string }[];
    if (!apps[0]) return undefined;
    const url = `${base}/${apps[0].id}/sql?details=true&planDescription=false&length=1000`;
    return imagesInferred((await (await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })).json()) as SqlExecution[]);
  } catch {
    return undefined;
  }
}

export function imagesInferred(executions: readonly SqlExecution[]): number | undefined {
  const inference = executions.find((e) => e.description === INFERENCE_DESCRIPTION);
  const metric = inference?.nodes?.find((n) => n.nodeName === UDF_NODE)?.metrics?.find((m) => m.name === 'number of output rows');
  if (!metric) return inference ? 0 : undefined;
  // Spark formats counts with thousands separators ("3,030").
  const value = Number(metric.value.replace(/,/g, ''));
  return Number.isFinite(value) ? value : undefined;
}

function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** `[########------------]  1,200/3,030 images  21.3 img/s  ETA 1m26s` */
export function progressLine(done: number, total: number, elapsedSeconds: number, width = 24): string {
  const fraction = total > 0 ? Math.min(1, done / total) : 0;
  const filled = Math.round(fraction * width);
  const rate = elapsedSeconds > 0 ? done / elapsedSeconds : 0;
  const eta = rate > 0 && done < total ? `ETA ${clock((total - done) / rate)}` : done >= total && total > 0 ? 'done' : 'ETA --';
  const n = (x: number) => x.toLocaleString('en-US');
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]  ${n(done)}/${n(total)} images  ${rate.toFixed(1)} img/s  ${eta}`;
}
