import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Duration } from 'cdk8s';
import { beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ALERTS, orchardRuleGroups, type AlertName, type AlertRule } from '../../../cdk8s/monitoring/alerts.ts';
import { JOB_SERIES_LABEL } from '../../../src/api/parquet-output.ts';
import { ControllerMetrics } from '../../../src/controller/metrics.ts';
import { requireTool } from '../../../src/dev/tools.ts';
import { metricNamesIn, monitoringQueries } from '../../support/monitoring.ts';

const run = promisify(execFile);
const NAMESPACE = 'orchard';
const groups = orchardRuleGroups({ namespace: NAMESPACE, expectedJobDuration: Duration.minutes(30) });
const rules = new Map(groups.flatMap((g) => g.rules).map((rule) => [rule.alert as AlertName, rule]));

/** The sample series of one promtool case: the alert fires on `firing`, stays quiet on `healthy`. */
interface AlertCase {
  readonly firing: Record<string, string>;
  readonly healthy: Record<string, string>;
  /** When to evaluate: after the alert's `for`. */
  readonly evalTime: string;
  /** The labels the alert carries beyond its own (from the `by` clause), and the values its templates see. */
  readonly labels: Record<string, string>;
  readonly value: string;
}

const ctl = `namespace="${NAMESPACE}", job="orchard-controller", pod="orchard-controller-0"`;
/** Two orchard jobs' per-job series, as the controller labels them. */
const nightly = `spark_namespace="${NAMESPACE}", ${JOB_SERIES_LABEL}="nightly"`;
const hourly = `spark_namespace="${NAMESPACE}", ${JOB_SERIES_LABEL}="hourly"`;
const CASES: Record<AlertName, AlertCase> = {
  OrchardSparkJobFailed: {
    firing: { [`orchard_spark_applications{${ctl}, state="FAILED"}`]: '1x10', [`orchard_spark_applications{${ctl}, state="COMPLETED"}`]: '3x10' },
    healthy: { [`orchard_spark_applications{${ctl}, state="COMPLETED"}`]: '3x10', [`orchard_spark_applications{${ctl}, state="RUNNING"}`]: '1x10' },
    evalTime: '5m',
    labels: { namespace: NAMESPACE, state: 'FAILED' },
    value: '1',
  },
  OrchardSparkJobRunningTooLong: {
    // 40 minutes of running, sampled each minute: past the 30-minute limit after minute 30.
    firing: { [`orchard_spark_application_running_seconds{${ctl}, spark_namespace="orchard", spark_application="featurize"}`]: '0+60x40' },
    healthy: { [`orchard_spark_application_running_seconds{${ctl}, spark_namespace="orchard", spark_application="featurize"}`]: '0+60x20' },
    evalTime: '35m',
    labels: { namespace: NAMESPACE, spark_namespace: 'orchard', spark_application: 'featurize' },
    value: '35m 0s',
  },
  OrchardOutputIncomplete: {
    firing: { [`orchard_parquet_outputs{${ctl}, phase="Incomplete"}`]: '2x10', [`orchard_parquet_outputs{${ctl}, phase="Recorded"}`]: '5x10' },
    healthy: { [`orchard_parquet_outputs{${ctl}, phase="Incomplete"}`]: '0x10', [`orchard_parquet_outputs{${ctl}, phase="Recorded"}`]: '5x10' },
    evalTime: '5m',
    labels: { namespace: NAMESPACE },
    value: '2',
  },
  OrchardFeatureQualityBelowThreshold: {
    firing: { [`orchard_parquet_outputs_failing_quality{${ctl}, reason="QualityBelowThreshold"}`]: '1x10', [`orchard_parquet_outputs_failing_quality{${ctl}, reason="QualityNotMeasured"}`]: '0x10' },
    healthy: { [`orchard_parquet_outputs_failing_quality{${ctl}, reason="QualityBelowThreshold"}`]: '0x10', [`orchard_parquet_outputs_failing_quality{${ctl}, reason="QualityNotMeasured"}`]: '0x10' },
    evalTime: '5m',
    labels: { namespace: NAMESPACE, reason: 'QualityBelowThreshold' },
    value: '1',
  },
  OrchardOutputLeftovers: {
    // Leftovers that stay past the hour fire; some that gc removed after half an hour do not.
    firing: { [`orchard_parquet_outputs_leftover_uploads{${ctl}, ${nightly}}`]: '2x90', [`orchard_parquet_outputs_leftover_objects{${ctl}, ${nightly}}`]: '1x90', [`orchard_parquet_outputs_leftover_uploads{${ctl}, ${hourly}}`]: '0x90', [`orchard_parquet_outputs_leftover_objects{${ctl}, ${hourly}}`]: '0x90' },
    healthy: { [`orchard_parquet_outputs_leftover_uploads{${ctl}, ${nightly}}`]: '2x30 0x60', [`orchard_parquet_outputs_leftover_objects{${ctl}, ${nightly}}`]: '1x30 0x60' },
    evalTime: '75m',
    labels: { namespace: NAMESPACE, spark_namespace: NAMESPACE, [JOB_SERIES_LABEL]: 'nightly' },
    value: '3',
  },
  OrchardSchemaChanged: {
    // The nightly job's newest dataset changed its columns; a later run with the same columns clears it.
    firing: { [`orchard_parquet_output_schema_changed{${ctl}, ${nightly}}`]: '0x5 1x10', [`orchard_parquet_output_schema_changed{${ctl}, ${hourly}}`]: '0x15' },
    healthy: { [`orchard_parquet_output_schema_changed{${ctl}, ${nightly}}`]: '0x5 1x2 0x8', [`orchard_parquet_output_schema_changed{${ctl}, ${hourly}}`]: '0x15' },
    evalTime: '10m',
    labels: { namespace: NAMESPACE, spark_namespace: NAMESPACE, [JOB_SERIES_LABEL]: 'nightly' },
    value: '1',
  },
  OrchardControllerDown: {
    // Up for two minutes, then down (0) for the rest: the alert waits its 5 minutes.
    firing: { [`up{${ctl}}`]: '1 1 0x20' },
    healthy: { [`up{${ctl}}`]: '1x20' },
    evalTime: '10m',
    labels: {},
    value: '1',
  },
  OrchardControllerNoLeader: {
    firing: { [`orchard_leader{${ctl}}`]: '0x10', [`orchard_leader{namespace="${NAMESPACE}", job="orchard-controller", pod="orchard-controller-1"}`]: '0x10' },
    healthy: { [`orchard_leader{${ctl}}`]: '0x10', [`orchard_leader{namespace="${NAMESPACE}", job="orchard-controller", pod="orchard-controller-1"}`]: '1x10' },
    evalTime: '5m',
    labels: {},
    value: '0',
  },
  OrchardReconcileErrors: {
    // Six errors a minute for 30 minutes, against a healthy controller whose error counter stays at 0.
    firing: { [`orchard_reconcile_total{${ctl}, result="error"}`]: '0+6x30', [`orchard_reconcile_total{${ctl}, result="success"}`]: '0+60x30' },
    healthy: { [`orchard_reconcile_total{${ctl}, result="error"}`]: '0x30', [`orchard_reconcile_total{${ctl}, result="success"}`]: '0+60x30' },
    evalTime: '25m',
    labels: { namespace: NAMESPACE },
    value: '0.1',
  },
};

/** Prometheus's template expansion for the few forms orchard's annotations use. */
function expand(text: string, labels: Record<string, string>, value: string): string {
  return text.replace(/\{\{ \$labels\.(\w+) \}\}/g, (_, name: string) => labels[name] ?? '').replace(/\{\{ \$value( \| humanizeDuration)? \}\}/g, value);
}

function promtoolCase(rule: AlertRule, series: Record<string, string>, evalTime: string, expected: { exp_labels: Record<string, string>; exp_annotations: Record<string, string> }[]) {
  return {
    interval: '1m',
    input_series: Object.entries(series).map(([name, values]) => ({ series: name, values })),
    alert_rule_test: [{ eval_time: evalTime, alertname: rule.alert, exp_alerts: expected }],
  };
}

describe('orchard alert rules, checked and unit-tested by promtool', () => {
  let promtool: string;
  let dir: string;
  let rulesFile: string;

  beforeAll(async () => {
    promtool = requireTool('prometheus');
    dir = await mkdtemp(join(tmpdir(), 'orchard-rules-'));
    rulesFile = join(dir, 'orchard-rules.yaml');
    await writeFile(rulesFile, stringify({ groups }, { lineWidth: 0 }));
  }, 600_000);

  it('names every alert once, with a runbook, a summary and a severity', () => {
    expect([...rules.keys()]).toEqual([...ALERTS]);
    for (const rule of rules.values()) {
      expect(rule.annotations.runbook.length, rule.alert).toBeGreaterThan(80);
      expect(rule.annotations.summary, rule.alert).not.toBe('');
      expect(['critical', 'warning']).toContain(rule.labels.severity);
    }
  });

  it('passes promtool check rules', async () => {
    const { stdout } = await run(promtool, ['check', 'rules', rulesFile]);
    expect(stdout).toContain(`SUCCESS: ${ALERTS.length} rules found`);
  });

  it('fires each alert on a failing sample series and stays quiet on a healthy one (promtool test rules)', async () => {
    const tests = ALERTS.flatMap((name) => {
      const rule = rules.get(name)!;
      const c = CASES[name];
      const labels = { ...c.labels, ...rule.labels };
      const annotations = Object.fromEntries(Object.entries(rule.annotations).map(([k, v]) => [k, expand(v, labels, c.value)]));
      return [promtoolCase(rule, c.firing, c.evalTime, [{ exp_labels: labels, exp_annotations: annotations }]), promtoolCase(rule, c.healthy, c.evalTime, [])];
    });
    const testFile = join(dir, 'orchard-rules.test.yaml');
    await writeFile(testFile, stringify({ rule_files: [rulesFile], evaluation_interval: '1m', tests }, { lineWidth: 0 }));
    const result = await run(promtool, ['test', 'rules', testFile]).catch((error: { stdout: string; stderr: string }) => error);
    expect(`${result.stdout}${result.stderr}`).toContain('SUCCESS');
  });

  it('detects a broken alert: an alert whose threshold can never be crossed fails its promtool case', async () => {
    const broken = { groups: [{ name: 'orchard', rules: [{ ...rules.get('OrchardOutputIncomplete')!, expr: rules.get('OrchardOutputIncomplete')!.expr.replace('> 0', '> 1000') }] }] };
    const brokenFile = join(dir, 'broken-rules.yaml');
    await writeFile(brokenFile, stringify(broken, { lineWidth: 0 }));
    const c = CASES.OrchardOutputIncomplete;
    const rule = rules.get('OrchardOutputIncomplete')!;
    const labels = { ...c.labels, ...rule.labels };
    const annotations = Object.fromEntries(Object.entries(rule.annotations).map(([k, v]) => [k, expand(v, labels, c.value)]));
    const testFile = join(dir, 'broken-rules.test.yaml');
    await writeFile(testFile, stringify({ rule_files: [brokenFile], evaluation_interval: '1m', tests: [promtoolCase(rule, c.firing, c.evalTime, [{ exp_labels: labels, exp_annotations: annotations }])] }, { lineWidth: 0 }));
    const failure = await run(promtool, ['test', 'rules', testFile]).then(
      () => undefined,
      (error: { stdout: string; stderr: string }) => `${error.stdout}${error.stderr}`,
    );
    expect(failure).toContain('FAILED');
  });

  it('queries only controller metrics that the controller exports (the Spark ones are checked against a real run)', async () => {
    const exported = new Set([...(await new ControllerMetrics().registry.metrics()).matchAll(/^# TYPE (\S+) (\S+)/gm)].flatMap(([, name, type]) => (type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name!])));
    const used = metricNamesIn(monitoringQueries(NAMESPACE).map((q) => q.expr)).filter((name) => name.startsWith('orchard_'));
    expect(used.length).toBeGreaterThan(8);
    expect(used.filter((name) => !exported.has(name))).toEqual([]);
  });
});
