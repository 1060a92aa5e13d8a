import { rename, writeFile } from 'node:fs/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import { kubeRequest } from '../kube/raw.ts';
import { discoveryFile, sanitizedLabel, type DiscoveryRole } from './scrape-configs.ts';

/**
 * Kubernetes service discovery for a Prometheus built without it: Debian's 2.42 package drops the
 * `kubernetes_sd_configs` mechanism. This lists pods and Endpoints from the API server and writes
 * file_sd target groups with the labels Prometheus's own Kubernetes discovery gives them
 * (`__meta_kubernetes_*`, its documentation's roles `pod` and `endpoints`), so the relabelling of
 * the monitors' scrape configurations (scrape-configs.ts), which selects, runs in Prometheus itself.
 */

interface ContainerPort {
  readonly name?: string;
  readonly containerPort: number;
  readonly protocol?: string;
}

interface Pod {
  readonly metadata: { readonly name: string; readonly namespace: string; readonly labels?: Readonly<Record<string, string>> };
  readonly spec: { readonly nodeName?: string; readonly containers: readonly { readonly name: string; readonly ports?: readonly ContainerPort[] }[] };
  readonly status: { readonly phase?: string; readonly podIP?: string };
}

interface EndpointsObject {
  readonly metadata: { readonly name: string; readonly namespace: string };
  readonly subsets?: readonly {
    readonly addresses?: readonly { readonly ip: string; readonly targetRef?: { readonly kind: string; readonly name: string } }[];
    readonly ports?: readonly { readonly name?: string; readonly port: number; readonly protocol?: string }[];
  }[];
}

interface Service {
  readonly metadata: { readonly name: string; readonly namespace: string; readonly labels?: Readonly<Record<string, string>> };
}

export interface TargetGroup {
  readonly targets: string[];
  readonly labels: Record<string, string>;
}

function labelsOf(prefix: string, labels: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(labels ?? {})) {
    out[`${prefix}_label_${sanitizedLabel(name)}`] = value;
    out[`${prefix}_labelpresent_${sanitizedLabel(name)}`] = 'true';
  }
  return out;
}

function podLabels(pod: Pod): Record<string, string> {
  return {
    __meta_kubernetes_namespace: pod.metadata.namespace,
    __meta_kubernetes_pod_name: pod.metadata.name,
    __meta_kubernetes_pod_ip: pod.status.podIP ?? '',
    __meta_kubernetes_pod_phase: pod.status.phase ?? '',
    __meta_kubernetes_pod_node_name: pod.spec.nodeName ?? '',
    ...labelsOf('__meta_kubernetes_pod', pod.metadata.labels),
  };
}

/** Role `pod`: a target per declared container port of every pod with an IP. */
export function podTargets(pods: readonly Pod[]): TargetGroup[] {
  return pods.flatMap((pod) => {
    if (!pod.status.podIP) return [];
    return pod.spec.containers.flatMap((container) =>
      (container.ports ?? []).map((port) => ({
        targets: [`${pod.status.podIP}:${port.containerPort}`],
        labels: {
          ...podLabels(pod),
          __meta_kubernetes_pod_container_name: container.name,
          __meta_kubernetes_pod_container_port_name: port.name ?? '',
          __meta_kubernetes_pod_container_port_number: String(port.containerPort),
          __meta_kubernetes_pod_container_port_protocol: port.protocol ?? 'TCP',
        },
      })),
    );
  });
}

/** Role `endpoints`: a target per ready address and port of every Endpoints, with its Service's and its pod's labels. */
export function endpointsTargets(endpoints: readonly EndpointsObject[], services: readonly Service[], pods: readonly Pod[]): TargetGroup[] {
  return endpoints.flatMap((object) => {
    const service = services.find((s) => s.metadata.name === object.metadata.name && s.metadata.namespace === object.metadata.namespace);
    return (object.subsets ?? []).flatMap((subset) =>
      (subset.addresses ?? []).flatMap((address) =>
        (subset.ports ?? []).map((port) => {
          const pod = address.targetRef?.kind === 'Pod' ? pods.find((p) => p.metadata.name === address.targetRef!.name && p.metadata.namespace === object.metadata.namespace) : undefined;
          const container = pod?.spec.containers.find((c) => c.ports?.some((p) => p.containerPort === port.port));
          return {
            targets: [`${address.ip}:${port.port}`],
            labels: {
              __meta_kubernetes_namespace: object.metadata.namespace,
              __meta_kubernetes_endpoints_name: object.metadata.name,
              __meta_kubernetes_endpoint_port_name: port.name ?? '',
              __meta_kubernetes_endpoint_port_protocol: port.protocol ?? 'TCP',
              __meta_kubernetes_endpoint_ready: 'true',
              ...(service ? { __meta_kubernetes_service_name: service.metadata.name, ...labelsOf('__meta_kubernetes_service', service.metadata.labels) } : {}),
              ...(pod ? podLabels(pod) : {}),
              ...(container ? { __meta_kubernetes_pod_container_name: container.name } : {}),
            },
          };
        }),
      ),
    );
  });
}

async function listIn<T>(kc: KubeConfig, namespaces: readonly string[], resource: string): Promise<T[]> {
  const lists = await Promise.all(
    namespaces.map(async (namespace) => {
      const response = await kubeRequest(kc, 'GET', `/api/v1/namespaces/${namespace}/${resource}`);
      return response.status === 200 ? (JSON.parse(response.body) as { items: T[] }).items : [];
    }),
  );
  return lists.flat();
}

/** Writes the discovery files of the given namespace sets every second until stopped. */
export class KubernetesFileDiscovery {
  private readonly timer: NodeJS.Timeout;
  private running: Promise<void> = Promise.resolve();

  private constructor(
    private readonly kc: KubeConfig,
    private readonly dir: string,
    private readonly namespaceSets: readonly (readonly string[])[],
  ) {
    this.timer = setInterval(() => {
      this.running = this.running.then(() => this.refresh()).catch(() => undefined);
    }, 1_000);
  }

  /** Starts discovery with its files written once, so Prometheus starts with targets. */
  static async start(kc: KubeConfig, dir: string, namespaceSets: readonly (readonly string[])[]): Promise<KubernetesFileDiscovery> {
    const discovery = new KubernetesFileDiscovery(kc, dir, namespaceSets);
    await discovery.refresh();
    return discovery;
  }

  async refresh(): Promise<void> {
    for (const namespaces of this.namespaceSets) {
      const [pods, endpoints, services] = await Promise.all([
        listIn<Pod>(this.kc, namespaces, 'pods'),
        listIn<EndpointsObject>(this.kc, namespaces, 'endpoints'),
        listIn<Service>(this.kc, namespaces, 'services'),
      ]);
      await this.write('pod', namespaces, podTargets(pods));
      await this.write('endpoints', namespaces, endpointsTargets(endpoints, services, pods));
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** Written whole, then renamed: Prometheus never reads half a file. */
  private async write(role: DiscoveryRole, namespaces: readonly string[], groups: TargetGroup[]): Promise<void> {
    const file = discoveryFile(this.dir, role, namespaces);
    await writeFile(`${file}.tmp`, JSON.stringify(groups));
    await rename(`${file}.tmp`, file);
  }
}
