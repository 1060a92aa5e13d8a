import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { Duration, Testing } from 'cdk8s';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeaturizeJob } from '../../../cdk8s/constructs/featurize-job.ts';
import { CONTROLLER_SCRAPE_JOB, orchardRuleGroups } from '../../../cdk8s/monitoring/alerts.ts';
import { loadStage, stageFeaturizeProps } from '../../../cdk8s/stages.ts';
import type { Manifest } from '../../../src/api/manifest.ts';
import { sparkApplicationsPath } from '../../../src/api/spark-application.ts';
import { PrometheusServer } from '../../../src/dev/prometheus.ts';
import { tail } from '../../../src/dev/process.ts';
import { requirePythonSetup, requireTool } from '../../../src/dev/tools.ts';
import { down, kubeConfigFor, stackEnv, up, type StackState } from '../../../src/dev/stack.ts';
import { kubeRequest, statusMessage } from '../../../src/kube/raw.ts';
import { createLogger } from '../../../src/log.ts';
import { s3Client } from '../../../src/s3/client.ts';
import { sparkApplicationFor, type FeaturizeProps } from '../../../src/spark/application.ts';
import { uploadGeneratedImages } from '../../support/images.ts';
import { ControllerProcess } from '../../support/controller.ts';
import { eventually, freshNamespace } from '../../support/kube.ts';
import { metricNamesIn, monitoringQueries } from '../../support/monitoring.ts';
import { outputsOf } from '../../support/outputs.ts';
import { getJob } from '../../support/spark-job.ts';

const IMAGES = 'test/monitoring/images';
const RUN_MS = 240_000;

/**
 * The scrape configuration the Prometheus operator generates from orchard's monitors, written by
 * hand for loopback targets: the controller's job is its Service's name, a PodMonitor's job is
 * `<namespace>/<name>`, and podTargetLabels become labels with `.` and `/` turned into `_`.
 */
function scrapeConfig(namespace: string, controllerPort: number, sparkTargets: string, podMonitor: Manifest): Record<string, unknown> {
  const spec = podMonitor.spec as { podMetricsEndpoints: { path: string }[]; podTargetLabels: string[] };
  return {
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    scrape_configs: [
      {
        job_name: CONTROLLER_SCRAPE_JOB,
        metrics_path: '/metrics',
        static_configs: [{ targets: [`127.0.0.1:${controllerPort}`], labels: { namespace, pod: 'orchard-controller-0', service: CONTROLLER_SCRAPE_JOB } }],
      },
      ...spec.podMetricsEndpoints.map((endpoint, index) => ({
        job_name: `podMonitor/${namespace}/${podMonitor.metadata.name}/${index}`,
        metrics_path: endpoint.path,
        file_sd_configs: [{ files: [sparkTargets], refresh_interval: '1s' }],
      })),
    ],
  };
}

describe('the dashboard and the alerts against a real Prometheus scraping a real run', () => {
  const log = createLogger({ component: 'test' });
  let s3: S3Client;
  let dir: string;
  let stack: StackState;
  let prometheus: PrometheusServer | undefined;
  let controller: ControllerProcess | undefined;

  // Its own stack, with the dev runner that `orchard dev up` starts: one runner runs a stack's
  // SparkApplications, and the shared test stack's belongs to the dev runner's own tests.
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'orchard-prometheus-'));
    const python = requirePythonSetup();
    requireTool('prometheus');
    stack = (await up({ stateDir: join(dir, 'stack'), log, runner: true })).state;
    s3 = s3Client(stack.s3);
    await uploadGeneratedImages(python, s3, stack.s3.bucket, IMAGES);
  }, 900_000);

  afterAll(async () => {
    await controller?.stop('SIGTERM');
    await prometheus?.stop();
    s3?.destroy();
    if (!dir) return;
    await down({ stateDir: join(dir, 'stack'), log });
    await rm(dir, { recursive: true, force: true });
  }, 120_000);

  it('returns data for every panel and alert query, knows every metric they name, and fires the job alerts', async () => {
    const kc = kubeConfigFor(stack);
    const ns = await freshNamespace(kc, 'prometheus');
    const stage = loadStage('dev', stackEnv(stack));
    const props = (name: string, input: string): FeaturizeProps => ({
      ...stageFeaturizeProps(stage, 'orchard-spark'),
      name,
      namespace: ns,
      input: `s3a://${stage.bucket}/${input}`,
      output: `s3a://${stage.bucket}/features/${ns}/${name}`,
      imageSize: 100,
      pcaComponents: 2,
      batchSize: 16,
      retries: 0,
    });
    const good = props('featurize', IMAGES);
    const chart = Testing.chart();
    new FeaturizeJob(chart, 'job', good);
    const podMonitor = Testing.synth(chart).find((o) => o.kind === 'PodMonitor') as Manifest;
    expect(podMonitor.spec).toMatchObject({ podTargetLabels: ['orchard.fruits.dev/job'] });

    controller = await ControllerProcess.start({ kubeconfig: stack.kubeconfig, s3Endpoint: stack.s3.endpoint, stack, namespace: ns, id: 'prometheus-test' });
    const runnerLog = () => tail(join(stack.stateDir, 'logs', 'runner.log'), 30);

    const sparkTargets = join(dir, 'spark-targets.json');
    await writeFile(sparkTargets, '[]');
    // The threshold is seconds, not an hour, so that a real run crosses it.
    const rules = { groups: orchardRuleGroups({ namespace: ns, expectedJobDuration: Duration.seconds(5) }) };
    prometheus = await PrometheusServer.start(dir, scrapeConfig(ns, controller.port, sparkTargets, podMonitor), { 'orchard-rules.yaml': rules }, log);
    const start = Math.floor(Date.now() / 1000) - 1;

    const create = async (p: FeaturizeProps) => {
      const response = await kubeRequest(kc, 'POST', sparkApplicationsPath(ns), sparkApplicationFor(p));
      if (response.status !== 201) throw new Error(`create SparkApplication ${p.name}: ${response.status} ${statusMessage(response)}`);
    };
    const state = async (name: string) => (await getJob(kc, ns, name))?.status;

    // A job whose input does not exist fails fast: the failed-job alert must fire on it.
    await create(props('no-input', `${ns}/missing/`));
    await eventually(async () => ((await state('no-input'))?.applicationState?.state === 'FAILED' ? true : undefined), RUN_MS, () => `no-input FAILED\n${runnerLog()}`);

    await create(good);
    const running = await eventually(async () => {
      const status = await state('featurize');
      return status?.applicationState?.state === 'RUNNING' && status.driverInfo?.webUIAddress ? status : undefined;
    }, RUN_MS, () => `featurize RUNNING with a web UI\n${runnerLog()}`);
    // What the PodMonitor's relabelling gives the driver pod's targets.
    await writeFile(sparkTargets, JSON.stringify([{ targets: [running.driverInfo!.webUIAddress], labels: { namespace: ns, pod: 'featurize-driver', job: `${ns}/${podMonitor.metadata.name}`, orchard_fruits_dev_job: good.name } }]));
    await eventually(async () => ((await state('featurize'))?.applicationState?.state === 'COMPLETED' ? true : undefined), RUN_MS, () => `featurize COMPLETED\n${runnerLog()}`);
    await eventually(async () => (await outputsOf(kc, ns, 'featurize'))?.find((o) => o.status?.phase === 'Recorded'), 60_000, 'featurize output Recorded');
    // The recording reaches Prometheus with the next scrapes.
    await eventually(async () => ((await prometheus!.query(`orchard_recorded_images_total{namespace="${ns}"} > 0`, Date.now() / 1000)).length > 0 ? true : undefined), 30_000, 'recorded images scraped');
    const end = Math.ceil(Date.now() / 1000);

    const queries = monitoringQueries(ns, { rateInterval: '10s', range: `${end - start}s` });
    const empty: string[] = [];
    for (const query of queries) {
      const series = query.instant ? await prometheus.query(query.expr, end) : await prometheus.queryRange(query.expr, start, end);
      if (series.length === 0) empty.push(`${query.source}: ${query.expr}`);
    }
    process.stderr.write(`prometheus: ${queries.length} dashboard and alert queries over ${end - start} s of a real run, ${queries.length - empty.length} returned data\n`);
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
    const quiet = await prometheus.queryRange(`ALERTS{alertname=~"OrchardOutputIncomplete|OrchardFeatureQualityBelowThreshold|OrchardControllerDown|OrchardControllerNoLeader|OrchardReconcileErrors", alertstate="firing"}`, start, end);
    expect(quiet.map((s) => s.metric.alertname)).toEqual([]);
  }, 3 * RUN_MS + 120_000);
});
