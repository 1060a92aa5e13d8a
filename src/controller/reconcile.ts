import { createHash } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import type { KubeConfig } from '@kubernetes/client-node';
import { API_VERSION, JOB_LABEL, KIND, OUTPUTS_ANNOTATION, PLURAL, type Leftovers, type ParquetOutput, type ParquetOutputSpec, type ParquetOutputStatus } from '../api/parquet-output.ts';
import { kubeRequest, statusMessage, type RawResponse } from '../kube/raw.ts';
import { RetryableError } from '../kube/queue.ts';
import type { Logger } from '../log.ts';
import { S3ReadError } from '../s3/errors.ts';
import { desiredOutputStatus, outcomeOf, sameStatus, type Outcome } from './desired.ts';
import { predecessorOf, SCHEMA_CHANGED } from './drift.ts';
import type { EventRecorder } from './events.ts';
import type { ControllerMetrics } from './metrics.ts';
import type { OutputObservation } from './observation.ts';
import { observeLeftovers } from './observe.ts';
import {
  COMPLETED,
  FAILED_STATES,
  SCHEDULED_KIND,
  SPARK_GROUP_VERSION,
  STATE,
  jobView,
  outputsOf,
  scheduledSparkApplicationsPath,
  scheduleOf,
  type JobView,
  type ScheduleRef,
  type SparkApplicationObject,
} from '../api/spark-application.ts';

/** Label on each ParquetOutput naming the SparkApplication it came from, for `kubectl get po -l`. */
export const SOURCE_LABEL = 'orchard.fruits.dev/spark-application';

/** An attempt failed and its retry is pending: the operator passes FAILING, then PENDING_RERUN deletes the driver pod. */
const ATTEMPT_FAILED_STATES: ReadonlySet<string> = new Set([STATE.failing, STATE.pendingRerun]);

export interface ReconcilerDeps {
  readonly kc: KubeConfig;
  readonly s3: S3Client;
  readonly observe: (s3: S3Client, uri: string) => Promise<OutputObservation>;
  readonly events: EventRecorder;
  readonly metrics: ControllerMetrics;
  readonly log: Logger;
  readonly now?: () => Date;
  /** The job's own words for its last failed driver pod, seen by the driver pod watch (driver-pods.ts). */
  readonly driverError?: (job: string) => string | undefined;
}

/**
 * One ParquetOutput per job uid and output URI: a deterministic name lets the API server's
 * AlreadyExists catch a second writer, and a job re-created under the same name gets new records.
 */
export function outputName(job: Pick<JobView, 'name' | 'uid'>, uri: string): string {
  const digest = createHash('sha256').update(`${job.uid}\n${uri}`).digest('hex').slice(0, 10);
  return `${job.name.slice(0, 52).replace(/[-.]+$/, '')}-${digest}`;
}

function outputsPath(namespace: string, name?: string): string {
  return `/apis/${API_VERSION}/namespaces/${namespace}/${PLURAL}${name ? `/${name}` : ''}`;
}

function apiError(what: string, response: RawResponse, context: Record<string, unknown>): RetryableError {
  const reason = response.status === 409 ? 'Conflict' : response.status === 429 ? 'Throttled' : `Http${response.status}`;
  return new RetryableError(reason, `${what} answered ${response.status}: ${statusMessage(response)}`, 'retried with backoff; check the controller RBAC if it persists', context);
}

/** What the gauges know of one watched Spark job: its namespace, its orchard job label, and each record's outcome by name. */
interface KnownJob {
  readonly namespace: string;
  readonly job: string | undefined;
  readonly outputs: ReadonlyMap<string, Outcome>;
}

export class Reconciler {
  /** Last known outcome of every ParquetOutput this replica wrote or read, by job key. */
  private readonly known = new Map<string, KnownJob>();

  constructor(private readonly deps: ReconcilerDeps) {}

  /** Level-triggered: brings every ParquetOutput of the job in line with the job and S3. Throws RetryableError to be retried. */
  async reconcile(key: string, app: SparkApplicationObject | undefined): Promise<void> {
    if (!app) {
      // Deleted: the garbage collector removes a one-shot job's records through their owner
      // reference; a scheduled run's belong to its schedule and stay.
      this.known.delete(key);
      this.publish();
      return;
    }
    const schedule = scheduleOf(app);
    // Only a run without its own annotation needs its schedule's: one GET, no watch, since the
    // schedule's annotation is read once per reconcile of its run.
    const outputs = outputsOf(app, schedule && !app.metadata.annotations?.[OUTPUTS_ANNOTATION] ? await this.readSchedule(app, schedule) : undefined);
    if (!outputs.ok) {
      // A spec error: retrying cannot fix it; the next change to the job reconciles it again.
      this.deps.log.warn('job has unusable outputs annotation', { job: key, error: outputs.error });
      await this.deps.events.record(app, 'Warning', 'InvalidOutputsAnnotation', outputs.error);
      return;
    }
    const job = jobView(app);
    const before = this.known.get(key)?.outputs;
    const outcomes = new Map<string, Outcome>();
    let retry: RetryableError | undefined;
    for (const uri of outputs.uris) {
      const name = outputName(job, uri);
      try {
        outcomes.set(name, await this.reconcileOutput(app, job, uri, schedule));
      } catch (error) {
        if (!(error instanceof RetryableError)) throw error;
        retry ??= error;
        // A failed read says nothing new about the output: the gauges keep what was last known,
        // so a retried S3 error does not restart the `for` of an alert on leftovers.
        const last = before?.get(name);
        if (last) outcomes.set(name, last);
      }
    }
    this.known.set(key, { namespace: job.namespace, job: app.metadata.labels?.[JOB_LABEL], outputs: outcomes });
    this.publish();
    if (retry) throw retry;
  }

  private publish(): void {
    const known = [...this.known.values()];
    this.deps.metrics.setOutputPhases(known.flatMap((k) => [...k.outputs.values()]));
    this.deps.metrics.setJobOutputs(known.flatMap(({ namespace, job, outputs }) => (job ? [{ namespace, job, outcomes: [...outputs.values()] }] : [])));
  }

  private async reconcileOutput(app: SparkApplicationObject, job: JobView, uri: string, schedule: ScheduleRef | undefined): Promise<Outcome> {
    const { log } = this.deps;
    const name = outputName(job, uri);
    const context = { parquetOutput: `${job.namespace}/${name}`, job: `${job.namespace}/${job.name}`, uri };
    const spec: ParquetOutputSpec = { source: { kind: job.kind, name: job.name, uid: job.uid, submissionAttempt: job.submissionAttempt }, uri };
    let current = await this.read(job.namespace, name, context);
    if (!current) {
      // The cache may still hold a job deleted moments ago (a burst of watch events after an
      // outage): a first record is only written for a job the API server still has.
      if (!(await this.stillExists(job, context))) return { phase: 'Pending' };
      current = await this.create(app, job, name, spec, schedule, context);
    }
    if (current.spec.source.uid !== job.uid) {
      throw new RetryableError('NameTaken', `ParquetOutput ${job.namespace}/${name} belongs to another job (uid ${current.spec.source.uid})`, 'delete that ParquetOutput; orchard names records after the job uid', context);
    }
    if (current.spec.source.submissionAttempt !== job.submissionAttempt) {
      // A retried job rewrites its output: the record follows the latest submission.
      current = await this.updateSpec(current, spec, context);
    }
    const generation = current.metadata.generation ?? 1;
    const previous = current.status;
    const settled = previous?.observedGeneration === generation && (previous.phase === 'Recorded' || previous.phase === 'Incomplete');
    if (settled && job.state === COMPLETED) {
      // A committed output of this submission does not change: its footers are not read again.
      // Leftovers beside it do (orchard gc removes them): a record with some reads them alone
      // again, and stays as it is while S3 does not answer.
      if (!previous.leftovers) return outcomeOf(current, previous);
      return this.refreshLeftovers(current, previous, uri, context);
    }
    let observation: OutputObservation | undefined;
    let leftovers: Leftovers | undefined;
    let s3Error: S3ReadError | undefined;
    if (job.state === COMPLETED || FAILED_STATES.has(job.state)) {
      try {
        if (job.state === COMPLETED) observation = await this.deps.observe(this.deps.s3, uri);
        leftovers = await observeLeftovers(this.deps.s3, uri);
      } catch (error) {
        if (!(error instanceof S3ReadError)) throw error;
        // A failed job's record does not wait on S3: it is written without leftovers, read again at the next resync.
        if (job.state === COMPLETED) s3Error = error;
        else log.warn('leftovers of a failed job not read', { ...context, error: error.message });
      }
    }
    const jobLabel = app.metadata.labels?.[JOB_LABEL];
    const predecessor = observation && jobLabel ? predecessorOf(await this.recordsOf(job.namespace, jobLabel, context), current) : undefined;
    const now = this.deps.now?.() ?? new Date();
    const jobError = FAILED_STATES.has(job.state) || ATTEMPT_FAILED_STATES.has(job.state) ? this.deps.driverError?.(`${job.namespace}/${job.name}`) : undefined;
    const status = desiredOutputStatus({ job, uri, observation, s3Error: s3Error?.message, previous, predecessor, leftovers, jobError, generation, now });
    if (!sameStatus(previous, status)) {
      await this.writeStatus(current, status, context);
      await this.announce(app, current, previous, status);
    }
    if (s3Error) {
      throw new RetryableError('S3Unavailable', s3Error.message, s3Error.hint, context, { cause: s3Error });
    }
    log.debug('output reconciled', { ...context, phase: status.phase });
    return outcomeOf(current, status);
  }

  private async refreshLeftovers(current: ParquetOutput, previous: ParquetOutputStatus, uri: string, context: Record<string, unknown>): Promise<Outcome> {
    let leftovers: Leftovers | undefined;
    try {
      leftovers = await observeLeftovers(this.deps.s3, uri);
    } catch (error) {
      if (!(error instanceof S3ReadError)) throw error;
      this.deps.log.warn('leftovers of a recorded output not read; the record stays as it is until the next resync', { ...context, error: error.message });
      return outcomeOf(current, previous);
    }
    const { leftovers: _before, ...rest } = previous;
    const status: ParquetOutputStatus = leftovers ? { ...rest, leftovers } : rest;
    if (!sameStatus(previous, status)) await this.writeStatus(current, status, context);
    return outcomeOf(current, status);
  }

  private async read(namespace: string, name: string, context: Record<string, unknown>): Promise<ParquetOutput | undefined> {
    const response = await this.request('GET', outputsPath(namespace, name), undefined, context);
    if (response.status === 404) return undefined;
    if (response.status !== 200) throw apiError(`GET ParquetOutput ${namespace}/${name}`, response, context);
    return JSON.parse(response.body) as ParquetOutput;
  }

  /** Every record of one job (by its `orchard.fruits.dev/job` label), to compare a new dataset with the previous one. */
  private async recordsOf(namespace: string, jobLabel: string, context: Record<string, unknown>): Promise<ParquetOutput[]> {
    const query = new URLSearchParams({ labelSelector: `${JOB_LABEL}=${jobLabel}` });
    const response = await this.request('GET', `${outputsPath(namespace)}?${query}`, undefined, context);
    if (response.status !== 200) throw apiError(`list ParquetOutputs of job ${namespace}/${jobLabel}`, response, context);
    return (JSON.parse(response.body) as { items: ParquetOutput[] }).items;
  }

  private async readSchedule(app: SparkApplicationObject, schedule: ScheduleRef): Promise<SparkApplicationObject | undefined> {
    const namespace = app.metadata.namespace ?? 'default';
    const context = { job: `${namespace}/${app.metadata.name}`, schedule: `${namespace}/${schedule.name}` };
    const response = await this.request('GET', `${scheduledSparkApplicationsPath(namespace)}/${schedule.name}`, undefined, context);
    if (response.status === 404) return undefined;
    if (response.status !== 200) throw apiError(`GET ${SCHEDULED_KIND} ${namespace}/${schedule.name}`, response, context);
    return JSON.parse(response.body) as SparkApplicationObject;
  }

  private async stillExists(job: JobView, context: Record<string, unknown>): Promise<boolean> {
    const response = await this.request('GET', `/apis/${SPARK_GROUP_VERSION}/namespaces/${job.namespace}/sparkapplications/${job.name}`, undefined, context);
    if (response.status === 404) return false;
    if (response.status !== 200) throw apiError(`GET SparkApplication ${job.namespace}/${job.name}`, response, context);
    return (JSON.parse(response.body) as SparkApplicationObject).metadata.uid === job.uid;
  }

  private async create(app: SparkApplicationObject, job: JobView, name: string, spec: ParquetOutputSpec, schedule: ScheduleRef | undefined, context: Record<string, unknown>): Promise<ParquetOutput> {
    // A scheduled run's record belongs to its schedule: the operator deletes runs beyond the
    // history limits, and the datasets they wrote (and the lineage between them) outlive them.
    const owner = schedule ? { kind: SCHEDULED_KIND, ...schedule } : { kind: job.kind, name: job.name, uid: job.uid };
    const body = {
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: {
        name,
        namespace: job.namespace,
        labels: { [SOURCE_LABEL]: job.name.slice(0, 63), ...(app.metadata.labels?.[JOB_LABEL] ? { [JOB_LABEL]: app.metadata.labels[JOB_LABEL] } : {}) },
        // blockOwnerDeletion would need update rights on sparkapplications/finalizers; background GC is enough.
        ownerReferences: [{ apiVersion: SPARK_GROUP_VERSION, ...owner, controller: true, blockOwnerDeletion: false }],
      },
      spec,
    };
    const response = await this.request('POST', outputsPath(job.namespace), body, context);
    if (response.status === 201) return JSON.parse(response.body) as ParquetOutput;
    if (response.status === 409) {
      // Another writer (a previous leader, or this one before a restart) created it: use theirs.
      const existing = await this.read(job.namespace, name, context);
      if (existing) return existing;
    }
    throw apiError(`create ParquetOutput ${job.namespace}/${name}`, response, context);
  }

  private async updateSpec(current: ParquetOutput, spec: ParquetOutputSpec, context: Record<string, unknown>): Promise<ParquetOutput> {
    const body = { ...current, spec };
    const response = await this.request('PUT', outputsPath(current.metadata.namespace!, current.metadata.name), body, context);
    if (response.status !== 200) throw apiError(`update ParquetOutput ${current.metadata.namespace}/${current.metadata.name}`, response, context);
    return JSON.parse(response.body) as ParquetOutput;
  }

  /** Replaces the status with optimistic concurrency: a 409 is retried from a fresh read, never forced. */
  private async writeStatus(current: ParquetOutput, status: ParquetOutput['status'], context: Record<string, unknown>): Promise<void> {
    const body = { ...current, status };
    const response = await this.request('PUT', `${outputsPath(current.metadata.namespace!, current.metadata.name)}/status`, body, context);
    if (response.status !== 200) throw apiError(`update status of ParquetOutput ${current.metadata.namespace}/${current.metadata.name}`, response, context);
    this.deps.log.info('output status written', { ...context, phase: status?.phase, rows: status?.rows, files: status?.files, bytes: status?.bytes });
  }

  private async announce(app: SparkApplicationObject, current: ParquetOutput, previous: ParquetOutput['status'], status: NonNullable<ParquetOutput['status']>): Promise<void> {
    const { events, metrics } = this.deps;
    const name = current.metadata.name;
    const complete = status.conditions?.find((c) => c.type === 'Complete');
    const recorded = status.conditions?.find((c) => c.type === 'Recorded');
    const recordedBefore = previous?.conditions?.find((c) => c.type === 'Recorded');
    if (recorded?.reason === 'JobAttemptFailed' && recordedBefore?.message !== recorded.message) {
      await events.record(app, 'Warning', 'JobAttemptFailed', `ParquetOutput ${name}: ${complete?.message}`);
    }
    if (recorded?.reason === 'S3Unavailable' && recordedBefore?.reason !== 'S3Unavailable') {
      await events.record(app, 'Warning', 'S3Unavailable', `ParquetOutput ${name}: ${recorded.message}`);
    }
    const drift = status.conditions?.find((c) => c.type === SCHEMA_CHANGED);
    if (drift?.status === 'True' && previous?.conditions?.find((c) => c.type === SCHEMA_CHANGED)?.status !== 'True') {
      await events.record(app, 'Warning', SCHEMA_CHANGED, `ParquetOutput ${name}: ${drift.message}`);
    }
    if (status.phase === previous?.phase) return;
    switch (status.phase) {
      case 'Recorded':
        metrics.recordedRows.inc(status.rows ?? 0);
        metrics.recordedBytes.inc(status.bytes ?? 0);
        metrics.recordedImages.inc(status.jobMetrics?.imagesDecoded ?? 0);
        metrics.recordedJobSeconds.inc(status.jobMetrics?.durationSeconds ?? 0);
        metrics.recordedOutputs.inc({ phase: 'Recorded' });
        await events.record(app, 'Normal', 'OutputRecorded', `ParquetOutput ${name}: ${recorded?.message}`);
        break;
      case 'Incomplete':
        metrics.recordedOutputs.inc({ phase: 'Incomplete' });
        await events.record(app, 'Warning', `Output${complete?.reason ?? 'Incomplete'}`, `ParquetOutput ${name} is incomplete: ${complete?.message}`);
        break;
      case 'Failed':
        metrics.recordedOutputs.inc({ phase: 'Failed' });
        await events.record(app, 'Warning', 'JobFailed', `ParquetOutput ${name}: ${complete?.message}`);
        break;
      default:
        break;
    }
  }

  private async request(method: string, path: string, body: unknown, context: Record<string, unknown>): Promise<RawResponse> {
    try {
      return await kubeRequest(this.deps.kc, method, path, body);
    } catch (error) {
      throw new RetryableError('ApiUnavailable', `${method} ${path} failed: ${(error as Error).message}`, 'retried with backoff', context, { cause: error });
    }
  }
}
