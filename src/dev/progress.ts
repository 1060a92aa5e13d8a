/**
 * Live progress of the feature job, read from the Spark driver's UI port: the REST API and the
 * PrometheusServlet, which answer the same on a local driver and at a driver pod's IP. What the job
 * publishes there is described in spark-images/orchard_featurize/live.py:
 * - each phase's Spark jobs carry the description `orchard-featurize: <phase>` (REST /jobs, /sql);
 * - the driver's metrics hold three gauges: images inferred (each Python worker reports every batch
 *   to the driver, since Spark counts a task's rows only when it ends), S3A's retries on the driver,
 *   and the driver's probes of the S3 endpoint that got no answer (the executors' retries stay in
 *   their pods, so the probes are what tells an outage on Kubernetes).
 * The reading is pure (`ProgressTracker.observe(snapshot, now)`); `readDriver` is the only I/O.
 */
import { DRIVER_METRICS_PATH, IMAGES_GAUGE, S3_PROBES_FAILED_GAUGE, S3A_RETRIES_GAUGE } from '../spark/application.ts';

/** The same prefix and phases as spark-images/orchard_featurize/live.py. */
export const DESCRIPTION_PREFIX = 'orchard-featurize: ';
export const PHASES = ['inference', 'pca', 'probe', 'write', 'record'] as const;

/** A phase the job names, and the commit, which it cannot: Spark commits inside the write's SQL execution. */
export type Phase = (typeof PHASES)[number] | 'commit';

/** A phase that makes no progress for this long says so (the issue: 8.5 silent minutes). */
export const STALL_AFTER_MS = 60_000;
/** ...or for this long, when S3 is known to fail meanwhile: the wait has a name at once. */
export const S3_STALL_AFTER_MS = 10_000;

/** The fields of Spark 3.5's REST /jobs and /sql entries that the progress reads. */
export interface SparkJob {
  readonly jobId: number;
  readonly description?: string;
  readonly status: string;
  readonly numTasks: number;
  readonly numActiveTasks: number;
  readonly numCompletedTasks: number;
}

export interface SqlExecution {
  readonly id: number;
  readonly description?: string;
  readonly status: string;
  readonly runningJobIds?: readonly number[];
}

export interface DriverSnapshot {
  readonly jobs: readonly SparkJob[];
  readonly executions: readonly SqlExecution[];
  /** The driver's /metrics/prometheus text; undefined when it does not serve one. */
  readonly metrics?: string;
}

/** One driver read, or undefined while the driver does not answer yet (or any more). */
export async function readDriver(uiAddress: string, timeoutMs = 2_000): Promise<DriverSnapshot | undefined> {
  const get = async (path: string) => {
    const response = await fetch(`http://${uiAddress}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response;
  };
  try {
    const apps = (await (await get('/api/v1/applications')).json()) as { id: string }[];
    if (!apps[0]) return undefined;
    const app = `/api/v1/applications/${apps[0].id}`;
    const [jobs, executions, metrics] = await Promise.all([
      get(`${app}/jobs`).then((r) => r.json() as Promise<SparkJob[]>),
      get(`${app}/sql?details=false&planDescription=false&offset=0&length=1000`).then((r) => r.json() as Promise<SqlExecution[]>),
      get(DRIVER_METRICS_PATH).then((r) => r.text(), () => undefined),
    ]);
    return { jobs, executions, ...(metrics === undefined ? {} : { metrics }) };
  } catch {
    return undefined;
  }
}

/** A gauge of the job's AccumulatorSource, whatever spark.metrics.namespace is. */
export function gauge(metrics: string | undefined, name: string): number | undefined {
  const match = new RegExp(`^metrics_\\w*_driver_AccumulatorSource_${name}_Value(?:\\{[^}]*\\})? (\\d+)`, 'm').exec(metrics ?? '');
  return match ? Number(match[1]) : undefined;
}

export interface PhaseState {
  readonly phase: Phase;
  /** Tasks of the phase's Spark jobs: finished, running, and all. */
  readonly tasksDone: number;
  readonly tasksActive: number;
  readonly tasks: number;
  /** Spark jobs of the phase so far. */
  readonly jobs: number;
}

const phaseOf = (description: string | undefined): Phase | undefined => {
  const name = description?.startsWith(DESCRIPTION_PREFIX) ? description.slice(DESCRIPTION_PREFIX.length) : undefined;
  return (PHASES as readonly string[]).includes(name ?? '') ? (name as Phase) : undefined;
};

/** The phase of the job's latest Spark job; undefined before the first. */
export function currentPhase(snapshot: DriverSnapshot): PhaseState | undefined {
  const ours = snapshot.jobs.filter((j) => phaseOf(j.description));
  if (ours.length === 0) return undefined;
  const latest = ours.reduce((a, b) => (b.jobId > a.jobId ? b : a));
  const phase = phaseOf(latest.description)!;
  const same = ours.filter((j) => j.description === latest.description);
  const state = {
    phase,
    tasksDone: same.reduce((n, j) => n + j.numCompletedTasks, 0),
    tasksActive: same.reduce((n, j) => n + j.numActiveTasks, 0),
    tasks: same.reduce((n, j) => n + j.numTasks, 0),
    jobs: same.length,
  };
  if (phase !== 'write' || latest.status !== 'SUCCEEDED') return state;
  // The write's jobs are done: Spark commits on the driver while the write's SQL execution runs
  // on, and once it ends the job lists and records the output before its first "record" job.
  const writing = snapshot.executions.some((e) => e.description === latest.description && e.status === 'RUNNING' && (e.runningJobIds ?? []).length === 0);
  return { ...state, phase: writing ? 'commit' : 'record', tasksDone: 0, tasksActive: 0, tasks: 0, jobs: 0 };
}

function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

const count = (x: number) => x.toLocaleString('en-US');

/** `[########------------]  1,200/3,030 images  21.3 img/s  ETA 1m26s` */
export function progressLine(done: number, total: number, elapsedSeconds: number, width = 24): string {
  const fraction = total > 0 ? Math.min(1, done / total) : 0;
  const filled = Math.round(fraction * width);
  const rate = elapsedSeconds > 0 ? done / elapsedSeconds : 0;
  const eta = rate > 0 && done < total ? `ETA ${clock((total - done) / rate)}` : done >= total && total > 0 ? 'done' : 'ETA --';
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]  ${count(done)}/${count(total)} images  ${rate.toFixed(1)} img/s  ${eta}`;
}

/**
 * Turns driver snapshots into the progress line. Time comes in as `now` (ms): the tracker never
 * reads a clock, so the stall and S3-wait logic is tested with made-up times.
 */
export class ProgressTracker {
  private inferenceStarted?: number;
  private inferenceEnded?: number;
  private images = 0;
  private phase?: PhaseState;
  private phaseStarted = 0;
  private progressKey = '';
  private lastProgress = 0;
  private retries?: number;
  private probesFailed?: number;
  /** S3A's retries and the failed probes when progress last moved. */
  private retriesAtProgress = 0;
  private probesFailedAtProgress = 0;
  private s3WaitedMs = 0;
  private stalledAt?: number;

  constructor(
    private readonly total: number,
    /** The S3 endpoint the job calls, to name in a stall; unset on AWS's default endpoint. */
    private readonly s3Endpoint?: string,
  ) {}

  /** The line for this snapshot; undefined until the job's first phase starts. */
  observe(snapshot: DriverSnapshot, now: number): string | undefined {
    const state = currentPhase(snapshot);
    if (!state) return undefined;
    this.retries = gauge(snapshot.metrics, S3A_RETRIES_GAUGE) ?? this.retries;
    this.probesFailed = gauge(snapshot.metrics, S3_PROBES_FAILED_GAUGE) ?? this.probesFailed;
    this.images = Math.max(this.images, gauge(snapshot.metrics, IMAGES_GAUGE) ?? 0);
    if (state.phase === 'inference') this.inferenceStarted ??= now;
    else if (this.inferenceStarted !== undefined) this.inferenceEnded ??= now;
    if (state.phase !== this.phase?.phase) this.phaseStarted = now;
    this.phase = state;
    const key = [state.phase, this.images, state.tasksDone, state.jobs].join('|');
    if (key !== this.progressKey) this.progressed(key, now);
    return this.line(now);
  }

  /** Closes the books when the job has ended. */
  finish(now: number): void {
    this.progressed('finished', now);
  }

  /** Milliseconds in which the job made no progress while S3A retried or S3 did not answer the driver's probes. */
  get s3WaitMs(): number {
    return this.s3WaitedMs;
  }

  /** The phase, and whether it stalls: what a plain log prints a line for when it changes. */
  get headline(): string {
    return `${this.phase?.phase ?? ''}${this.stalledAt !== undefined ? ' stalled' : ''}`;
  }

  get s3aRetries(): number {
    return this.retries ?? 0;
  }

  private progressed(key: string, now: number): void {
    if (this.progressKey && this.s3Failing()) this.s3WaitedMs += now - this.lastProgress;
    this.progressKey = key;
    this.lastProgress = now;
    this.retriesAtProgress = this.retries ?? 0;
    this.probesFailedAtProgress = this.probesFailed ?? 0;
  }

  /** Whether S3 failed the job since progress last moved. */
  private s3Failing(): boolean {
    return (this.retries ?? 0) > this.retriesAtProgress || (this.probesFailed ?? 0) > this.probesFailedAtProgress;
  }

  private line(now: number): string {
    const state = this.phase!;
    const started = this.inferenceStarted ?? now;
    const bar = progressLine(this.images, this.total, ((this.inferenceEnded ?? now) - started) / 1000);
    const parts = [bar];
    if (state.phase !== 'inference') {
      const tasks = state.tasks > 0 ? ` ${count(state.tasksDone)}/${count(state.tasks)} tasks` : '';
      parts.push(`${state.phase}${tasks} ${clock((now - this.phaseStarted) / 1000)}`);
    }
    const quiet = now - this.lastProgress;
    this.stalledAt = quiet >= (this.s3Failing() ? S3_STALL_AFTER_MS : STALL_AFTER_MS) ? this.lastProgress : undefined;
    if (this.stalledAt !== undefined) parts.push(`no progress for ${clock(quiet / 1000)}: ${this.waitingOn()}`);
    return parts.join('  |  ');
  }

  private waitingOn(): string {
    const retried = (this.retries ?? 0) - this.retriesAtProgress;
    const unanswered = (this.probesFailed ?? 0) - this.probesFailedAtProgress;
    if (retried > 0 || unanswered > 0) {
      const why = [unanswered > 0 ? `it did not answer ${count(unanswered)} probe${unanswered === 1 ? '' : 's'}` : '', retried > 0 ? `S3A retried ${count(retried)} times` : ''].filter(Boolean).join('; ');
      return `waiting on S3${this.s3Endpoint ? ` at ${this.s3Endpoint}` : ''} (${why})`;
    }
    const state = this.phase!;
    if (state.tasksActive > 0) return `${count(state.tasksActive)} task${state.tasksActive === 1 ? '' : 's'} running, none finished`;
    return 'no Spark task running: the driver is working';
  }
}
