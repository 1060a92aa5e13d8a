/**
 * Live progress of the feature job, read from the Spark driver's REST API: the inference stages
 * carry the job description the job sets (INFERENCE_DESCRIPTION in spark-images/orchard_featurize/job.py)
 * and their input records count the images read so far, updated by executor heartbeats.
 */

export const INFERENCE_DESCRIPTION = 'orchard-featurize: inference';

export interface StageProgress {
  readonly imagesRead: number;
  readonly tasksDone: number;
  readonly tasks: number;
}

interface StageData {
  readonly description?: string;
  readonly inputRecords?: number;
  readonly numCompleteTasks?: number;
  readonly numTasks?: number;
  readonly status?: string;
}

/** Sums the inference stages of the driver at `uiAddress` (host:port); undefined until the driver answers. */
export async function inferenceProgress(uiAddress: string, timeoutMs = 2_000): Promise<StageProgress | undefined> {
  const base = `http://${uiAddress}/api/v1/applications`;
  try {
    const apps = (await (await fetch(base, { signal: AbortSignal.timeout(timeoutMs) })).json()) as { id: string }[];
    if (!apps[0]) return undefined;
    const stages = (await (await fetch(`${base}/${apps[0].id}/stages`, { signal: AbortSignal.timeout(timeoutMs) })).json()) as StageData[];
    return summarize(stages);
  } catch {
    return undefined;
  }
}

export function summarize(stages: readonly StageData[]): StageProgress | undefined {
  const inference = stages.filter((s) => s.description === INFERENCE_DESCRIPTION && s.status !== 'SKIPPED');
  if (inference.length === 0) return undefined;
  return {
    // The scan stage reads every image once; later stages of the same job re-read cached rows.
    imagesRead: Math.max(...inference.map((s) => s.inputRecords ?? 0)),
    tasksDone: inference.reduce((sum, s) => sum + (s.numCompleteTasks ?? 0), 0),
    tasks: inference.reduce((sum, s) => sum + (s.numTasks ?? 0), 0),
  };
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
