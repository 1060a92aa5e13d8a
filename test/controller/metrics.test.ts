import { describe, expect, it } from 'vitest';
import { JOB_SERIES_LABEL, type ParquetOutput, type ParquetOutputStatus } from '../../src/api/parquet-output.ts';
import { outcomeOf, type Outcome } from '../../src/controller/desired.ts';
import { SCHEMA_CHANGED } from '../../src/controller/drift.ts';
import { ControllerMetrics } from '../../src/controller/metrics.ts';
import type { SparkApplicationObject } from '../../src/api/spark-application.ts';

function app(name: string, state: string | undefined, submitted?: string): SparkApplicationObject {
  return {
    metadata: { name, namespace: 'orchard', uid: `uid-${name}`, resourceVersion: '1' },
    ...(state ? { status: { applicationState: { state }, ...(submitted ? { lastSubmissionAttemptTime: submitted } : {}) } } : {}),
  };
}

async function samples(metrics: ControllerMetrics, name: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const line of (await metrics.registry.metrics()).split('\n')) {
    const match = new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`).exec(line);
    if (match) out[match[1] ?? ''] = Number(match[2]);
  }
  return out;
}

describe('ControllerMetrics.observeJobs', () => {
  const now = Date.parse('2026-12-01T12:00:00Z');

  it('counts jobs by state and times only the submitted or running ones, from their last submission', async () => {
    const metrics = new ControllerMetrics();
    metrics.observeJobs(
      [
        app('running', 'RUNNING', '2026-12-01T11:30:00Z'),
        app('submitted', 'SUBMITTED', '2026-12-01T11:59:00Z'),
        app('done', 'COMPLETED', '2026-12-01T10:00:00Z'),
        app('failed', 'FAILED', '2026-12-01T10:00:00Z'),
        app('new', undefined),
      ],
      now,
    );
    expect(await samples(metrics, 'orchard_spark_applications')).toEqual({
      '{state="RUNNING"}': 1,
      '{state="SUBMITTED"}': 1,
      '{state="COMPLETED"}': 1,
      '{state="FAILED"}': 1,
      '{state="NEW"}': 1,
    });
    expect(await samples(metrics, 'orchard_spark_application_running_seconds')).toEqual({
      '{spark_namespace="orchard",spark_application="running"}': 1800,
      '{spark_namespace="orchard",spark_application="submitted"}': 60,
    });
  });

  it('drops the series of a job that finished or was deleted, so a stale age never trips the alert', async () => {
    const metrics = new ControllerMetrics();
    metrics.observeJobs([app('running', 'RUNNING', '2026-12-01T11:30:00Z')], now);
    metrics.observeJobs([app('running', 'COMPLETED', '2026-12-01T11:30:00Z')], now + 60_000);
    expect(await samples(metrics, 'orchard_spark_application_running_seconds')).toEqual({});
    expect(await samples(metrics, 'orchard_spark_applications')).toEqual({ '{state="COMPLETED"}': 1 });
  });

  it('exports reconcile results at 0 before the first reconcile', async () => {
    expect(await samples(new ControllerMetrics(), 'orchard_reconcile_total')).toEqual({ '{result="success"}': 0, '{result="error"}': 0, '{result="conflict"}': 0 });
  });
});

describe('ControllerMetrics.setOutputPhases', () => {
  it('counts outputs by phase and, apart, those refused by their quality gate; a cleared refusal drops back to 0', async () => {
    const metrics = new ControllerMetrics();
    expect(await samples(metrics, 'orchard_parquet_outputs_failing_quality')).toEqual({ '{reason="QualityBelowThreshold"}': 0, '{reason="QualityNotMeasured"}': 0 });
    metrics.setOutputPhases([
      { phase: 'Recorded', reason: 'Complete' },
      { phase: 'Incomplete', reason: 'QualityBelowThreshold' },
      { phase: 'Incomplete', reason: 'RowCountMismatch' },
      { phase: 'Pending' },
    ]);
    expect(await samples(metrics, 'orchard_parquet_outputs')).toEqual({ '{phase="Pending"}': 1, '{phase="Recorded"}': 1, '{phase="Incomplete"}': 2, '{phase="Failed"}': 0 });
    expect(await samples(metrics, 'orchard_parquet_outputs_failing_quality')).toEqual({ '{reason="QualityBelowThreshold"}': 1, '{reason="QualityNotMeasured"}': 0 });
    metrics.setOutputPhases([{ phase: 'Recorded', reason: 'Complete' }]);
    expect(await samples(metrics, 'orchard_parquet_outputs_failing_quality')).toEqual({ '{reason="QualityBelowThreshold"}': 0, '{reason="QualityNotMeasured"}': 0 });
  });
});

describe('ControllerMetrics.setJobOutputs', () => {
  const JOB = JOB_SERIES_LABEL;
  const series = (namespace: string, job: string) => `{spark_namespace="${namespace}",${JOB}="${job}"}`;

  /** A record as the reconciler reads it: the gauges see it through outcomeOf, as in reconcile.ts. */
  function record(name: string, created: string, status: ParquetOutputStatus): Outcome {
    return outcomeOf({ metadata: { name, creationTimestamp: created } as ParquetOutput['metadata'] }, status);
  }
  const leftovers = (pendingUploads: number, partialObjects: number, partialBytes: number) => ({ pendingUploads, partialObjects, partialBytes });
  const drift = (status: 'True' | 'False') => ({ type: SCHEMA_CHANGED, status, reason: status === 'True' ? 'ColumnsChanged' : 'SameColumns', message: '', lastTransitionTime: '2026-12-04T02:00:00Z' });
  const perJob = async (metrics: ControllerMetrics) => ({
    uploads: await samples(metrics, 'orchard_parquet_outputs_leftover_uploads'),
    objects: await samples(metrics, 'orchard_parquet_outputs_leftover_objects'),
    bytes: await samples(metrics, 'orchard_parquet_outputs_leftover_bytes'),
    drift: await samples(metrics, 'orchard_parquet_output_schema_changed'),
  });

  it('exports every watched job at 0 from its first reconcile, before it has any record', async () => {
    const metrics = new ControllerMetrics();
    expect(await perJob(metrics)).toEqual({ uploads: {}, objects: {}, bytes: {}, drift: {} });
    metrics.setJobOutputs([{ namespace: 'orchard', job: 'nightly', outcomes: [] }]);
    const zero = { [series('orchard', 'nightly')]: 0 };
    expect(await perJob(metrics)).toEqual({ uploads: zero, objects: zero, bytes: zero, drift: zero });
  });

  it("sums the leftovers of a job's records over its runs, keeps jobs and namespaces apart, and drops them when gc has removed them", async () => {
    const metrics = new ControllerMetrics();
    const failed = record('nightly-2', '2026-12-03T02:00:00Z', { phase: 'Failed', leftovers: leftovers(1, 2, 300) });
    const retried = record('nightly-3', '2026-12-04T02:00:00Z', { phase: 'Recorded', leftovers: leftovers(1, 0, 0) });
    const clean = record('nightly-1', '2026-12-02T02:00:00Z', { phase: 'Recorded' });
    metrics.setJobOutputs([
      { namespace: 'orchard', job: 'nightly', outcomes: [clean] },
      { namespace: 'orchard', job: 'nightly', outcomes: [failed] },
      { namespace: 'orchard', job: 'nightly', outcomes: [retried] },
      { namespace: 'orchard', job: 'hourly', outcomes: [clean] },
      { namespace: 'staging', job: 'nightly', outcomes: [failed] },
    ]);
    expect(await perJob(metrics)).toMatchObject({
      uploads: { [series('orchard', 'nightly')]: 2, [series('orchard', 'hourly')]: 0, [series('staging', 'nightly')]: 1 },
      objects: { [series('orchard', 'nightly')]: 2, [series('orchard', 'hourly')]: 0, [series('staging', 'nightly')]: 2 },
      bytes: { [series('orchard', 'nightly')]: 300, [series('orchard', 'hourly')]: 0, [series('staging', 'nightly')]: 300 },
    });

    // orchard gc ran; the next reconciles read the records without leftovers, and staging's job was deleted.
    metrics.setJobOutputs([
      { namespace: 'orchard', job: 'nightly', outcomes: [clean, record('nightly-2', '2026-12-03T02:00:00Z', { phase: 'Failed' }), record('nightly-3', '2026-12-04T02:00:00Z', { phase: 'Recorded' })] },
      { namespace: 'orchard', job: 'hourly', outcomes: [clean] },
    ]);
    const zero = { [series('orchard', 'nightly')]: 0, [series('orchard', 'hourly')]: 0 };
    expect(await perJob(metrics)).toMatchObject({ uploads: zero, objects: zero, bytes: zero });
  });

  it('flags drift by the newest Recorded dataset of a job, and clears it when a later run keeps the columns', async () => {
    const metrics = new ControllerMetrics();
    const first = record('nightly-1', '2026-12-02T02:00:00Z', { phase: 'Recorded' });
    const changed = record('nightly-2', '2026-12-03T02:00:00Z', { phase: 'Recorded', conditions: [drift('True')] });
    const running = record('nightly-3', '2026-12-04T02:00:00Z', { phase: 'Pending' });
    const broken = record('nightly-3', '2026-12-04T02:00:00Z', { phase: 'Incomplete', conditions: [drift('False')] });
    const kept = record('nightly-3', '2026-12-04T02:00:00Z', { phase: 'Recorded', conditions: [drift('False')] });
    const drifted = async (...outcomes: Outcome[]) => {
      metrics.setJobOutputs(outcomes.map((o) => ({ namespace: 'orchard', job: 'nightly', outcomes: [o] })));
      return (await samples(metrics, 'orchard_parquet_output_schema_changed'))[series('orchard', 'nightly')];
    };
    expect(await drifted(first)).toBe(0);
    // In any order the reconciles happen to run.
    expect(await drifted(changed, first)).toBe(1);
    // A run still writing, or an Incomplete dataset no reader should use, is not the job's newest dataset.
    expect(await drifted(first, changed, running)).toBe(1);
    expect(await drifted(first, changed, broken)).toBe(1);
    expect(await drifted(first, changed, kept)).toBe(0);
  });

  it("takes a record's leftovers and drift from its status, and its order from creation time then name", () => {
    const status: ParquetOutputStatus = { phase: 'Recorded', leftovers: leftovers(2, 1, 10), conditions: [drift('True')] };
    expect(record('b', '2026-12-03T02:00:00Z', status)).toEqual({ phase: 'Recorded', leftovers: leftovers(2, 1, 10), schemaChanged: true, order: '2026-12-03T02:00:00Z\nb' });
    expect(record('a', '2026-12-03T02:00:00Z', { phase: 'Recorded', conditions: [drift('False')] })).toEqual({ phase: 'Recorded', order: '2026-12-03T02:00:00Z\na' });
  });
});
