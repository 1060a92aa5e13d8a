import { JOB_LABEL, OUTPUTS_ANNOTATION } from './parquet-output.ts';
import { parseS3Uri } from './s3-uri.ts';
import type { SparkApplicationStatus as GeneratedStatus } from './imports/sparkapplication-status.ts';
import type { KubeObject } from './manifest.ts';

export const SPARK_GROUP_VERSION = 'sparkoperator.k8s.io/v1beta2';
export const SPARK_KIND = 'SparkApplication';

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

/** The output URIs a job declares in its `orchard.fruits.dev/outputs` annotation (a JSON list). */
export function outputsOf(app: SparkApplicationObject): OutputsAnnotation {
  const fix = `set annotation ${OUTPUTS_ANNOTATION} to a JSON list of s3a:// URIs, e.g. ["s3a://bucket/features/run-1/"]`;
  const raw = app.metadata.annotations?.[OUTPUTS_ANNOTATION];
  if (raw === undefined) return { ok: false, error: `the job has label ${JOB_LABEL} but no annotation ${OUTPUTS_ANNOTATION}: ${fix}` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    return { ok: false, error: `annotation ${OUTPUTS_ANNOTATION} is not JSON (${(error as Error).message}): ${fix}` };
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((u) => typeof u === 'string')) {
    return { ok: false, error: `annotation ${OUTPUTS_ANNOTATION} must be a non-empty JSON list of strings, got ${raw.slice(0, 200)}: ${fix}` };
  }
  const uris: string[] = [];
  for (const uri of parsed as string[]) {
    try {
      const { bucket, prefix } = parseS3Uri(uri);
      uris.push(`s3a://${bucket}/${prefix}`);
    } catch (error) {
      return { ok: false, error: `annotation ${OUTPUTS_ANNOTATION} names ${JSON.stringify(uri)}: ${(error as Error).message}` };
    }
  }
  return { ok: true, uris: [...new Set(uris)] };
}
