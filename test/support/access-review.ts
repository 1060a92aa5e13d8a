import type { KubeConfig } from '@kubernetes/client-node';
import { kubeRequest, statusMessage } from '../../src/kube/raw.ts';

/** Verbs on a resource of an API group ('' is core); `resource` may name a subresource (`pods/exec`). */
export interface Grant {
  readonly group: string;
  readonly resource: string;
  readonly verbs: readonly string[];
}

/** Verbs on non-resource URLs (`/version`, `/healthz`), which only cluster roles can grant. */
export interface UrlGrant {
  readonly paths: readonly string[];
  readonly verbs: readonly string[];
}

/** A user as the authorizer sees it: a service account's name and the groups the token carries. */
export interface Subject {
  readonly user: string;
  readonly groups: readonly string[];
}

export function serviceAccountSubject(namespace: string, name: string): Subject {
  return { user: `system:serviceaccount:${namespace}:${name}`, groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'] };
}

/** A resource or subresource the API server serves, merged over the versions of its group. */
export interface ServedResource {
  readonly group: string;
  readonly resource: string;
  readonly namespaced: boolean;
}

/**
 * Every verb the RBAC authorizer distinguishes: the eight REST verbs, and the special ones that
 * admission or the RBAC storage checks (bind and escalate on roles, impersonate on users and
 * service accounts, approve and sign on CSRs, attest on cluster trust bundles, use on policies).
 * Discovery lists only the REST verbs, so every resource is checked with all of them.
 */
export const ALL_VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection', 'bind', 'escalate', 'impersonate', 'approve', 'sign', 'attest', 'use'] as const;

/** Non-resource URLs worth a verdict: the discovery and health endpoints every client may read, and the operator-only ones. */
export const NON_RESOURCE_PATHS = [
  '/api',
  '/api/v1',
  '/apis',
  '/apis/apps/v1',
  '/version',
  '/healthz',
  '/livez',
  '/readyz',
  '/openapi/v2',
  '/openapi/v3',
  '/.well-known/openid-configuration',
  '/openid/v1/jwks',
  '/metrics',
  '/logs',
  '/debug/pprof',
  '/flowcontrol/v1',
] as const;

export const NON_RESOURCE_VERBS = ['get', 'post', 'put', 'delete'] as const;

/** `verb resource.group[/subresource]`, the way kubectl names a permission. */
export function pairKey(group: string, resource: string, verb: string): string {
  const [plural, subresource] = resource.split('/');
  return `${verb} ${plural}${group ? `.${group}` : ''}${subresource ? `/${subresource}` : ''}`;
}

export function urlKey(path: string, verb: string): string {
  return `${verb} ${path}`;
}

async function getJson<T>(kc: KubeConfig, path: string): Promise<T> {
  const response = await kubeRequest(kc, 'GET', path);
  if (response.status !== 200) throw new Error(`discovery GET ${path} answered ${response.status}: ${statusMessage(response)}`);
  return JSON.parse(response.body) as T;
}

interface ResourceList {
  readonly resources: readonly { readonly name: string; readonly namespaced: boolean }[];
}

/** Every resource and subresource of every served group version, once per group (RBAC does not see versions). */
export async function servedResources(kc: KubeConfig): Promise<ServedResource[]> {
  const core = await getJson<{ versions: string[] }>(kc, '/api');
  const groups = await getJson<{ groups: { name: string; versions: { groupVersion: string }[] }[] }>(kc, '/apis');
  const lists = [
    ...core.versions.map((version) => ({ group: '', path: `/api/${version}` })),
    ...groups.groups.flatMap((group) => group.versions.map((version) => ({ group: group.name, path: `/apis/${version.groupVersion}` }))),
  ];
  const served = new Map<string, ServedResource>();
  for (const { group, path } of lists) {
    for (const resource of (await getJson<ResourceList>(kc, path)).resources) {
      served.set(`${group}/${resource.name}`, { group, resource: resource.name, namespaced: resource.namespaced });
    }
  }
  return [...served.values()].sort((a, b) => pairKey(a.group, a.resource, '').localeCompare(pairKey(b.group, b.resource, '')));
}

type Attributes = { readonly resourceAttributes: Record<string, string> } | { readonly nonResourceAttributes: { readonly path: string; readonly verb: string } };

async function allowed(kc: KubeConfig, subject: Subject, attributes: Attributes): Promise<boolean> {
  const review = { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user: subject.user, groups: subject.groups, ...attributes } };
  const response = await kubeRequest(kc, 'POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', review);
  if (response.status !== 201) throw new Error(`SubjectAccessReview for ${subject.user} ${JSON.stringify(attributes)} answered ${response.status}: ${statusMessage(response)}`);
  return (JSON.parse(response.body) as { status: { allowed: boolean } }).status.allowed;
}

/** Runs `tasks` with at most `width` in flight: enough to keep a loopback API server busy without queueing in its priority levels. */
async function pooled<T>(tasks: readonly (() => Promise<T>)[], width = 16): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await tasks[index]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, tasks.length) }, worker));
  return results;
}

/** Where a verdict applies: one namespace, or every namespace and the cluster-scoped resources. */
export type Scope = { readonly namespace: string } | 'cluster';

export function scopeName(scope: Scope): string {
  return scope === 'cluster' ? 'cluster-wide' : `namespace ${scope.namespace}`;
}

export interface Verdicts {
  readonly scope: Scope;
  readonly checked: number;
  /** The pairs the authorizer allowed, as pairKey and urlKey strings. */
  readonly allowed: ReadonlySet<string>;
}

/**
 * Asks the authorizer about every verb on every served resource in `scope`. In a namespace only
 * namespaced resources are asked about, since a cluster-scoped request carries no namespace.
 * Cluster-wide, namespaced resources are asked about without a namespace (a request across all
 * namespaces, which only a ClusterRoleBinding can allow), and non-resource URLs are asked too.
 * With `name`, every request names that object, which is what a rule with resourceNames answers
 * (a request without a name never matches one); non-resource URLs are then left out.
 */
export async function reviewAll(kc: KubeConfig, subject: Subject, resources: readonly ServedResource[], scope: Scope, name?: string): Promise<Verdicts> {
  const checks: { key: string; attributes: Attributes }[] = [];
  for (const served of resources) {
    if (scope !== 'cluster' && !served.namespaced) continue;
    const [resource, subresource] = served.resource.split('/');
    for (const verb of ALL_VERBS) {
      const attributes: Record<string, string> = { verb, group: served.group, resource: resource!, ...(subresource ? { subresource } : {}), ...(name ? { name } : {}) };
      if (scope !== 'cluster') attributes.namespace = scope.namespace;
      checks.push({ key: pairKey(served.group, served.resource, verb), attributes: { resourceAttributes: attributes } });
    }
  }
  if (scope === 'cluster' && !name) {
    for (const path of NON_RESOURCE_PATHS) {
      for (const verb of NON_RESOURCE_VERBS) checks.push({ key: urlKey(path, verb), attributes: { nonResourceAttributes: { path, verb } } });
    }
  }
  const answers = await pooled(checks.map(({ attributes }) => () => allowed(kc, subject, attributes)));
  return { scope, checked: checks.length, allowed: new Set(checks.filter((_, i) => answers[i]).map(({ key }) => key)) };
}

/** The pairs a table of grants allows: `*` stands for every verb, as in a Role's rule. */
export function expectedKeys(grants: readonly Grant[], urls: readonly UrlGrant[] = []): Set<string> {
  const keys = new Set<string>();
  for (const grant of grants) {
    for (const verb of grant.verbs.includes('*') ? ALL_VERBS : grant.verbs) keys.add(pairKey(grant.group, grant.resource, verb));
  }
  for (const url of urls) for (const path of url.paths) for (const verb of url.verbs) keys.add(urlKey(path, verb));
  return keys;
}

export interface Difference {
  /** Allowed by the server but not in the table: a grant wider than stated. */
  readonly extra: readonly string[];
  /** In the table but refused by the server: a grant missing, or a resource the table names wrongly. */
  readonly missing: readonly string[];
}

/** Compares verdicts with a table; a table entry for a pair that was never asked about counts as missing. */
export function difference(verdicts: Verdicts, expected: ReadonlySet<string>): Difference {
  return {
    extra: [...verdicts.allowed].filter((key) => !expected.has(key)).sort(),
    missing: [...expected].filter((key) => !verdicts.allowed.has(key)).sort(),
  };
}
