import { describe, expect, it } from 'vitest';
import { stageApp } from '../../cdk8s/app.ts';
import { loadStage, validStage } from '../../cdk8s/stages.ts';
import type { Manifest } from '../../src/api/manifest.ts';
import { sanitizedLabel, scrapeConfigsFor } from '../../src/dev/scrape-configs.ts';

interface Relabel {
  action?: string;
  source_labels?: string[];
  regex?: string;
  target_label?: string;
  replacement?: string;
}

/** Applies a scrape config's keep/drop rules to a target's discovered labels, as Prometheus does. */
function kept(relabels: readonly Relabel[], labels: Readonly<Record<string, string>>): boolean {
  return relabels.every((rule) => {
    if (rule.action !== 'keep' && rule.action !== 'drop') return true;
    const value = (rule.source_labels ?? []).map((name) => labels[name] ?? '').join(';');
    const matches = new RegExp(`^(?:${rule.regex})$`).test(value);
    return rule.action === 'keep' ? matches : !matches;
  });
}

describe('scrape configurations from the monitors orchard ships', () => {
  const stage = validStage(loadStage('dev', { ORCHARD_S3_ENDPOINT: 'http://10.244.0.1:9000', ORCHARD_S3_BUCKET: 'orchard-dev', AWS_ACCESS_KEY_ID: 'key', AWS_SECRET_ACCESS_KEY: 'secret' }));
  const manifests = stageApp(stage).files.flatMap(({ chart }) => chart.toJson() as Manifest[]);
  const configs = scrapeConfigsFor(manifests, { discovery: { kubeconfigFile: '/k' }, intervalOverride: '1s' }) as { job_name: string; metrics_path: string; relabel_configs: Relabel[]; kubernetes_sd_configs: { role: string; namespaces: { names: string[] } }[] }[];
  const job = stage.featurize.name;

  it('makes one job per monitor endpoint, named as the Prometheus operator names them', () => {
    expect(configs.map((c) => c.job_name)).toEqual([`serviceMonitor/${stage.namespace}/orchard-controller/0`, `podMonitor/${stage.namespace}/${job}/0`, `podMonitor/${stage.namespace}/${job}/1`]);
    expect(configs.map((c) => c.kubernetes_sd_configs[0]!.role)).toEqual(['endpoints', 'pod', 'pod']);
    expect(configs[1]!.kubernetes_sd_configs[0]!.namespaces.names).toEqual([stage.namespace]);
  });

  it('keeps the running driver on its UI port, and neither the executors, another port nor an ended driver', () => {
    const pod = (role: string, port: string, phase = 'Running') => ({
      [`__meta_kubernetes_pod_label_${sanitizedLabel('orchard.fruits.dev/job')}`]: job,
      [`__meta_kubernetes_pod_labelpresent_${sanitizedLabel('orchard.fruits.dev/job')}`]: 'true',
      '__meta_kubernetes_pod_label_spark_role': role,
      '__meta_kubernetes_pod_labelpresent_spark_role': 'true',
      '__meta_kubernetes_pod_container_port_name': port,
      '__meta_kubernetes_pod_phase': phase,
    });
    const driverMetrics = configs[1]!;
    expect(kept(driverMetrics.relabel_configs, pod('driver', 'spark-ui'))).toBe(true);
    expect(kept(driverMetrics.relabel_configs, pod('executor', 'spark-ui'))).toBe(false);
    expect(kept(driverMetrics.relabel_configs, pod('driver', 'driver-rpc-port'))).toBe(false);
    expect(kept(driverMetrics.relabel_configs, pod('driver', 'spark-ui', 'Succeeded'))).toBe(false);
  });

  it('labels targets as the dashboard and alerts query them: job, namespace, pod and the job label', () => {
    const targets = configs[1]!.relabel_configs.filter((r) => r.target_label).map((r) => r.target_label);
    expect(targets).toEqual(['namespace', 'container', 'pod', 'orchard_fruits_dev_job', 'job', 'endpoint']);
    expect(configs[1]!.relabel_configs.find((r) => r.target_label === 'job')?.replacement).toBe(`${stage.namespace}/${job}`);
    expect(configs[0]!.relabel_configs.find((r) => r.target_label === 'job')?.source_labels).toEqual(['__meta_kubernetes_service_name']);
  });

  it('refuses a monitor that selects every namespace, naming it', () => {
    const any: Manifest = { apiVersion: 'monitoring.coreos.com/v1', kind: 'PodMonitor', metadata: { name: 'wide', namespace: 'x' }, spec: { namespaceSelector: { any: true }, podMetricsEndpoints: [{ port: 'web' }] } };
    expect(() => scrapeConfigsFor([any], { discovery: { kubeconfigFile: '/k' } })).toThrow(/PodMonitor wide selects every namespace/);
  });

  it('reads the same targets from files for a Prometheus without Kubernetes discovery, one file per role and namespaces', () => {
    const fromFiles = scrapeConfigsFor(manifests, { discovery: { fileDir: '/sd' } }) as { file_sd_configs: { files: string[] }[]; relabel_configs: Relabel[] }[];
    expect(fromFiles.map((c) => c.file_sd_configs[0]!.files)).toEqual([[`/sd/endpoints-${stage.namespace}.json`], [`/sd/pod-${stage.namespace}.json`], [`/sd/pod-${stage.namespace}.json`]]);
    expect(fromFiles.map((c) => c.relabel_configs)).toEqual(configs.map((c) => c.relabel_configs));
  });
});
