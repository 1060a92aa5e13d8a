import { JOB_LABEL, OUTPUTS_ANNOTATION } from './parquet-output.ts';
import { OrchardError } from '../errors.ts';
import { resolveRunOutput, runPlaceholderProblem } from './run-output.ts';
import { parseS3Uri } from './s3-uri.ts';
import type { SparkApplicationStatus as GeneratedStatus } from './imports/sparkapplication-status.ts';
import type { KubeObject } from './manifest.ts';

export const SPARK_GROUP_VERSION = 'sparkoperator.k8s.io/v1beta2';
export const SPARK_KIND = 'SparkApplication';
export const SCHEDULED_KIND = 'ScheduledSparkApplication';

/** The API path of ScheduledSparkApplications in one namespace. */
export function scheduledSparkApplicationsPath(namespace: string): string {
  return `/apis/${SPARK_GROUP_VERSION}/namespaces/${namespace}/scheduledsparkapplications`;
}

/** The API path of SparkApplications, in one namespace or in all. */
export function sparkApplicationsPath(namespace?: string): string {
  return `/apis/${SPARK_GROUP_VERSION}${namespace ? `/namespaces/${namespace}` : ''}/sparkapplications`;
}

/** The operator's application states (v1beta2 `status.applicationState.state`), one definition for every reader and writer. */
export const STATE = {
  new: '',
  submitted: 'SUBMITTED',
  running: 'RUNNING',
  succeeding: 'SUCCEEDING',
  completed: 'COMPLETED',
  failing: 'FAILING',
  failed: 'FAILED',
  submissionFailed: 'SUBMISSION_FAILED',
  pendingRerun: 'PENDING_RERUN',
} as const;

/**
 * The v1beta2 status, generated from the pinned CRD by `npm run import` (cdk8s/status-import.ts).
 * Every field optional: the CRD requires driverInfo, but a status read before the operator's first
 * write, or written by another client, may hold any subset.
 */
export type SparkApplicationStatus = Partial<GeneratedStatus>;

/** What the controller reads of a SparkApplication, as the operator writes it (v1beta2 status). */
export interface SparkApplicationObject extends KubeObject {
  readonly metadata: KubeObject['metadata'] & {
    readonly generation?: number;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
  };
  readonly status?: SparkApplicationStatus;
}

/**
 * The container names spark-operator v2.5.2 gives Spark for the pod templates
 * (`spark.kubernetes.{driver,executor}.podTemplateContainerName`, pkg/common/spark.go).
 */
export const SPARK_CONTAINER = { driver: 'spark-kubernetes-driver', executor: 'executor' } as const;

/** The operator's states that end a run; FAILED may still be followed by a retry (PENDING_RERUN). */
export const COMPLETED = STATE.completed;
export const FAILED_STATES: ReadonlySet<string> = new Set([STATE.failed, STATE.submissionFailed]);

export interface JobView {
  readonly kind: typeof SPARK_KIND;
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  /** The operator's state; an empty string before the operator has seen the object. */
  readonly state: string;
  readonly errorMessage?: string;
  /** Which submission wrote the output; 0 before the first submission. */
  readonly submissionAttempt: number;
}

export function jobView(app: SparkApplicationObject): JobView {
  const status = app.status ?? {};
  return {
    kind: SPARK_KIND,
    name: app.metadata.name,
    namespace: app.metadata.namespace ?? 'default',
    uid: app.metadata.uid,
    state: status.applicationState?.state ?? '',
    ...(status.applicationState?.errorMessage ? { errorMessage: status.applicationState.errorMessage } : {}),
    submissionAttempt: status.submissionAttempts ?? 0,
  };
}

export type OutputsAnnotation = { readonly ok: true; readonly uris: readonly string[] } | { readonly ok: false; readonly error: string };

/** The owner reference spark-operator v2.5.2 puts on each run of a ScheduledSparkApplication. */
export interface ScheduleRef {
  readonly name: string;
  readonly uid: string;
}

/** The ScheduledSparkApplication that started this run, from its ownerReference; undefined for a one-shot job. */
export function scheduleOf(app: SparkApplicationObject): ScheduleRef | undefined {
  const owners = (app.metadata.ownerReferences ?? []) as readonly { apiVersion?: string; kind?: string; name?: string; uid?: string }[];
  const owner = owners.find((o) => o.kind === SCHEDULED_KIND && o.apiVersion === SPARK_GROUP_VERSION);
  return owner?.name && owner.uid ? { name: owner.name, uid: owner.uid } : undefined;
}

/**
 * The output URIs a job declares in its `orchard.fruits.dev/outputs` annotation (a JSON list), with
 * `{run}` replaced by the job's name. A run of a ScheduledSparkApplication has no annotation of its
 * own (v2.5.2 copies the schedule's labels onto each run, never its annotations:
 * internal/controller/scheduledsparkapplication/controller.go, createSparkApplication), so its
 * outputs are the annotation of `schedule`, the object its ownerReference names, when the caller
 * could read it.
 */
export function outputsOf(app: SparkApplicationObject, schedule?: SparkApplicationObject): OutputsAnnotation {
  const fix = `set annotation ${OUTPUTS_ANNOTATION} to a JSON list of s3a:// URIs, e.g. ["s3a://bucket/features/run-1/"]`;
  const owner = scheduleOf(app);
  let raw = app.metadata.annotations?.[OUTPUTS_ANNOTATION];
  let where = 'annotation';
  if (raw === undefined && owner) {
    if (!schedule || schedule.metadata.uid !== owner.uid) {
      return { ok: false, error: `the job is a run of ${SCHEDULED_KIND} ${owner.name} (uid ${owner.uid}), which no longer exists: its outputs are declared there; nothing is recorded for this run` };
    }
    raw = schedule.metadata.annotations?.[OUTPUTS_ANNOTATION];
    where = `${SCHEDULED_KIND} ${owner.name}'s annotation`;
    if (raw === undefined) return { ok: false, error: `the job is a run of ${SCHEDULED_KIND} ${owner.name}, which has no annotation ${OUTPUTS_ANNOTATION}: ${fix} on the ${SCHEDULED_KIND}` };
  }
  if (raw === undefined) return { ok: false, error: `the job has label ${JOB_LABEL} but no annotation ${OUTPUTS_ANNOTATION}: ${fix}` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    return { ok: false, error: `${where} ${OUTPUTS_ANNOTATION} is not JSON (${(error as Error).message}): ${fix}` };
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((u) => typeof u === 'string')) {
    return { ok: false, error: `${where} ${OUTPUTS_ANNOTATION} must be a non-empty JSON list of strings, got ${raw.slice(0, 200)}: ${fix}` };
  }
  const uris: string[] = [];
  for (const uri of parsed as string[]) {
    try {
      const problem = runPlaceholderProblem(uri, 'the URI');
      if (problem) throw new OrchardError(problem, fix);
      const { bucket, prefix } = parseS3Uri(resolveRunOutput(uri, app.metadata.name));
      uris.push(`s3a://${bucket}/${prefix}`);
    } catch (error) {
      return { ok: false, error: `${where} ${OUTPUTS_ANNOTATION} names ${JSON.stringify(uri)}: ${(error as Error).message}` };
    }
  }
  return { ok: true, uris: [...new Set(uris)] };
}
