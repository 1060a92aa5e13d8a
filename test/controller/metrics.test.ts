import { describe, expect, it } from 'vitest';
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
