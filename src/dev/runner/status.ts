/**
 * The Spark operator's state machine for one SparkApplication (kubeflow/spark-operator v2.5.2,
 * internal/controller/sparkapplication/controller.go), as pure functions of the object, what the
 * runner knows about its own spark-submit, and the time:
 *
 *   "" (new) -> SUBMITTED -> RUNNING -> SUCCEEDING -> COMPLETED
 *                                    -> FAILING -> PENDING_RERUN -> SUBMITTED ... (restartPolicy OnFailure)
 *                                               -> FAILED
 *   "" (new) -> SUBMISSION_FAILED -> SUBMITTED ... (onSubmissionFailureRetries) | FAILED
 *
 * Retries follow pkg/util/sparkapplication.go: ShouldRetry counts executionAttempts against
 * onFailureRetries (submissionAttempts against onSubmissionFailureRetries), and a retry is due
 * `interval x submissionAttempts` after lastSubmissionAttemptTime (a linear backoff). Like the
 * operator, the application waits out the interval in FAILING (or SUBMISSION_FAILED), then passes
 * through PENDING_RERUN with the previous run's fields cleared.
 *
 * Where the dev runner differs, on purpose: a run interrupted by the runner itself (stopped, or
 * restarted while the driver ran) ends FAILED without a retry, because the failure says nothing
 * about the job, and a developer who stopped the runner does not expect the job to come back.
 */
import { join } from 'node:path';
import type { KubeObject } from '../../api/manifest.ts';
import { STATE, type SparkApplicationStatus } from '../../api/spark-application.ts';
import type { DriverFacts } from './driver-log.ts';
import { driverError } from './driver-log.ts';

export interface RunnerApplication extends KubeObject {
  readonly metadata: KubeObject['metadata'] & { readonly namespace: string; readonly creationTimestamp?: string };
  readonly spec: Readonly<Record<string, unknown>>;
  readonly status?: SparkApplicationStatus;
}

/** How a spark-submit ended. */
export type DriverExit =
  | { readonly kind: 'exited'; readonly code: number }
  | { readonly kind: 'signalled'; readonly signal: string }
  | { readonly kind: 'not-started'; readonly error: string }
  /** Killed by the runner on its way out (SIGTERM). */
  | { readonly kind: 'stopped' };

/** What the runner knows about the spark-submit it started for an application. */
export interface RunView {
  readonly submissionId: string;
  /** The process exists: the analogue of the driver pod running. */
  readonly started: boolean;
  readonly facts: DriverFacts;
  readonly exit?: DriverExit;
  readonly driverLog: string;
}

export type Step =
  /** Translate the spec and run it, or record why it cannot run. */
  | { readonly kind: 'submit' }
  | { readonly kind: 'write'; readonly status: SparkApplicationStatus }
  /** SUBMITTED or RUNNING, but no spark-submit of this runner belongs to it: stop what is left, then write. */
  | { readonly kind: 'orphaned'; readonly status: SparkApplicationStatus }
  | { readonly kind: 'wait'; readonly ms: number }
  | { readonly kind: 'none' };

interface RestartPolicy {
  readonly type?: string;
  readonly onFailureRetries?: number;
  readonly onFailureRetryInterval?: number;
  readonly onSubmissionFailureRetries?: number;
  readonly onSubmissionFailureRetryInterval?: number;
}

/** metav1.Time: RFC 3339 in whole seconds. */
export function timestamp(now: Date): string {
  return now.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Where one attempt keeps its driver log and the pid of its spark-submit. */
export function attemptDir(runsRoot: string, app: RunnerApplication, attempt: number): string {
  return join(runsRoot, app.metadata.namespace, app.metadata.name, `attempt-${attempt}`);
}

export function driverLogPath(runsRoot: string, app: RunnerApplication, attempt: number): string {
  return join(attemptDir(runsRoot, app, attempt), 'driver.log');
}

export function stateOf(app: RunnerApplication): string {
  return app.status?.applicationState?.state ?? STATE.new;
}

/** A new submission that spark-submit accepted (the operator's submitSparkApplication, success branch). */
export function submittedStatus(app: RunnerApplication, now: Date, submissionId: string, podName: string): SparkApplicationStatus {
  const old = app.status ?? {};
  return {
    ...old,
    submissionID: submissionId,
    lastSubmissionAttemptTime: timestamp(now),
    submissionAttempts: (old.submissionAttempts ?? 0) + 1,
    executionAttempts: (old.executionAttempts ?? 0) + 1,
    applicationState: { state: STATE.submitted },
    driverInfo: { ...old.driverInfo, podName },
  };
}

/** A submission that failed: counts as a submission attempt, not an execution. */
export function submissionFailedStatus(app: RunnerApplication, now: Date, submissionId: string, podName: string, errorMessage: string): SparkApplicationStatus {
  const old = app.status ?? {};
  return {
    ...old,
    submissionID: submissionId,
    lastSubmissionAttemptTime: timestamp(now),
    submissionAttempts: (old.submissionAttempts ?? 0) + 1,
    applicationState: { state: STATE.submissionFailed, errorMessage },
    driverInfo: { ...old.driverInfo, podName },
  };
}

/** What the operator reads off the driver pod: the app id and, with the UI Service, its address. */
function withFacts(status: SparkApplicationStatus, facts: DriverFacts): SparkApplicationStatus {
  return {
    ...status,
    ...(facts.appId ? { sparkApplicationId: facts.appId } : {}),
    ...(facts.uiPort ? { driverInfo: { ...status.driverInfo, webUIPort: facts.uiPort, webUIAddress: `127.0.0.1:${facts.uiPort}` } } : {}),
  };
}

function exitMessage(exit: DriverExit, run: RunView): string {
  const error = driverError(run.facts);
  const cause = error ? `: ${error}` : '';
  switch (exit.kind) {
    case 'exited':
      return `driver exited with code ${exit.code}${cause} (driver log: ${run.driverLog})`;
    case 'signalled':
      return `driver was killed by ${exit.signal}${cause} (driver log: ${run.driverLog})`;
    case 'not-started':
      return `spark-submit did not start: ${exit.error}`;
    case 'stopped':
      return `the dev runner stopped while the driver ran, and stopped the driver with it; delete and re-create the SparkApplication to run it again (driver log: ${run.driverLog})`;
  }
}

/** The status once spark-submit has ended (the operator's updateDriverState for a terminated driver). */
function exitedStatus(app: RunnerApplication, run: RunView, exit: DriverExit, now: Date): SparkApplicationStatus {
  const base = withFacts({ ...app.status, terminationTime: timestamp(now) }, run.facts);
  if (exit.kind === 'exited' && exit.code === 0) return { ...base, applicationState: { state: STATE.succeeding } };
  const state = exit.kind === 'stopped' ? STATE.failed : STATE.failing;
  return { ...base, applicationState: { state, errorMessage: exitMessage(exit, run) } };
}

function restartPolicy(app: RunnerApplication): RestartPolicy {
  return (app.spec.restartPolicy ?? {}) as RestartPolicy;
}

/**
 * ShouldRetry and TimeUntilNextRetryDue: undefined when no retry is left, else the milliseconds
 * until it is due (<= 0: now). `Always` is refused at submission; an application edited to it
 * afterwards is treated as Never.
 */
function retryDueInMs(app: RunnerApplication, now: Date, kind: 'run' | 'submission'): number | undefined {
  const policy = restartPolicy(app);
  if (policy.type !== 'OnFailure') return undefined;
  const status = app.status ?? {};
  const retries = kind === 'run' ? policy.onFailureRetries : policy.onSubmissionFailureRetries;
  const attempts = kind === 'run' ? (status.executionAttempts ?? 0) : (status.submissionAttempts ?? 0);
  if (retries === undefined || attempts > retries) return undefined;
  const interval = (kind === 'run' ? policy.onFailureRetryInterval : policy.onSubmissionFailureRetryInterval) ?? 0;
  const last = status.lastSubmissionAttemptTime ? Date.parse(status.lastSubmissionAttemptTime) : now.getTime();
  return interval * 1000 * (status.submissionAttempts ?? 1) - (now.getTime() - last);
}

/**
 * resetSparkApplicationStatus for a failing run: the next attempt starts without the last one's
 * fields. driverInfo is emptied, not removed: the CRD requires it.
 */
function pendingRerunStatus(app: RunnerApplication): SparkApplicationStatus {
  const { sparkApplicationId: _id, terminationTime: _end, executorState: _executors, ...kept } = app.status ?? {};
  return { ...kept, applicationState: { state: STATE.pendingRerun }, driverInfo: {} };
}

function orphanMessage(app: RunnerApplication, runsRoot: string): string {
  const status = app.status ?? {};
  return (
    `the dev runner restarted while this run was in progress (submission ${status.submissionID ?? 'unknown'}), so its outcome is unknown; ` +
    'the runner stopped what was left of its spark-submit. Delete and re-create the SparkApplication to run it again ' +
    `(driver log: ${driverLogPath(runsRoot, app, status.submissionAttempts ?? 1)})`
  );
}

/** JSON with sorted keys: the API server returns custom resources with their keys sorted. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

/**
 * The one thing to do next for `app`, given the runner's own spark-submit for it (if any). Level
 * triggered: the same object and run give the same step, so a lost event or a restart is harmless.
 */
export function nextStep(app: RunnerApplication, run: RunView | undefined, now: Date, runsRoot: string): Step {
  const status = app.status ?? {};
  switch (stateOf(app)) {
    case STATE.new:
    case STATE.pendingRerun:
      return { kind: 'submit' };
    case STATE.submitted:
    case STATE.running: {
      if (!run || run.submissionId !== status.submissionID) {
        return { kind: 'orphaned', status: { ...status, applicationState: { state: STATE.failed, errorMessage: orphanMessage(app, runsRoot) }, terminationTime: timestamp(now) } };
      }
      if (run.exit) return { kind: 'write', status: exitedStatus(app, run, run.exit, now) };
      if (!run.started) return { kind: 'none' };
      const running = withFacts({ ...status, applicationState: { state: STATE.running } }, run.facts);
      return canonical(running) === canonical(status) ? { kind: 'none' } : { kind: 'write', status: running };
    }
    case STATE.succeeding:
      return { kind: 'write', status: { ...status, applicationState: { state: STATE.completed } } };
    case STATE.failing: {
      const due = retryDueInMs(app, now, 'run');
      if (due === undefined) return { kind: 'write', status: { ...status, applicationState: { ...status.applicationState, state: STATE.failed } } };
      return due > 0 ? { kind: 'wait', ms: due } : { kind: 'write', status: pendingRerunStatus(app) };
    }
    case STATE.submissionFailed: {
      const due = retryDueInMs(app, now, 'submission');
      if (due === undefined) return { kind: 'write', status: { ...status, applicationState: { ...status.applicationState, state: STATE.failed }, terminationTime: timestamp(now) } };
      return due > 0 ? { kind: 'wait', ms: due } : { kind: 'submit' };
    }
    default:
      // COMPLETED and FAILED are final; states only the operator reaches (SUSPENDED, INVALIDATING...) are left to it.
      return { kind: 'none' };
  }
}
