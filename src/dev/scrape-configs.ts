import type { Manifest } from '../api/manifest.ts';
import { OrchardError } from '../errors.ts';

/**
 * Prometheus scrape configurations for PodMonitors and ServiceMonitors, shaped as the
 * prometheus-operator generates them (its `pkg/prometheus/promcfg.go`): Kubernetes service
 * discovery, `keep` rules for the selector and the port, and the operator's target labels
 * (`namespace`, `pod`, `container`, `service`, `endpoint`, `job`, podTargetLabels). The local stack
 * runs a plain Prometheus on the host with these, so the monitors that orchard ships are the ones
 * that select what gets scraped, with no operator running.
 */

interface Endpoint {
  readonly port?: string;
  readonly path?: string;
  readonly interval?: string;
}

interface MonitorSpec {
  readonly selector?: { readonly matchLabels?: Readonly<Record<string, string>> };
  readonly namespaceSelector?: { readonly matchNames?: readonly string[]; readonly any?: boolean };
  readonly podTargetLabels?: readonly string[];
  readonly podMetricsEndpoints?: readonly Endpoint[];
  readonly endpoints?: readonly Endpoint[];
  readonly jobLabel?: string;
}

/**
 * Where targets come from: Prometheus's own Kubernetes discovery, reading the API server with a
 * kubeconfig; or files that `KubernetesFileDiscovery` (kubernetes-file-sd.ts) writes with the same
 * `__meta_kubernetes_*` labels, for a Prometheus built without Kubernetes discovery (Debian's).
 */
export type TargetDiscovery = { readonly kubeconfigFile: string } | { readonly fileDir: string };

export type DiscoveryRole = 'pod' | 'endpoints';

export interface ScrapeOptions {
  readonly discovery: TargetDiscovery;
  /** Scrape every target this often instead of each endpoint's interval, so a short test sees several scrapes. */
  readonly intervalOverride?: string;
}

/** The file a role's targets in these namespaces are written to, in file discovery. */
export function discoveryFile(dir: string, role: DiscoveryRole, namespaces: readonly string[]): string {
  return `${dir}/${role}-${[...namespaces].sort().join('_')}.json`;
}

/** Label names as Prometheus's Kubernetes discovery writes them: every character outside [a-zA-Z0-9_] becomes `_`. */
export function sanitizedLabel(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, '_');
}

function keepSelector(role: 'pod' | 'service', selector: MonitorSpec['selector']): Record<string, unknown>[] {
  return Object.entries(selector?.matchLabels ?? {}).map(([name, value]) => ({
    action: 'keep',
    source_labels: [`__meta_kubernetes_${role}_label_${sanitizedLabel(name)}`, `__meta_kubernetes_${role}_labelpresent_${sanitizedLabel(name)}`],
    regex: `(${value});true`,
  }));
}

function endpointsOf(monitor: Manifest, spec: MonitorSpec): readonly Endpoint[] {
  const endpoints = monitor.kind === 'PodMonitor' ? spec.podMetricsEndpoints : spec.endpoints;
  for (const endpoint of endpoints ?? []) {
    if (!endpoint.port) {
      throw new OrchardError(`${monitor.kind} ${monitor.metadata.namespace}/${monitor.metadata.name} has an endpoint without a port name`, 'name the container or Service port to scrape (`port:`)');
    }
  }
  return endpoints ?? [];
}

/** The namespaces a monitor's targets are discovered in. */
export function monitorNamespaces(monitor: Manifest): string[] {
  const spec = (monitor.spec ?? {}) as MonitorSpec;
  if (spec.namespaceSelector?.any) {
    throw new OrchardError(`${monitor.kind} ${monitor.metadata.name} selects every namespace`, 'name its namespaces (namespaceSelector.matchNames): orchard scopes monitoring to its own');
  }
  return [...(spec.namespaceSelector?.matchNames ?? [monitor.metadata.namespace ?? 'default'])];
}

function discovery(monitor: Manifest, role: DiscoveryRole, options: ScrapeOptions): Record<string, unknown> {
  const names = monitorNamespaces(monitor);
  return 'kubeconfigFile' in options.discovery
    ? { kubernetes_sd_configs: [{ role, kubeconfig_file: options.discovery.kubeconfigFile, namespaces: { names } }] }
    : { file_sd_configs: [{ files: [discoveryFile(options.discovery.fileDir, role, names)], refresh_interval: '1s' }] };
}

function podMonitorConfigs(monitor: Manifest, spec: MonitorSpec, options: ScrapeOptions): Record<string, unknown>[] {
  const { name, namespace } = monitor.metadata;
  return endpointsOf(monitor, spec).map((endpoint, index) => ({
    job_name: `podMonitor/${namespace}/${name}/${index}`,
    metrics_path: endpoint.path ?? '/metrics',
    scrape_interval: options.intervalOverride ?? endpoint.interval ?? '30s',
    ...discovery(monitor, 'pod', options),
    relabel_configs: [
      // The operator drops pods that ended: their IPs may already belong to another pod.
      { action: 'drop', source_labels: ['__meta_kubernetes_pod_phase'], regex: '(Failed|Succeeded)' },
      ...keepSelector('pod', spec.selector),
      { action: 'keep', source_labels: ['__meta_kubernetes_pod_container_port_name'], regex: endpoint.port },
      { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
      { source_labels: ['__meta_kubernetes_pod_container_name'], target_label: 'container' },
      { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
      ...(spec.podTargetLabels ?? []).map((label) => ({ source_labels: [`__meta_kubernetes_pod_label_${sanitizedLabel(label)}`], target_label: sanitizedLabel(label), regex: '(.+)', replacement: '${1}' })),
      { target_label: 'job', replacement: `${namespace}/${name}` },
      { target_label: 'endpoint', replacement: endpoint.port },
    ],
  }));
}

function serviceMonitorConfigs(monitor: Manifest, spec: MonitorSpec, options: ScrapeOptions): Record<string, unknown>[] {
  const { name, namespace } = monitor.metadata;
  return endpointsOf(monitor, spec).map((endpoint, index) => ({
    job_name: `serviceMonitor/${namespace}/${name}/${index}`,
    metrics_path: endpoint.path ?? '/metrics',
    scrape_interval: options.intervalOverride ?? endpoint.interval ?? '30s',
    ...discovery(monitor, 'endpoints', options),
    relabel_configs: [
      ...keepSelector('service', spec.selector),
      { action: 'keep', source_labels: ['__meta_kubernetes_endpoint_port_name'], regex: endpoint.port },
      { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
      { source_labels: ['__meta_kubernetes_service_name'], target_label: 'service' },
      { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
      { source_labels: ['__meta_kubernetes_pod_container_name'], target_label: 'container' },
      // The job is the Service's name, or the value of its `jobLabel` label when the monitor names one.
      { source_labels: ['__meta_kubernetes_service_name'], target_label: 'job' },
      ...(spec.jobLabel ? [{ source_labels: [`__meta_kubernetes_service_label_${sanitizedLabel(spec.jobLabel)}`], target_label: 'job', regex: '(.+)', replacement: '${1}' }] : []),
      { target_label: 'endpoint', replacement: endpoint.port },
    ],
  }));
}

/** One scrape configuration per endpoint of every PodMonitor and ServiceMonitor among `manifests`. */
export function scrapeConfigsFor(manifests: readonly Manifest[], options: ScrapeOptions): Record<string, unknown>[] {
  return manifests.flatMap((manifest) => {
    const spec = (manifest.spec ?? {}) as MonitorSpec;
    if (manifest.kind === 'PodMonitor') return podMonitorConfigs(manifest, spec, options);
    if (manifest.kind === 'ServiceMonitor') return serviceMonitorConfigs(manifest, spec, options);
    return [];
  });
}
