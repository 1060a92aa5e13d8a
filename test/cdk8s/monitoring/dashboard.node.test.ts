import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duration } from 'cdk8s';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orchardRuleGroups } from '../../../cdk8s/monitoring/alerts.ts';
import { PrometheusServer } from '../../../src/dev/prometheus.ts';
import { KubernetesFileDiscovery } from '../../../src/dev/kubernetes-file-sd.ts';
import { monitorNamespaces, scrapeConfigsFor } from '../../../src/dev/scrape-configs.ts';
import { kubeConfigFor, type StackState } from '../../../src/dev/stack.ts';
import { requireTool } from '../../../src/dev/tools.ts';
import { waitForJob } from '../../../src/jobs/wait.ts';
import { applyAll } from '../../../src/kube/apply.ts';
import { createLogger } from '../../../src/log.ts';
import { eventually } from '../../support/kube.ts';
import { metricNamesIn, monitoringQueries } from '../../support/monitoring.ts';
import { devStage, sharedNodeStack, stageManifests } from '../../support/node-stage.ts';

/** A job here starts a driver and two executor JVMs on two shared cores: minutes, not seconds. */
const RUN_MS = 900_000;

/**
 * The monitors orchard ships, turned into Prometheus's own scrape configurations as the
 * Prometheus operator would (src/dev/scrape-configs.ts), select the real pods of the node: the
 * controller's pod behind its Service, and the driver pod, which also serves its executors'
 * metrics. Every dashboard panel and alert query must return data from that.
 */
describe('the dashboard and the alerts against a real Prometheus scraping the pods of a real run', () => {
  const log = createLogger({ component: 'monitoring-node-test' });
  let dir: string;
  let state: StackState | undefined;
  let prometheus: PrometheusServer | undefined;
  let discovery: KubernetesFileDiscovery | undefined;

  beforeAll(async () => {
    for (const tool of ['node', 'node images', 'images', 'helm', 'prometheus'] as const) requireTool(tool);
    dir = await mkdtemp(join(tmpdir(), 'orchard-prometheus-'));
    state = await sharedNodeStack(log);
  }, 600_000);

  afterAll(async () => {
    await prometheus?.stop();
    await discovery?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 120_000);

  it('returns data for every panel and alert query, knows every metric they name, and fires the job alerts', async () => {
    const kc = kubeConfigFor(state!);
    const good = devStage(state!, { name: 'monitored', limit: 120 });
    const bad = devStage(state!, { name: 'no-input', limit: 120, inputPrefix: 'no-such-prefix' });
    const ns = good.namespace;
    const manifests = [...stageManifests(good), ...stageManifests(bad)];
    const monitors = manifests.filter((m) => m.kind === 'PodMonitor' || m.kind === 'ServiceMonitor');
    const unique = [...new Map(monitors.map((m) => [`${m.kind}/${m.metadata.namespace}/${m.metadata.name}`, m])).values()];
    expect(unique.map((m) => `${m.kind}/${m.metadata.name}`).sort()).toEqual(['PodMonitor/monitored', 'PodMonitor/no-input', 'ServiceMonitor/orchard-controller']);

    // Debian's Prometheus has no Kubernetes discovery: the same targets and labels come from files.
    discovery = await KubernetesFileDiscovery.start(kc, dir, [...new Map(unique.map((m) => [monitorNamespaces(m).join(), monitorNamespaces(m)])).values()]);
    // Scrapes every second and a duration threshold of seconds, not an hour, so that a short run crosses it.
    const config = { global: { scrape_interval: '1s', evaluation_interval: '1s' }, scrape_configs: scrapeConfigsFor(unique, { discovery: { fileDir: dir }, intervalOverride: '1s' }) };
    prometheus = await PrometheusServer.start(dir, config, { 'orchard-rules.yaml': { groups: orchardRuleGroups({ namespace: ns, expectedJobDuration: Duration.seconds(5) }) } }, log);
    const start = Math.floor(Date.now() / 1000) - 1;

    await applyAll(kc, stageManifests(bad));
    expect((await waitForJob(kc, ns, 'no-input', { timeoutMs: RUN_MS })).job.status?.applicationState?.state).toBe('FAILED');
    await applyAll(kc, stageManifests(good));
    // The driver is found by discovery, through the PodMonitor's selector and port name, while it runs.
    await eventually(async () => ((await prometheus!.query(`up{job="${ns}/monitored", pod=~"monitored-.*driver"} == 1`, Date.now() / 1000)).length > 0 ? true : undefined), RUN_MS, 'the driver pod scraped');
    const outcome = await waitForJob(kc, ns, 'monitored', { timeoutMs: RUN_MS });
    expect(outcome.job.status?.applicationState?.state).toBe('COMPLETED');
    expect(outcome.outputs.map((o) => o.status?.phase)).toEqual(['Recorded']);
    // The recording reaches Prometheus with the controller pod's next scrapes.
    await eventually(async () => ((await prometheus!.query(`orchard_recorded_images_total{namespace="${ns}"} > 0`, Date.now() / 1000)).length > 0 ? true : undefined), 60_000, 'recorded images scraped');
    const end = Math.ceil(Date.now() / 1000);

    const queries = monitoringQueries(ns, { rateInterval: '10s', range: `${end - start}s` });
    const empty: string[] = [];
    for (const query of queries) {
      const series = query.instant ? await prometheus.query(query.expr, end) : await prometheus.queryRange(query.expr, start, end);
      if (series.length === 0) empty.push(`${query.source}: ${query.expr}`);
    }
    process.stderr.write(`prometheus: ${queries.length} dashboard and alert queries over ${end - start} s of a real run on the node, ${queries.length - empty.length} returned data\n`);
    expect(empty).toEqual([]);

    const known = new Set(await prometheus.metricNames());
    const names = metricNamesIn(queries.map((q) => q.expr));
    expect(names.filter((name) => !known.has(name))).toEqual([]);
    expect(names.some((name) => name.startsWith('metrics_executor_'))).toBe(true);
    expect(names.some((name) => name.startsWith('metrics_orchard_driver_'))).toBe(true);

    for (const alert of ['OrchardSparkJobFailed', 'OrchardSparkJobRunningTooLong']) {
      const fired = await prometheus.queryRange(`ALERTS{alertname="${alert}", alertstate="firing", namespace="${ns}"}`, start, end);
      expect(fired.length, `${alert} fired during the run`).toBeGreaterThan(0);
    }
    const quiet = await prometheus.queryRange(`ALERTS{alertname=~"OrchardOutputIncomplete|OrchardFeatureQualityBelowThreshold|OrchardControllerDown|OrchardControllerNoLeader|OrchardReconcileErrors|OrchardOutputLeftovers|OrchardSchemaChanged", alertstate="firing"}`, start, end);
    expect(quiet.map((s) => s.metric.alertname)).toEqual([]);
  }, 3 * RUN_MS);
});
