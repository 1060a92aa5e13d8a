import type { KubeConfig } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { OrchardError } from '../errors.ts';
import type { Manifest } from '../api/manifest.ts';
import { kubeRequest, statusMessage } from './raw.ts';

/** orchard's field manager for server-side apply, so `kubectl` shows who owns which field. */
export const FIELD_MANAGER = 'orchard';

interface ApiResource {
  readonly name: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

/** Finds the REST resource (plural, scope) for each apiVersion and kind, once per group version. */
export class Discovery {
  private readonly groups = new Map<string, Promise<readonly ApiResource[]>>();

  constructor(private readonly kc: KubeConfig) {}

  async resource(apiVersion: string, kind: string): Promise<ApiResource> {
    let resources = this.groups.get(apiVersion);
    if (!resources) {
      resources = this.load(apiVersion);
      this.groups.set(apiVersion, resources);
    }
    const found = (await resources).find((r) => r.kind === kind && !r.name.includes('/'));
    if (!found) {
      this.groups.delete(apiVersion);
      throw new OrchardError(`the API server does not serve kind ${kind} in ${apiVersion}`, 'install the CRD that defines it first (`orchard dev up` installs the pinned ones)');
    }
    return found;
  }

  private async load(apiVersion: string): Promise<readonly ApiResource[]> {
    const path = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const response = await kubeRequest(this.kc, 'GET', path);
    if (response.status === 404) return [];
    if (response.status !== 200) throw new OrchardError(`discovery of ${apiVersion} answered ${response.status}: ${statusMessage(response)}`);
    return (JSON.parse(response.body) as { resources: ApiResource[] }).resources;
  }
}

/** The REST path of one object, from its apiVersion, kind, name and namespace. */
export async function objectPath(discovery: Discovery, manifest: Manifest): Promise<string> {
  const resource = await discovery.resource(manifest.apiVersion, manifest.kind);
  const base = manifest.apiVersion.includes('/') ? `/apis/${manifest.apiVersion}` : `/api/${manifest.apiVersion}`;
  const namespace = manifest.metadata.namespace ?? 'default';
  const scope = resource.namespaced ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${base}${scope}/${resource.name}/${encodeURIComponent(manifest.metadata.name)}`;
}

/**
 * Server-side apply of each object, in order. Server-side apply has no size limit from the
 * last-applied annotation, which the large Argo CD and Prometheus CRDs exceed with client-side apply.
 */
export async function applyAll(kc: KubeConfig, manifests: readonly Manifest[], fieldManager = FIELD_MANAGER): Promise<void> {
  const discovery = new Discovery(kc);
  for (const manifest of manifests) {
    const path = await objectPath(discovery, manifest);
    const response = await kubeRequest(kc, 'PATCH', `${path}?fieldManager=${encodeURIComponent(fieldManager)}&force=true`, manifest, 'application/apply-patch+yaml');
    if (response.status >= 300) {
      throw new OrchardError(`server-side apply of ${manifest.kind} ${manifest.metadata.name} answered ${response.status}: ${statusMessage(response)}`, 'fix the object; the message is the API server\'s');
    }
  }
}

interface CrdSpec {
  readonly spec: { readonly group: string; readonly names: { readonly plural: string }; readonly versions: readonly { readonly name: string; readonly served: boolean }[] };
}

/**
 * Waits until every CRD reports Established and its resources answer a list. Established alone is
 * not enough: right after it, a fresh API server answers 429 "storage is (re)initializing" while the
 * resource's watch cache fills, and Kubernetes 1.35 serves lists from that cache.
 */
export async function waitForCrdsServed(kc: KubeConfig, crds: readonly Manifest[], timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Map(crds.map((crd) => [crd.metadata.name, crd as unknown as CrdSpec]));
  for (;;) {
    for (const [name, crd] of [...pending]) {
      const response = await kubeRequest(kc, 'GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
      if (response.status !== 200) continue;
      const stored = JSON.parse(response.body) as { status?: { conditions?: { type: string; status: string }[] } };
      if (!stored.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) continue;
      const served = crd.spec.versions.filter((version) => version.served);
      const lists = await Promise.all(
        served.map((version) => kubeRequest(kc, 'GET', `/apis/${crd.spec.group}/${version.name}/${crd.spec.names.plural}?limit=1`)),
      );
      if (lists.every((list) => list.status === 200)) pending.delete(name);
    }
    if (pending.size === 0) return;
    if (Date.now() > deadline) {
      throw new OrchardError(`CRDs not served within ${timeoutMs / 1000} s: ${[...pending.keys()].join(', ')}`, 'run `kubectl describe crd NAME` to read its conditions, and read the API server log');
    }
    await sleep(200);
  }
}
