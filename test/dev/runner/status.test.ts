import { describe, expect, it } from 'vitest';
import { driverError, scanLine, type DriverFacts } from '../../../src/dev/runner/driver-log.ts';
import type { SparkApplicationStatus } from '../../../src/api/spark-application.ts';
import { nextStep, submissionFailedStatus, submittedStatus, type RunnerApplication, type RunView } from '../../../src/dev/runner/status.ts';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const RUNS = '/state/runs';
const LOG = '/state/runs/jobs/featurize/attempt-1/driver.log';
const ago = (seconds: number) => new Date(NOW.getTime() - seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

const RETRIES = { type: 'OnFailure', onFailureRetries: 2, onFailureRetryInterval: 60, onSubmissionFailureRetries: 3, onSubmissionFailureRetryInterval: 30 };

function app(status?: SparkApplicationStatus, restartPolicy: Record<string, unknown> = RETRIES): RunnerApplication {
  return {
    apiVersion: 'sparkoperator.k8s.io/v1beta2',
    kind: 'SparkApplication',
    metadata: { name: 'featurize', namespace: 'jobs', uid: 'uid-1', resourceVersion: '7' },
    spec: { restartPolicy },
    ...(status ? { status } : {}),
  };
}

/** As the runner wrote it when spark-submit started: first attempt, 10 s ago. */
const SUBMITTED: SparkApplicationStatus = {
  applicationState: { state: 'SUBMITTED' },
  submissionID: 'sub-1',
  submissionAttempts: 1,
  executionAttempts: 1,
  lastSubmissionAttemptTime: ago(10),
  driverInfo: { podName: 'featurize-driver' },
};

function run(fields: Partial<RunView> = {}): RunView {
  return { submissionId: 'sub-1', started: true, facts: {}, driverLog: LOG, ...fields };
}

describe('dev runner status: the Spark operator state machine', () => {
  it('submits a new application, counting a submission and an execution', () => {
    expect(nextStep(app(), undefined, NOW, RUNS)).toEqual({ kind: 'submit' });
    expect(submittedStatus(app(), NOW, 'sub-1', 'featurize-driver')).toEqual({ ...SUBMITTED, lastSubmissionAttemptTime: '2026-03-01T12:00:00Z' });
  });

  it('counts a refused submission as a submission attempt only, with the message', () => {
    expect(submissionFailedStatus(app(), NOW, 'sub-1', 'featurize-driver', 'refused')).toEqual({
      applicationState: { state: 'SUBMISSION_FAILED', errorMessage: 'refused' },
      submissionID: 'sub-1',
      submissionAttempts: 1,
      lastSubmissionAttemptTime: '2026-03-01T12:00:00Z',
      driverInfo: { podName: 'featurize-driver' },
    });
  });

  it('moves to RUNNING once the process exists, then adds the app id and UI the driver reports', () => {
    expect(nextStep(app(SUBMITTED), run({ started: false }), NOW, RUNS)).toEqual({ kind: 'none' });
    const running = nextStep(app(SUBMITTED), run(), NOW, RUNS);
    expect(running).toEqual({ kind: 'write', status: { ...SUBMITTED, applicationState: { state: 'RUNNING' } } });
    const facts: DriverFacts = { appId: 'local-1772366400000', uiPort: 4041 };
    const written = { ...SUBMITTED, applicationState: { state: 'RUNNING' }, sparkApplicationId: 'local-1772366400000', driverInfo: { podName: 'featurize-driver', webUIPort: 4041, webUIAddress: '127.0.0.1:4041' } };
    expect(nextStep(app({ ...SUBMITTED, applicationState: { state: 'RUNNING' } }), run({ facts }), NOW, RUNS)).toEqual({ kind: 'write', status: written });
    // The API server returns keys sorted: the same status in another key order needs no write.
    const sorted = JSON.parse(JSON.stringify(written, Object.keys(written).concat('state', 'podName', 'webUIAddress', 'webUIPort').sort())) as SparkApplicationStatus;
    expect(nextStep(app(sorted), run({ facts }), NOW, RUNS)).toEqual({ kind: 'none' });
  });

  it('completes through SUCCEEDING, as the operator does', () => {
    const step = nextStep(app({ ...SUBMITTED, applicationState: { state: 'RUNNING' } }), run({ exit: { kind: 'exited', code: 0 } }), NOW, RUNS);
    expect(step).toEqual({ kind: 'write', status: { ...SUBMITTED, applicationState: { state: 'SUCCEEDING' }, terminationTime: '2026-03-01T12:00:00Z' } });
    const succeeding = (step as { status: SparkApplicationStatus }).status;
    expect(nextStep(app(succeeding), undefined, NOW, RUNS)).toEqual({ kind: 'write', status: { ...succeeding, applicationState: { state: 'COMPLETED' } } });
    expect(nextStep(app({ ...succeeding, applicationState: { state: 'COMPLETED' } }), undefined, NOW, RUNS)).toEqual({ kind: 'none' });
  });

  it('fails with the job\'s own error and where its log is', () => {
    const facts: DriverFacts = { jobError: 'no .jpg/.jpeg/.png files under s3a://b/in', sparkError: 'SparkContext: later noise' };
    const step = nextStep(app(SUBMITTED), run({ facts, exit: { kind: 'exited', code: 2 } }), NOW, RUNS);
    expect(step).toEqual({
      kind: 'write',
      status: { ...SUBMITTED, terminationTime: '2026-03-01T12:00:00Z', applicationState: { state: 'FAILING', errorMessage: `driver exited with code 2: no .jpg/.jpeg/.png files under s3a://b/in (driver log: ${LOG})` } },
    });
    const killed = nextStep(app(SUBMITTED), run({ exit: { kind: 'signalled', signal: 'SIGKILL' } }), NOW, RUNS) as { status: SparkApplicationStatus };
    expect(killed.status.applicationState).toEqual({ state: 'FAILING', errorMessage: `driver was killed by SIGKILL (driver log: ${LOG})` });
  });

  it('with restartPolicy Never, ends a failing run FAILED with its error', () => {
    const failing = { ...SUBMITTED, applicationState: { state: 'FAILING', errorMessage: 'boom' }, terminationTime: ago(5) };
    expect(nextStep(app(failing, { type: 'Never' }), undefined, NOW, RUNS)).toEqual({ kind: 'write', status: { ...failing, applicationState: { state: 'FAILED', errorMessage: 'boom' } } });
  });

  it('with OnFailure, waits interval x submissions from the last submission, then reruns through PENDING_RERUN with the run\'s fields cleared', () => {
    const failing: SparkApplicationStatus = { ...SUBMITTED, applicationState: { state: 'FAILING', errorMessage: 'boom' }, terminationTime: ago(5), sparkApplicationId: 'local-1' };
    expect(nextStep(app(failing), undefined, NOW, RUNS)).toEqual({ kind: 'wait', ms: 50_000 });
    const due = { ...failing, lastSubmissionAttemptTime: ago(61) };
    expect(nextStep(app(due), undefined, NOW, RUNS)).toEqual({
      kind: 'write',
      status: { applicationState: { state: 'PENDING_RERUN' }, submissionID: 'sub-1', submissionAttempts: 1, executionAttempts: 1, lastSubmissionAttemptTime: ago(61), driverInfo: {} },
    });
    expect(nextStep(app({ applicationState: { state: 'PENDING_RERUN' }, submissionAttempts: 1, executionAttempts: 1 }), undefined, NOW, RUNS)).toEqual({ kind: 'submit' });
    // Linear backoff: the second retry waits 2 x 60 s from the second submission.
    expect(nextStep(app({ ...failing, submissionAttempts: 2, executionAttempts: 2, lastSubmissionAttemptTime: ago(100) }), undefined, NOW, RUNS)).toEqual({ kind: 'wait', ms: 20_000 });
    // executionAttempts <= onFailureRetries: two retries after the first run, then FAILED.
    expect(nextStep(app({ ...failing, submissionAttempts: 3, executionAttempts: 3, lastSubmissionAttemptTime: ago(500) }), undefined, NOW, RUNS)).toMatchObject({ kind: 'write', status: { applicationState: { state: 'FAILED' } } });
  });

  it('retries a failed submission per onSubmissionFailureRetries, then fails it', () => {
    const failed: SparkApplicationStatus = { applicationState: { state: 'SUBMISSION_FAILED', errorMessage: 'refused' }, submissionID: 'sub-2', submissionAttempts: 2, lastSubmissionAttemptTime: ago(10) };
    expect(nextStep(app(failed), undefined, NOW, RUNS)).toEqual({ kind: 'wait', ms: 50_000 });
    expect(nextStep(app({ ...failed, lastSubmissionAttemptTime: ago(60) }), undefined, NOW, RUNS)).toEqual({ kind: 'submit' });
    expect(nextStep(app({ ...failed, submissionAttempts: 4 }), undefined, NOW, RUNS)).toEqual({
      kind: 'write',
      status: { ...failed, submissionAttempts: 4, applicationState: { state: 'FAILED', errorMessage: 'refused' }, terminationTime: '2026-03-01T12:00:00Z' },
    });
    expect(nextStep(app(failed, { type: 'Never' }), undefined, NOW, RUNS)).toMatchObject({ kind: 'write', status: { applicationState: { state: 'FAILED' } } });
  });

  it('fails a run the runner itself stopped, without a retry', () => {
    const step = nextStep(app(SUBMITTED), run({ exit: { kind: 'stopped' } }), NOW, RUNS) as { status: SparkApplicationStatus };
    expect(step.status.applicationState).toEqual({
      state: 'FAILED',
      errorMessage: `the dev runner stopped while the driver ran, and stopped the driver with it; delete and re-create the SparkApplication to run it again (driver log: ${LOG})`,
    });
  });

  it('fails a SUBMITTED or RUNNING application whose spark-submit this runner did not start: it restarted meanwhile', () => {
    const message =
      'the dev runner restarted while this run was in progress (submission sub-1), so its outcome is unknown; the runner stopped what was left of its spark-submit. ' +
      `Delete and re-create the SparkApplication to run it again (driver log: ${LOG})`;
    for (const state of ['SUBMITTED', 'RUNNING']) {
      const status = { ...SUBMITTED, applicationState: { state } };
      const expected = { kind: 'orphaned', status: { ...status, applicationState: { state: 'FAILED', errorMessage: message }, terminationTime: '2026-03-01T12:00:00Z' } };
      expect(nextStep(app(status), undefined, NOW, RUNS)).toEqual(expected);
      expect(nextStep(app(status), run({ submissionId: 'sub-0' }), NOW, RUNS)).toEqual(expected);
    }
  });

  it('leaves what only the operator handles alone', () => {
    for (const state of ['COMPLETED', 'FAILED', 'SUSPENDED', 'INVALIDATING', 'UNKNOWN']) expect(nextStep(app({ applicationState: { state } }), undefined, NOW, RUNS)).toEqual({ kind: 'none' });
  });
});

describe('dev runner: what the driver log says', () => {
  // Excerpts of a real local-mode driver log of featurize.py (Spark 3.5.8).
  const LINES = [
    '26/11/24 07:33:00 INFO SparkContext: Running Spark version 3.5.8',
    "26/11/24 07:33:02 INFO Utils: Successfully started service 'SparkUI' on port 4040.",
    '26/11/24 07:33:03 INFO RollingEventLogFilesWriter: Logging events to s3a://orchard-dev/spark-events/eventlog_v2_local-1795505582559/events_1_local-1795505582559',
    '{"ts": 1795505583.571, "level": "info", "logger": "orchard.featurize", "event": "spark_started", "seconds": 2.85}',
    '{"ts": 1795505587.309, "level": "error", "logger": "orchard.featurize", "event": "failed", "error": "input s3a://orchard-dev/nothing does not exist: check the prefix"}',
    '26/11/24 07:33:07 INFO SparkUI: Stopped Spark web UI at http://localhost:4040',
  ];

  it('reads the app id, the UI port and the job\'s error', () => {
    const facts = LINES.reduce(scanLine, {} as DriverFacts);
    expect(facts).toEqual({ appId: 'local-1795505582559', uiPort: 4040, jobError: 'input s3a://orchard-dev/nothing does not exist: check the prefix' });
    expect(scanLine(facts, LINES[0]!)).toBe(facts);
  });

  it('prefers the job\'s words, then a Python exception, then a Spark ERROR line', () => {
    const python = scanLine({}, 'py4j.protocol.Py4JJavaError: An error occurred while calling o45.load.');
    const spark = scanLine(python, '26/11/24 07:33:07 ERROR SparkContext: Error initializing SparkContext.');
    expect(driverError(spark)).toBe('py4j.protocol.Py4JJavaError: An error occurred while calling o45.load.');
    expect(driverError(scanLine({}, '26/11/24 07:33:07 ERROR SparkContext: Error initializing SparkContext.'))).toBe('SparkContext: Error initializing SparkContext.');
    expect(driverError(scanLine(spark, LINES[4]!))).toBe('input s3a://orchard-dev/nothing does not exist: check the prefix');
    expect(driverError(scanLine({}, '{"not": "ours"'))).toBeUndefined();
  });
});
