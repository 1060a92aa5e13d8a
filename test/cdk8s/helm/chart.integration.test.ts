import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { App, Chart, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { stageApp } from '../../../cdk8s/app.ts';
import { RestrictedNamespace } from '../../../cdk8s/constructs/restricted-namespace.ts';
import { CHART_DIR, chartFiles, chartManifests, crdManifest, REGENERATE } from '../../../cdk8s/helm/chart.ts';
import { defaultValues, type ChartValues } from '../../../cdk8s/helm/values.ts';
import { CONTROLLER_SCRAPE_JOB } from '../../../cdk8s/monitoring/alerts.ts';
import type { StageConfig } from '../../../cdk8s/stages.ts';
import type { Manifest } from '../../../src/api/manifest.ts';
import { LEASE_NAME } from '../../../src/api/controller.ts';
import { requireTool } from '../../../src/dev/tools.ts';
import { HELM_VERSION } from '../../../src/dev/versions.ts';
import { testStage } from '../stages.ts';
import { stack } from '../../support/kube.ts';
import { CHART, comparable, documents, helm, template, valuesFile, valuesWith } from '../../support/helm.ts';
import { S3_CREDENTIALS_SECRET } from '../../../cdk8s/constructs/s3-credentials.ts';

const run = promisify(execFile);

/** Everything the chart can vary, set to something other than its default. */
const CUSTOM: ChartValues = valuesWith({
  image: { repository: 'registry.example.com/fruits/orchard-controller', tag: '0.2.0-rc.1', pullPolicy: kplus.ImagePullPolicy.ALWAYS },
  replicas: 3,
  resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '1', memory: '1Gi' } },
  aws: { region: 'eu-west-1', roleArn: 'arn:aws:iam::123456789012:role/orchard-controller' },
  s3: { endpoint: 'http://minio.storage.svc:9000' },
  serviceMonitor: { enabled: true, interval: '15s' },
  prometheusRule: { enabled: true, release: 'kube-prometheus-stack' },
  grafanaDashboard: { enabled: true },
});

/** The values that make the chart render what a stage's platform chart renders for the controller. */
function stageValues(stage: StageConfig): ChartValues {
  const image = `${stage.registry}/${stage.images.controller}`;
  const colon = image.lastIndexOf(':');
  return valuesWith({
    image: { repository: image.slice(0, colon), tag: image.slice(colon + 1) },
    aws: { region: stage.region, roleArn: stage.roles?.controller ?? '' },
    s3: { endpoint: stage.s3?.endpoint ?? '', credentialsSecret: stage.s3 ? S3_CREDENTIALS_SECRET : '' },
    // The platform chart keeps the construct's default, a ServiceMonitor, and renders the Monitoring construct whole.
    serviceMonitor: { enabled: true },
    prometheusRule: { enabled: true },
    grafanaDashboard: { enabled: true },
  });
}

let binary: string;

beforeAll(() => {
  binary = requireTool('helm');
});

function byKind(objects: readonly Manifest[], kind: string): Manifest & Record<string, any> {
  const found = objects.filter((o) => o.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0] as Manifest & Record<string, any>;
}

describe('the helm binary', () => {
  it(`reports the pinned version ${HELM_VERSION}`, async () => {
    const { stdout } = await helm(binary, ['version', '--short']);
    expect(stdout.trim()).toMatch(new RegExp(`^${HELM_VERSION.replace(/\./g, '\\.')}\\b`));
  });
});

describe('charts/orchard', () => {
  it('is what the generator writes from the constructs now', async () => {
    const expected = chartFiles();
    const onDisk = new Map<string, string>();
    for (const entry of await readdir(CHART, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const path = join(entry.parentPath, entry.name);
      onDisk.set(relative(CHART, path), await readFile(path, 'utf8'));
    }
    const stale = `${CHART_DIR} differs from what cdk8s/helm/chart.ts generates: run \`${REGENERATE}\` and commit the result`;
    expect([...onDisk.keys()].sort(), stale).toEqual([...expected.keys()].sort());
    for (const [file, text] of expected) expect(onDisk.get(file), `${stale} (${file})`).toBe(text);
  });

  it.each([
    ['default values', []],
    ['default values, --strict', ['--strict']],
  ])('passes helm lint with %s', async (_what, flags) => {
    const result = await helm(binary, ['lint', CHART, ...flags]);
    expect(result.stdout + result.stderr, 'helm lint').toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(result.code).toBe(0);
  });

  it('passes helm lint --strict with every value changed', async () => {
    const result = await helm(binary, ['lint', CHART, '--strict', '-f', await valuesFile(CUSTOM)]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
  });

  it('renders the defaults: two replicas, no IRSA annotation, no S3 endpoint, no ServiceMonitor', async () => {
    const objects = await template(binary, defaultValues(), 'orchard');
    expect(objects.map((o) => o.kind).sort()).toEqual(['Deployment', 'PodDisruptionBudget', 'Role', 'RoleBinding', 'Service', 'ServiceAccount']);
    const deployment = byKind(objects, 'Deployment');
    expect(deployment.spec.replicas).toBe(2);
    const container = deployment.spec.template.spec.containers[0];
    expect(container.image).toBe('orchard/controller:0.1.0');
    expect(container.env.map((e: { name: string }) => e.name)).toEqual(['POD_NAMESPACE', 'ORCHARD_WATCH_NAMESPACE', 'AWS_REGION']);
    expect(byKind(objects, 'ServiceAccount').metadata.annotations).toEqual({ 'argocd.argoproj.io/sync-wave': '-1' });
    expect(objects.every((o) => o.metadata.namespace === 'orchard')).toBe(true);
    expect(objects.every((o) => o.metadata.labels?.['app.kubernetes.io/managed-by'] === 'Helm' && o.metadata.labels['app.kubernetes.io/instance'] === 'orchard')).toBe(true);
  });

  it('renders every value changed: image, replicas, resources, IRSA role, S3 endpoint, ServiceMonitor, alerts, dashboard', async () => {
    const objects = await template(binary, CUSTOM, 'fruits');
    const deployment = byKind(objects, 'Deployment');
    const container = deployment.spec.template.spec.containers[0];
    expect(deployment.spec.replicas).toBe(3);
    expect(container.image).toBe('registry.example.com/fruits/orchard-controller:0.2.0-rc.1');
    expect(container.imagePullPolicy).toBe('Always');
    expect(container.resources).toEqual({ requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '1', memory: '1Gi' } });
    expect(container.env).toContainEqual({ name: 'ORCHARD_S3_ENDPOINT', value: 'http://minio.storage.svc:9000' });
    expect(container.env).toContainEqual({ name: 'AWS_REGION', value: 'eu-west-1' });
    expect(byKind(objects, 'ServiceAccount').metadata.annotations).toEqual({ 'argocd.argoproj.io/sync-wave': '-1', 'eks.amazonaws.com/role-arn': CUSTOM.aws.roleArn, 'eks.amazonaws.com/sts-regional-endpoints': 'true' });
    expect(byKind(objects, 'ServiceMonitor').spec.endpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '15s' }]);
    expect(byKind(objects, 'RoleBinding').subjects[0].namespace).toBe('fruits');
    const rule = byKind(objects, 'PrometheusRule');
    expect(rule.metadata.labels?.release).toBe('kube-prometheus-stack');
    // PromQL scoped to the release's namespace, and Prometheus's own templates passed through untouched.
    expect(rule.spec.groups[0].rules[0].expr).toContain('namespace="fruits"');
    expect(rule.spec.groups[0].rules[0].annotations.summary).toContain('{{ $labels.namespace }}');
    expect(JSON.parse(byKind(objects, 'ConfigMap').data['orchard-feature-extraction.json']).panels.length).toBeGreaterThan(0);
    const off = await template(binary, valuesWith({ ...CUSTOM, serviceMonitor: { enabled: false }, prometheusRule: { enabled: false }, grafanaDashboard: { enabled: false } }), 'fruits');
    expect(off.map((o) => o.kind).sort()).toEqual(['Deployment', 'PodDisruptionBudget', 'Role', 'RoleBinding', 'Service', 'ServiceAccount']);
  });

  it('puts the ParquetOutput CRD, as src/api/parquet-output.ts defines it, in crds/', async () => {
    const objects = await template(binary, defaultValues(), 'orchard', ['--include-crds']);
    expect(objects.filter((o) => o.kind === 'CustomResourceDefinition')).toEqual([crdManifest()]);
  });
});

describe('values.schema.json', () => {
  it.each([
    ['a wrong type', { replicas: 'three' }, "at '/replicas': got string, want integer"],
    ['an unknown key', { replica: 3 }, "at '': additional properties 'replica' not allowed"],
    ['a misspelt nested key', { serviceMonitor: { enable: true } }, "at '/serviceMonitor': additional properties 'enable' not allowed"],
    ['a value outside the enum', { image: { pullPolicy: 'Sometimes' } }, "at '/image/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'"],
    ['an IRSA role that is no role ARN', { aws: { roleArn: 'orchard-controller' } }, "at '/aws/roleArn': 'orchard-controller' does not match pattern"],
    ['a memory limit that is no quantity', { resources: { limits: { memory: '1 GB' } } }, "at '/resources/limits/memory': '1 GB' does not match pattern"],
    ['zero replicas', { replicas: 0 }, "at '/replicas': minimum: got 0, want 1"],
  ])('rejects %s, naming the key', async (_what, values, message) => {
    const result = await helm(binary, ['template', 'orchard', CHART, '-f', await valuesFile(values)]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("values don't meet the specifications of the schema(s)");
    expect(result.stderr).toContain(message);
  });
});

describe('the chart and the cdk8s platform chart', () => {
  it.each(['dev', 'prod'])('render the same controller and monitoring objects for stage %s', async (name) => {
    const stage = testStage(name);
    const fromHelm = await template(binary, stageValues(stage), stage.namespace);
    const fromCdk8s = (Testing.synth(stageApp(stage).platform) as Manifest[]).filter((o) => ['controller', 'monitoring'].includes(o.metadata.labels?.['app.kubernetes.io/component'] ?? ''));
    expect(fromCdk8s.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'PrometheusRule', 'Role', 'RoleBinding', 'Service', 'ServiceAccount', 'ServiceMonitor']);
    expect(comparable(fromHelm)).toEqual(comparable(fromCdk8s));
  });

  it('render the same objects when every value is changed', async () => {
    expect(comparable(await template(binary, CUSTOM, 'fruits'))).toEqual(comparable(chartManifests(CUSTOM, 'fruits')));
  });

  it('differ only in the labels that differ by design', async () => {
    const [fromHelm] = (await template(binary, defaultValues(), 'orchard')).filter((o) => o.kind === 'Role');
    const [fromCdk8s] = chartManifests(defaultValues(), 'orchard').filter((o) => o.kind === 'Role');
    expect(fromHelm!.metadata.labels).toEqual({
      ...fromCdk8s!.metadata.labels,
      'app.kubernetes.io/managed-by': 'Helm',
      'app.kubernetes.io/instance': 'orchard',
      'app.kubernetes.io/version': '0.1.0',
      'helm.sh/chart': 'orchard-0.1.0',
    });
  });
});

describe('the rendered chart against the dev stack\'s kube-apiserver', () => {
  const kubectl = (args: readonly string[]) => run(stack().kubectl, ['--kubeconfig', stack().kubeconfig, ...args]);

  it.each([
    ['default values', defaultValues()],
    ['every value changed', CUSTOM],
  ])('is accepted by kubectl apply --dry-run=server with %s, CRD included, with no Pod Security warning', async (_what, values) => {
    // A server dry run in a namespace that does not exist fails with NotFound, so a fresh one is
    // created for real, enforcing the restricted profile as orchard's namespaces do.
    const namespace = `helm-${randomBytes(4).toString('hex')}`;
    const dir = await mkdtemp(join(tmpdir(), 'orchard-helm-dry-run-'));
    const chart = new Chart(new App(), 'namespace');
    new RestrictedNamespace(chart, 'namespace', { name: namespace });
    const [ns] = Testing.synth(chart) as Manifest[];
    expect(ns!.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    await writeFile(join(dir, 'namespace.yaml'), stringify(ns));
    await kubectl(['apply', '-f', join(dir, 'namespace.yaml')]);

    const result = await helm(binary, ['template', 'orchard', CHART, '--namespace', namespace, '--include-crds', '-f', await valuesFile(values)]);
    expect(result.code, result.stderr).toBe(0);
    await writeFile(join(dir, 'chart.yaml'), result.stdout);
    const { stdout, stderr } = await kubectl(['apply', '--dry-run=server', '-f', join(dir, 'chart.yaml')]);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(documents(result.stdout).length);
    for (const line of lines) expect(line).toMatch(/\(server dry run\)$/);
    // The stack installed the CRD without kubectl apply, so kubectl warns that it lacks its
    // last-applied annotation; any other warning (Pod Security above all) fails the test.
    expect(stderr.split('\n').filter((line) => line.startsWith('Warning:') && !line.includes('last-applied-configuration'))).toEqual([]);
    expect(stderr).not.toMatch(/PodSecurity/);
    await kubectl(['delete', 'namespace', namespace, '--wait=false']);
  });

  it('installs with helm install, prints NOTES for the namespace, and uninstalls', async () => {
    const namespace = `helm-${randomBytes(4).toString('hex')}`;
    const kubeconfig = ['--kubeconfig', stack().kubeconfig, '--namespace', namespace];
    const install = await helm(binary, ['install', 'orchard', CHART, ...kubeconfig, '--create-namespace', '--wait=false', '-f', await valuesFile(CUSTOM)]);
    expect(install.code, install.stderr).toBe(0);
    expect(install.stdout).toContain(`kubectl -n ${namespace} get lease ${LEASE_NAME}`);
    expect(install.stdout).toContain(`kubectl -n ${namespace} get pqo`);

    const listed = async () => JSON.parse((await kubectl(['get', 'deployment,service,poddisruptionbudget,servicemonitor,prometheusrule,configmap', '-n', namespace, '-l', 'app.kubernetes.io/instance=orchard', '-o', 'json'])).stdout) as { items: Manifest[] };
    const installed = (await listed()).items;
    expect(installed.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'PrometheusRule', 'Service', 'ServiceMonitor']);
    expect((installed.find((o) => o.kind === 'Deployment') as Manifest & { spec: { replicas: number } }).spec.replicas).toBe(3);
    // The Prometheus operator names the controller's scrape job after the Service; the alerts query that job.
    expect(installed.find((o) => o.kind === 'Service')!.metadata.name).toBe(CONTROLLER_SCRAPE_JOB);

    const uninstall = await helm(binary, ['uninstall', 'orchard', ...kubeconfig, '--wait']);
    expect(uninstall.code, uninstall.stderr).toBe(0);
    expect((await listed()).items).toEqual([]);
    await kubectl(['delete', 'namespace', namespace, '--wait=false']);
  });
});
