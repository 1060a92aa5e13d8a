import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { JOB_SERIES_LABEL, PHASES } from '../api/parquet-output.ts';
import { QUALITY_REASONS, type Outcome } from './desired.ts';
import type { InformerObserver } from '../kube/informer.ts';
import type { QueueObserver } from '../kube/queue.ts';
import type { SparkApplicationObject } from '../api/spark-application.ts';

/** The operator's states of a job that has been submitted and not yet ended. */
const ACTIVE_STATES: ReadonlySet<string> = new Set(['SUBMITTED', 'RUNNING']);

/**
 * Labels of the per-job gauges. A job, not a run or an output URI: a schedule's runs come and go
 * (one series each would grow without bound), its job label stays, and it is what `orchard gc -l`
 * and an alert's reader select by. `spark_namespace`, since the target's own `namespace` is the
 * controller's, which may watch every namespace.
 */
const JOB_LABELS = ['spark_namespace', JOB_SERIES_LABEL] as const;

/** One watched Spark job's records, as the per-job gauges read them. */
export interface JobOutcomes {
  /** The Spark job's namespace. */
  readonly namespace: string;
  /** Its `orchard.fruits.dev/job` label, which the runs of a schedule share. */
  readonly job: string;
  readonly outcomes: readonly Outcome[];
}

/**
 * The controller's Prometheus metrics. Names are part of orchard's interface: the Grafana
 * dashboard and the alert rules query them, and a test checks every name they use exists here.
 */
export class ControllerMetrics {
  readonly registry = new Registry();

  readonly reconciles = new Counter({
    name: 'orchard_reconcile_total',
    help: 'Reconciles of Spark jobs, by result (success, error, conflict).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly reconcileErrors = new Counter({
    name: 'orchard_reconcile_errors_total',
    help: 'Reconciles that failed and were requeued with backoff, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly reconcileDuration = new Histogram({
    name: 'orchard_reconcile_duration_seconds',
    help: 'Time to reconcile one Spark job, including reading its outputs from S3.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });

  readonly recordedRows = new Counter({
    name: 'orchard_recorded_rows_total',
    help: 'Rows of the Parquet outputs recorded complete.',
    registers: [this.registry],
  });

  readonly recordedBytes = new Counter({
    name: 'orchard_recorded_bytes_total',
    help: 'Bytes of the Parquet outputs recorded complete.',
    registers: [this.registry],
  });

  // Images and job seconds of recorded runs, so a dashboard divides one increase by the other for
  // images per second over any window: a per-run gauge would drop runs between two scrapes.
  readonly recordedImages = new Counter({
    name: 'orchard_recorded_images_total',
    help: 'Images decoded by the Spark jobs whose outputs were recorded complete (from _orchard/metrics.json).',
    registers: [this.registry],
  });

  readonly recordedJobSeconds = new Counter({
    name: 'orchard_recorded_job_seconds_total',
    help: 'Wall-clock seconds of the Spark jobs whose outputs were recorded complete (from _orchard/metrics.json).',
    registers: [this.registry],
  });

  readonly recordedOutputs = new Counter({
    name: 'orchard_recorded_outputs_total',
    help: 'ParquetOutputs that reached a final phase, by phase (Recorded, Incomplete, Failed).',
    labelNames: ['phase'] as const,
    registers: [this.registry],
  });

  readonly outputsFailingQuality = new Gauge({
    name: 'orchard_parquet_outputs_failing_quality',
    help: "ParquetOutputs refused by their quality gate (the job's linear probe below minProbeTop1, or not measured), by reason.",
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly outputs = new Gauge({
    name: 'orchard_parquet_outputs',
    help: 'ParquetOutputs of the watched Spark jobs, by phase.',
    labelNames: ['phase'] as const,
    registers: [this.registry],
  });

  readonly leftoverUploads = new Gauge({
    name: 'orchard_parquet_outputs_leftover_uploads',
    help: "Multipart uploads left pending under the outputs of each job's finished runs (status.leftovers.pendingUploads of their ParquetOutputs); orchard gc aborts them.",
    labelNames: JOB_LABELS,
    registers: [this.registry],
  });

  readonly leftoverObjects = new Gauge({
    name: 'orchard_parquet_outputs_leftover_objects',
    help: "Objects under the magic committer's __magic* paths of each job's finished runs (status.leftovers.partialObjects); orchard gc deletes them.",
    labelNames: JOB_LABELS,
    registers: [this.registry],
  });

  readonly leftoverBytes = new Gauge({
    name: 'orchard_parquet_outputs_leftover_bytes',
    help: 'Bytes of those __magic* objects (status.leftovers.partialBytes); not the parts of pending uploads, which S3 lists without their size.',
    labelNames: JOB_LABELS,
    registers: [this.registry],
  });

  readonly schemaChanged = new Gauge({
    name: 'orchard_parquet_output_schema_changed',
    help: "1 when the newest Recorded dataset of a job has other columns than the job's previous one (its ParquetOutput's SchemaChanged condition is True), else 0.",
    labelNames: JOB_LABELS,
    registers: [this.registry],
  });

  readonly jobs = new Gauge({
    name: 'orchard_spark_applications',
    help: 'Watched SparkApplications carrying the orchard job label, by operator state.',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });

  readonly runningSeconds = new Gauge({
    name: 'orchard_spark_application_running_seconds',
    help: 'Seconds since the last submission of each watched SparkApplication that is SUBMITTED or RUNNING.',
    labelNames: ['spark_namespace', 'spark_application'] as const,
    registers: [this.registry],
  });

  readonly queueDepth = new Gauge({ name: 'orchard_workqueue_depth', help: 'Spark jobs waiting for a worker.', registers: [this.registry] });
  readonly queueAdds = new Counter({ name: 'orchard_workqueue_adds_total', help: 'Keys added to the work queue.', registers: [this.registry] });
  readonly queueRetries = new Counter({ name: 'orchard_workqueue_retries_total', help: 'Keys re-queued with backoff after an error.', registers: [this.registry] });

  readonly watchRestarts = new Counter({
    name: 'orchard_watch_restarts_total',
    help: 'Times the SparkApplication list-watch (re)started, by reason (start, closed, error, expired, stale, resync).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly watchEvents = new Counter({ name: 'orchard_watch_events_total', help: 'Watch events and bookmarks received.', registers: [this.registry] });

  readonly leader = new Gauge({ name: 'orchard_leader', help: '1 while this replica holds the leader Lease and reconciles, else 0.', registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    for (const phase of PHASES) this.outputs.set({ phase }, 0);
    for (const reason of QUALITY_REASONS) this.outputsFailingQuality.set({ reason }, 0);
    // Exported at 0 from the start, so rate() and the reconcile-errors alert see the first error
    // as an increase, and a healthy controller still answers the alert's query.
    for (const result of ['success', 'error', 'conflict']) this.reconciles.inc({ result }, 0);
    this.leader.set(0);
  }

  queueObserver(): QueueObserver {
    return { depth: (n) => this.queueDepth.set(n), added: () => this.queueAdds.inc(), retried: () => this.queueRetries.inc() };
  }

  informerObserver(): InformerObserver {
    return { restarted: (reason) => this.watchRestarts.inc({ reason }), event: () => this.watchEvents.inc() };
  }

  /** Sets a by-label gauge from counts, zeroing labels that disappeared so a series never sticks. */
  static setCounts(gauge: Gauge<'phase'> | Gauge<'state'> | Gauge<'reason'>, label: 'phase' | 'state' | 'reason', counts: ReadonlyMap<string, number>, always: readonly string[] = []): void {
    const g = gauge as Gauge<string>;
    g.reset();
    for (const value of always) g.set({ [label]: value }, 0);
    for (const [value, n] of counts) g.set({ [label]: value }, n);
  }

  /**
   * The gauges derived from the informer's cache: jobs by state, and how long each active job has
   * run, which the "running longer than expected" alert compares with its threshold.
   */
  observeJobs(apps: Iterable<SparkApplicationObject>, now: number): void {
    const counts = new Map<string, number>();
    this.runningSeconds.reset();
    for (const app of apps) {
      const state = app.status?.applicationState?.state || 'NEW';
      counts.set(state, (counts.get(state) ?? 0) + 1);
      const since = Date.parse(app.status?.lastSubmissionAttemptTime ?? '');
      if (ACTIVE_STATES.has(state) && Number.isFinite(since)) {
        this.runningSeconds.set({ spark_namespace: app.metadata.namespace ?? '', spark_application: app.metadata.name }, Math.max(0, (now - since) / 1000));
      }
    }
    ControllerMetrics.setCounts(this.jobs, 'state', counts);
  }

  /** The by-phase gauge and the quality-gate gauge, from where every known ParquetOutput stands. */
  setOutputPhases(outcomes: readonly Outcome[]): void {
    const count = <K,>(keys: readonly K[]) => keys.reduce((m, k) => m.set(k, (m.get(k) ?? 0) + 1), new Map<K, number>());
    ControllerMetrics.setCounts(this.outputs, 'phase', count(outcomes.map((o) => o.phase)), PHASES);
    const quality = outcomes.flatMap((o) => (o.phase === 'Incomplete' && (QUALITY_REASONS as readonly string[]).includes(o.reason ?? '') ? [o.reason!] : []));
    ControllerMetrics.setCounts(this.outputsFailingQuality, 'reason', count(quality), QUALITY_REASONS);
  }

  /**
   * The per-job gauges, from the records of every watched job: leftovers summed over them, and the
   * drift of the newest Recorded one, so the next run with the same columns clears it. A job
   * without records yet, or with nothing wrong, is exported at 0: the alerts' queries then answer
   * before anything goes wrong, and a job that is no longer watched drops out.
   */
  setJobOutputs(jobs: Iterable<JobOutcomes>): void {
    const byJob = new Map<string, { labels: Record<string, string>; uploads: number; objects: number; bytes: number; newest?: Outcome }>();
    for (const { namespace, job, outcomes } of jobs) {
      const key = `${namespace}/${job}`;
      const sums = byJob.get(key) ?? { labels: { spark_namespace: namespace, [JOB_SERIES_LABEL]: job }, uploads: 0, objects: 0, bytes: 0 };
      for (const outcome of outcomes) {
        sums.uploads += outcome.leftovers?.pendingUploads ?? 0;
        sums.objects += outcome.leftovers?.partialObjects ?? 0;
        sums.bytes += outcome.leftovers?.partialBytes ?? 0;
        if (outcome.phase === 'Recorded' && (outcome.order ?? '') >= (sums.newest?.order ?? '')) sums.newest = outcome;
      }
      byJob.set(key, sums);
    }
    for (const gauge of [this.leftoverUploads, this.leftoverObjects, this.leftoverBytes, this.schemaChanged]) gauge.reset();
    for (const { labels, uploads, objects, bytes, newest } of byJob.values()) {
      this.leftoverUploads.set(labels, uploads);
      this.leftoverObjects.set(labels, objects);
      this.leftoverBytes.set(labels, bytes);
      this.schemaChanged.set(labels, newest?.schemaChanged ? 1 : 0);
    }
  }
}
