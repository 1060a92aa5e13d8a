import { randomBytes } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/api/manifest.ts';
import { GROUP, JOB_LABEL, PLURAL, VERSION } from '../../src/api/parquet-output.ts';
import { LEASE_NAME } from '../../src/api/controller.ts';
import { applyAll, Discovery, objectPath } from '../../src/kube/apply.ts';
import { kubeRequest, statusMessage, type RawResponse } from '../../src/kube/raw.ts';
import { sparkApplicationFor } from '../../src/spark/application.ts';
import {
  difference,
  expectedKeys,
  pairKey,
  reviewAll,
  scopeName,
  serviceAccountSubject,
  servedResources,
  type Difference,
  type Grant,
  type Scope,
  type ServedResource,
  type UrlGrant,
} from '../support/access-review.ts';
import { FEATURIZE_PROPS } from '../support/featurize-props.ts';
import { impersonating, type Request } from '../support/impersonate.ts';
import { eventually, freshNamespace, kubeConfig } from '../support/kube.ts';
import { IDENTITY_KINDS, RBAC_SOURCES } from '../support/rbac-sources.ts';

const CONTROLLER = 'orchard-controller';
const DRIVER = 'orchard-spark';

/**
 * What each service account needs in its own namespace, stated from the calls it makes rather
 * than read from the constructs, so a construct that grants more (or less) fails this test.
 */
const NEEDS: Readonly<Record<string, readonly Grant[]>> = {
  [CONTROLLER]: [
    // The informer lists and watches jobs; a reconcile re-reads its job before writing.
    { group: 'sparkoperator.k8s.io', resource: 'sparkapplications', verbs: ['get', 'list', 'watch'] },
    // A scheduled run's outputs are declared on the schedule that owns it, read by name.
    { group: 'sparkoperator.k8s.io', resource: 'scheduledsparkapplications', verbs: ['get'] },
    // Records are read, created and replaced, and one job's are listed to compare a new dataset
    // with the previous one; never patched or deleted (garbage collection removes them with
    // their job or schedule, through the owner reference).
    { group: GROUP, resource: PLURAL, verbs: ['get', 'list', 'create', 'update'] },
    { group: GROUP, resource: `${PLURAL}/status`, verbs: ['update'] },
    // A failed job's driver pod, read by name for the job's own error (its termination message).
    { group: '', resource: 'pods', verbs: ['get'] },
    // Events on the SparkApplication, through core/v1.
    { group: '', resource: 'events', verbs: ['create'] },
    // Leader election as client-go's leaselock does it: get, then create or update.
    { group: 'coordination.k8s.io', resource: 'leases', verbs: ['get', 'create', 'update'] },
  ],
  [DRIVER]: [
    // Spark 3.5's driver creates executor pods, reads its own pod, lists and watches executors,
    // patches their labels (executor id, decommissioning), deletes one by name when it ends and
    // all of them by label selector (fabric8 6 sends DELETE on the collection) at shutdown.
    { group: '', resource: 'pods', verbs: ['create', 'get', 'list', 'watch', 'patch', 'delete', 'deletecollection'] },
    // The driver creates its executors' conf config map and, at shutdown, deletes its services and
    // executor config maps by label selector. The remaining verbs (services create, get, delete;
    // config maps get, list, delete) follow Spark's documented driver RBAC, not calls of Spark
    // 3.5's driver: with the operator, spark-submit creates the driver's service and config map
    // under the operator's own account. Stated as the construct grants them; candidates to narrow.
    { group: '', resource: 'services', verbs: ['create', 'get', 'delete', 'deletecollection'] },
    { group: '', resource: 'configmaps', verbs: ['create', 'get', 'list', 'delete', 'deletecollection'] },
  ],
};

/**
 * What the API server's bootstrap policy grants every service account, cluster-wide:
 * system:basic-user (self reviews) to system:authenticated; system:discovery and
 * system:public-info-viewer (discovery, version and health URLs) to system:authenticated; and
 * system:service-account-issuer-discovery (the OIDC documents) to system:serviceaccounts.
 */
const EVERY_SERVICE_ACCOUNT: { readonly grants: readonly Grant[]; readonly urls: readonly UrlGrant[] } = {
  grants: [
    { group: 'authorization.k8s.io', resource: 'selfsubjectaccessreviews', verbs: ['create'] },
    { group: 'authorization.k8s.io', resource: 'selfsubjectrulesreviews', verbs: ['create'] },
    { group: 'authentication.k8s.io', resource: 'selfsubjectreviews', verbs: ['create'] },
  ],
  urls: [
    { paths: ['/api', '/api/v1', '/apis', '/apis/apps/v1', '/version', '/healthz', '/livez', '/readyz', '/openapi/v2', '/openapi/v3'], verbs: ['get'] },
    { paths: ['/.well-known/openid-configuration', '/openid/v1/jwks'], verbs: ['get'] },
  ],
};

/** Every identity is bound in its own namespace only: elsewhere it may do nothing. */
function expectedIn(identity: string, scope: 'own' | 'other' | 'cluster'): Set<string> {
  if (scope === 'own') return expectedKeys(NEEDS[identity]!);
  if (scope === 'other') return expectedKeys([]);
  return expectedKeys(EVERY_SERVICE_ACCOUNT.grants, EVERY_SERVICE_ACCOUNT.urls);
}

function expectStatus(response: RawResponse, status: number, what: string): void {
  expect(response.status, `${what}: ${statusMessage(response)}`).toBe(status);
}

/** A refusal by RBAC, not by validation or a missing object: 403 with the authorizer's sentence. */
function expectForbidden(response: RawResponse, user: string, verb: string, resource: string, what: string): void {
  expect({ what, status: response.status }).toEqual({ what, status: 403 });
  expect(statusMessage(response), what).toContain(`User "${user}" cannot ${verb} resource "${resource}"`);
}

/** The changes one watch from `resourceVersion` saw, ended by the server after a second. */
async function watched(request: Request, path: string, resourceVersion: string, query = ''): Promise<{ type: string; name: string }[]> {
  const response = await request('GET', `${path}?watch=true&timeoutSeconds=1&resourceVersion=${resourceVersion}${query}`);
  expectStatus(response, 200, `watch ${path}`);
  return response.body
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as { type: string; object: { metadata: { name: string } } })
    .map((event) => ({ type: event.type, name: event.object.metadata.name }));
}

const microTime = (date: Date) => date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

/** An executor pod the restricted Pod Security profile admits; with no nodes it stays Pending. */
function executorPod(name: string) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { 'spark-role': 'executor', 'spark-app-selector': 'spark-rbac' } },
    spec: {
      serviceAccountName: DRIVER,
      automountServiceAccountToken: false,
      securityContext: { runAsNonRoot: true, runAsUser: 185, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{ name: 'executor', image: 'orchard/resnet50-cpu:0.1.0', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
    },
  };
}

/** Calls each identity must be refused, wherever it is bound; `own` is its namespace. */
function refusedToAll(own: string, other: string): [method: string, path: string, verb: string, resource: string][] {
  return [
    ['GET', `/api/v1/namespaces/${own}/secrets/any`, 'get', 'secrets'],
    ['GET', `/api/v1/namespaces/${own}/secrets`, 'list', 'secrets'],
    ['GET', `/api/v1/namespaces/${own}/secrets?watch=true`, 'watch', 'secrets'],
    ['POST', `/api/v1/namespaces/${own}/secrets`, 'create', 'secrets'],
    ['GET', `/api/v1/namespaces/${other}/secrets`, 'list', 'secrets'],
    ['POST', `/api/v1/namespaces/${own}/serviceaccounts/default/token`, 'create', 'serviceaccounts/token'],
    ['POST', '/api/v1/namespaces', 'create', 'namespaces'],
    ['DELETE', `/api/v1/namespaces/${own}`, 'delete', 'namespaces'],
    ['POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', 'create', 'clusterroles'],
    ['POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', 'create', 'clusterrolebindings'],
    ['POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', 'create', 'customresourcedefinitions'],
    ['POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${own}/roles`, 'create', 'roles'],
    ['POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${own}/rolebindings`, 'create', 'rolebindings'],
    ['GET', '/api/v1/pods', 'list', 'pods'],
    ['GET', `/apis/${GROUP}/${VERSION}/${PLURAL}`, 'list', PLURAL],
  ];
}

function refusedToController(own: string, other: string): [string, string, string, string][] {
  const outputs = `/apis/${GROUP}/${VERSION}/namespaces/${own}/${PLURAL}`;
  const jobs = `/apis/sparkoperator.k8s.io/v1beta2/namespaces/${own}/sparkapplications`;
  return [
    ['DELETE', `${outputs}/any`, 'delete', PLURAL],
    ['DELETE', outputs, 'deletecollection', PLURAL],
    ['PATCH', `${outputs}/any`, 'patch', PLURAL],
    ['DELETE', `${jobs}/any`, 'delete', 'sparkapplications'],
    ['PUT', `${jobs}/any`, 'update', 'sparkapplications'],
    ['PUT', `${jobs}/any/status`, 'update', 'sparkapplications/status'],
    ['POST', jobs, 'create', 'sparkapplications'],
    ['DELETE', `/apis/coordination.k8s.io/v1/namespaces/${own}/leases/${LEASE_NAME}`, 'delete', 'leases'],
    ['GET', `/api/v1/namespaces/${own}/pods`, 'list', 'pods'],
    ['GET', `/api/v1/namespaces/${own}/pods/any/log`, 'get', 'pods/log'],
    ['GET', `/api/v1/namespaces/${other}/pods/any`, 'get', 'pods'],
    ['GET', `/apis/sparkoperator.k8s.io/v1beta2/namespaces/${other}/sparkapplications`, 'list', 'sparkapplications'],
    ['POST', `/apis/${GROUP}/${VERSION}/namespaces/${other}/${PLURAL}`, 'create', PLURAL],
    ['POST', `/api/v1/namespaces/${other}/events`, 'create', 'events'],
    ['POST', `/apis/coordination.k8s.io/v1/namespaces/${other}/leases`, 'create', 'leases'],
  ];
}

function refusedToDriver(own: string, other: string): [string, string, string, string][] {
  const pods = `/api/v1/namespaces/${own}/pods`;
  return [
    ['POST', `${pods}/any/exec?command=true`, 'create', 'pods/exec'],
    ['POST', `${pods}/any/attach`, 'create', 'pods/attach'],
    ['POST', `${pods}/any/portforward`, 'create', 'pods/portforward'],
    ['GET', `${pods}/any/log`, 'get', 'pods/log'],
    ['PATCH', `${pods}/any/ephemeralcontainers`, 'patch', 'pods/ephemeralcontainers'],
    ['PUT', `${pods}/any/status`, 'update', 'pods/status'],
    ['PUT', `${pods}/any`, 'update', 'pods'],
    ['GET', `/api/v1/namespaces/${own}/services`, 'list', 'services'],
    ['PATCH', `/api/v1/namespaces/${own}/configmaps/any`, 'patch', 'configmaps'],
    ['GET', `/apis/sparkoperator.k8s.io/v1beta2/namespaces/${own}/sparkapplications`, 'list', 'sparkapplications'],
    ['GET', `/apis/${GROUP}/${VERSION}/namespaces/${own}/${PLURAL}/any`, 'get', PLURAL],
    ['POST', `/api/v1/namespaces/${other}/pods`, 'create', 'pods'],
    ['GET', `/api/v1/namespaces/${other}/pods`, 'list', 'pods'],
    ['POST', `/api/v1/namespaces/${other}/services`, 'create', 'services'],
    ['POST', `/api/v1/namespaces/${other}/configmaps`, 'create', 'configmaps'],
  ];
}

const REFUSED: Readonly<Record<string, (own: string, other: string) => [string, string, string, string][]>> = {
  [CONTROLLER]: refusedToController,
  [DRIVER]: refusedToDriver,
};

const summary: string[] = [];

/** Applies a source's identity objects in `namespace`, creating the namespace when the source leaves that to its installer. */
async function applyIdentities(kc: KubeConfig, manifests: readonly Manifest[], namespace: string): Promise<Manifest[]> {
  const applied = manifests.filter((m) => IDENTITY_KINDS.has(m.kind));
  if (!applied.some((m) => m.kind === 'Namespace')) await kubeRequest(kc, 'POST', '/api/v1/namespaces', { metadata: { name: namespace } });
  // A namespace first, so that the namespaced objects have somewhere to go.
  await applyAll(kc, [...applied].sort((a, b) => Number(b.kind === 'Namespace') - Number(a.kind === 'Namespace')));
  return applied;
}

interface Rule {
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly verbs: readonly string[];
}

interface Binding extends Manifest {
  readonly roleRef: { readonly kind: string; readonly name: string };
  readonly subjects?: readonly { readonly kind: string; readonly name: string; readonly namespace?: string }[];
}

/**
 * The authorizer serves RBAC from its informer cache: waits until each binding's role answers for
 * one of its own rules. A Role and a RoleBinding each arrive whole, so once one rule of a binding
 * is in effect all of them are, and the checks that follow see the source's grants, not a
 * half-synced cache. The rule comes from the source, not the grant table, so a table mismatch is
 * reported by the checks rather than as a timeout here.
 */
async function bindingsInEffect(kc: KubeConfig, manifests: readonly Manifest[], namespace: string): Promise<void> {
  for (const binding of manifests.filter((m): m is Binding => m.kind === 'RoleBinding')) {
    const role = manifests.find((m) => m.kind === binding.roleRef.kind && m.metadata.name === binding.roleRef.name) as (Manifest & { rules?: readonly Rule[] }) | undefined;
    const rule = role?.rules?.[0];
    if (!rule) continue;
    const [group, resource, verb] = [rule.apiGroups[0]!, rule.resources[0]!, rule.verbs[0]!];
    const probe = [{ group, resource, namespaced: true }];
    for (const subject of binding.subjects ?? []) {
      const asked = serviceAccountSubject(subject.namespace ?? namespace, subject.name);
      await eventually(
        async () => ((await reviewAll(kc, asked, probe, { namespace })).allowed.has(pairKey(group, resource, verb)) ? true : undefined),
        10_000,
        `RoleBinding ${binding.metadata.name} to take effect for ${asked.user}`,
      );
    }
  }
}

let resources: ServedResource[];
let kc: KubeConfig;

beforeAll(async () => {
  kc = kubeConfig();
  resources = await servedResources(kc);
});

afterAll(() => {
  if (summary.length) console.info(['least privilege, verb x resource pairs asked of the authorizer:', ...summary].join('\n  '));
});

describe.each(RBAC_SOURCES)('RBAC of the $name', (source) => {
  const namespace = `rbac-${randomBytes(4).toString('hex')}`;
  let other: string;
  let identities: string[];
  let manifests: Manifest[];

  beforeAll(async () => {
    other = await freshNamespace(kc, 'rbac-other');
    manifests = await applyIdentities(kc, await source.render(namespace), namespace);
    identities = manifests.filter((m) => m.kind === 'ServiceAccount').map((m) => m.metadata.name).sort();
    await bindingsInEffect(kc, manifests, namespace);
  }, 60_000);

  // Cleans up what beforeAll got to create, whichever step it failed at, so its error stays the one reported.
  afterAll(async () => {
    const discovery = new Discovery(kc);
    for (const clusterWide of (manifests ?? []).filter((m) => m.kind.startsWith('Cluster'))) await kubeRequest(kc, 'DELETE', await objectPath(discovery, clusterWide));
    for (const name of [namespace, other].filter(Boolean)) await kubeRequest(kc, 'DELETE', `/api/v1/namespaces/${name}`);
  });

  it('binds only service accounts that the grant table states, in its own namespace', () => {
    expect(identities.length).toBeGreaterThan(0);
    for (const identity of identities) expect(Object.keys(NEEDS), `service account ${identity}`).toContain(identity);
    const bindings = manifests.filter((m): m is Binding => m.kind === 'RoleBinding' || m.kind === 'ClusterRoleBinding');
    expect(bindings.map((m) => m.kind)).not.toContain('ClusterRoleBinding');
    const subjects = bindings.flatMap((binding) => binding.subjects ?? []);
    for (const subject of subjects) expect(subject).toMatchObject({ kind: 'ServiceAccount', namespace });
    expect(identities).toEqual(expect.arrayContaining([...new Set(subjects.map((subject) => subject.name))]));
  });

  it('lets the controller watch jobs, write records and their status, emit Events and hold its Lease', async ({ skip }) => {
    if (!identities.includes(CONTROLLER)) skip();
    const as = impersonating(kc, `system:serviceaccount:${namespace}:${CONTROLLER}`);
    const jobs = `/apis/sparkoperator.k8s.io/v1beta2/namespaces/${namespace}/sparkapplications`;
    const outputs = `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}`;

    const listed = await as('GET', `${jobs}?labelSelector=${encodeURIComponent(JOB_LABEL)}`);
    expectStatus(listed, 200, 'list SparkApplications');
    const since = (JSON.parse(listed.body) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
    const created = await kubeRequest(kc, 'POST', jobs, sparkApplicationFor({ ...FEATURIZE_PROPS, name: 'featurize-rbac', namespace }));
    expectStatus(created, 201, 'create a SparkApplication as the admin');
    const job = JSON.parse(created.body) as { metadata: { uid: string; name: string } };
    expect(await watched(as, jobs, since, `&labelSelector=${encodeURIComponent(JOB_LABEL)}`)).toContainEqual({ type: 'ADDED', name: 'featurize-rbac' });
    expectStatus(await as('GET', `${jobs}/featurize-rbac`), 200, 'get the SparkApplication');
    // A failed job's driver pod holds the job's own error: get by name, and nothing more of pods.
    expectStatus(await as('GET', `/api/v1/namespaces/${namespace}/pods/featurize-rbac-driver`), 404, 'get a driver pod (none exists: allowed, not found)');

    const output = {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'ParquetOutput',
      metadata: { name: 'featurize-rbac-0', ownerReferences: [{ apiVersion: 'sparkoperator.k8s.io/v1beta2', kind: 'SparkApplication', name: job.metadata.name, uid: job.metadata.uid, controller: true, blockOwnerDeletion: false }] },
      spec: { source: { kind: 'SparkApplication', name: job.metadata.name, uid: job.metadata.uid, submissionAttempt: 1 }, uri: 's3a://orchard-dev/features/rbac/' },
    };
    const record = await as('POST', outputs, output);
    expectStatus(record, 201, 'create a ParquetOutput');
    const read = await as('GET', `${outputs}/featurize-rbac-0`);
    expectStatus(read, 200, 'get the ParquetOutput');
    const stored = JSON.parse(read.body) as typeof output & { metadata: { resourceVersion: string } };
    // A retried submission is the one spec change the CRD allows, and the one the controller writes.
    const replaced = await as('PUT', `${outputs}/featurize-rbac-0`, { ...stored, spec: { ...stored.spec, source: { ...stored.spec.source, submissionAttempt: 2 } } });
    expectStatus(replaced, 200, 'update the ParquetOutput');
    const status = await as('PUT', `${outputs}/featurize-rbac-0/status`, { ...(JSON.parse(replaced.body) as object), status: { phase: 'Pending' } });
    expectStatus(status, 200, 'update the ParquetOutput status');
    expect((JSON.parse(status.body) as { status: { phase: string } }).status.phase).toBe('Pending');

    const stamp = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const event = await as('POST', `/api/v1/namespaces/${namespace}/events`, {
      metadata: { name: `featurize-rbac.${Date.now().toString(16)}` },
      involvedObject: { apiVersion: 'sparkoperator.k8s.io/v1beta2', kind: 'SparkApplication', name: job.metadata.name, namespace, uid: job.metadata.uid },
      type: 'Normal',
      reason: 'OutputRecorded',
      message: 'rbac test',
      source: { component: CONTROLLER },
      firstTimestamp: stamp,
      lastTimestamp: stamp,
      count: 1,
    });
    expectStatus(event, 201, 'create an Event');

    const leases = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`;
    expectStatus(await as('GET', `${leases}/${LEASE_NAME}`), 404, 'get the Lease before anyone holds it');
    const now = new Date();
    const lease = await as('POST', leases, { metadata: { name: LEASE_NAME }, spec: { holderIdentity: 'replica-a', leaseDurationSeconds: 15, acquireTime: microTime(now), renewTime: microTime(now) } });
    expectStatus(lease, 201, 'create the Lease');
    const held = await as('GET', `${leases}/${LEASE_NAME}`);
    expectStatus(held, 200, 'get the Lease');
    const current = JSON.parse(held.body) as { spec: Record<string, unknown> };
    expectStatus(await as('PUT', `${leases}/${LEASE_NAME}`, { ...current, spec: { ...current.spec, renewTime: microTime(new Date(now.getTime() + 2000)) } }), 200, 'renew the Lease');
  });

  it('lets the Spark driver run its executors: pods, their service and their config maps', async ({ skip }) => {
    if (!identities.includes(DRIVER)) skip();
    const as = impersonating(kc, `system:serviceaccount:${namespace}:${DRIVER}`);
    const pods = `/api/v1/namespaces/${namespace}/pods`;
    const selector = `&labelSelector=${encodeURIComponent('spark-app-selector=spark-rbac')}`;

    const listed = await as('GET', `${pods}?${selector.slice(1)}`);
    expectStatus(listed, 200, 'list executor pods');
    const since = (JSON.parse(listed.body) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
    for (const name of ['exec-1', 'exec-2']) expectStatus(await as('POST', pods, executorPod(name)), 201, `create pod ${name}`);
    expect(await watched(as, pods, since, selector)).toEqual(expect.arrayContaining([{ type: 'ADDED', name: 'exec-1' }, { type: 'ADDED', name: 'exec-2' }]));
    const pod = await as('GET', `${pods}/exec-1`);
    expectStatus(pod, 200, 'get pod exec-1');
    expect((JSON.parse(pod.body) as { status: { phase: string } }).status.phase).toBe('Pending');
    const labelled = await as('PATCH', `${pods}/exec-1`, { metadata: { labels: { 'spark-exec-id': '1' } } }, 'application/strategic-merge-patch+json');
    expectStatus(labelled, 200, 'label pod exec-1');
    expectStatus(await as('DELETE', `${pods}/exec-1`), 200, 'delete pod exec-1');
    expectStatus(await as('DELETE', `${pods}?${selector.slice(1)}`), 200, 'delete the remaining executor pods by label');
    await eventually(async () => ((await kubeRequest(kc, 'GET', `${pods}/exec-2`)).status === 404 ? true : undefined), 10_000, 'pod exec-2 gone');

    const services = `/api/v1/namespaces/${namespace}/services`;
    const service = { metadata: { name: 'spark-rbac-driver-svc', labels: { 'spark-app-selector': 'spark-rbac' } }, spec: { clusterIP: 'None', selector: { 'spark-role': 'driver' }, ports: [{ name: 'driver-rpc-port', port: 7078 }] } };
    expectStatus(await as('POST', services, service), 201, 'create the driver service');
    expectStatus(await as('GET', `${services}/spark-rbac-driver-svc`), 200, 'get the driver service');
    expectStatus(await as('DELETE', `${services}/spark-rbac-driver-svc`), 200, 'delete the driver service');
    expectStatus(await as('DELETE', `${services}?${selector.slice(1)}`), 200, 'delete services by label');

    const configMaps = `/api/v1/namespaces/${namespace}/configmaps`;
    for (const name of ['spark-exec-conf-1', 'spark-exec-conf-2']) {
      expectStatus(await as('POST', configMaps, { metadata: { name, labels: { 'spark-app-selector': 'spark-rbac' } }, data: { 'spark.properties': 'spark.kubernetes.namespace=x' } }), 201, `create config map ${name}`);
    }
    expectStatus(await as('GET', `${configMaps}/spark-exec-conf-1`), 200, 'get a config map');
    const maps = await as('GET', `${configMaps}?${selector.slice(1)}`);
    expectStatus(maps, 200, 'list config maps');
    expect((JSON.parse(maps.body) as { items: unknown[] }).items).toHaveLength(2);
    expectStatus(await as('DELETE', `${configMaps}/spark-exec-conf-1`), 200, 'delete a config map');
    expectStatus(await as('DELETE', `${configMaps}?${selector.slice(1)}`), 200, 'delete config maps by label');
  });

  it('refuses each identity secrets, other namespaces, cluster-wide writes, escalation and what is near its grant', async () => {
    for (const identity of identities) {
      const user = `system:serviceaccount:${namespace}:${identity}`;
      const as = impersonating(kc, user);
      for (const [method, path, verb, resource] of [...refusedToAll(namespace, other), ...REFUSED[identity]!(namespace, other)]) {
        expectForbidden(await as(method, path, method === 'GET' || method === 'DELETE' ? undefined : {}, method === 'PATCH' ? 'application/merge-patch+json' : undefined), user, verb, resource, `${identity}: ${method} ${path}`);
      }
    }
  });

  it('allows exactly the grant table: every verb on every served resource, here, in another namespace and cluster-wide', async () => {
    const scopes: [Scope, 'own' | 'other' | 'cluster', string][] = [
      [{ namespace }, 'own', 'own namespace'],
      [{ namespace: other }, 'other', 'other namespace'],
      ['cluster', 'cluster', 'cluster-wide'],
    ];
    // Every identity and scope is checked before asserting, so one failure shows all the differences.
    const differences: Record<string, Difference> = {};
    for (const identity of identities) {
      for (const [scope, expected, label] of scopes) {
        const verdicts = await reviewAll(kc, serviceAccountSubject(namespace, identity), resources, scope);
        differences[`${identity}, ${scopeName(scope)}`] = difference(verdicts, expectedIn(identity, expected));
        summary.push(`${source.name}, ${identity}, ${label}: ${verdicts.checked} checked, ${verdicts.allowed.size} allowed, ${verdicts.checked - verdicts.allowed.size} refused`);
      }
    }
    expect(differences).toEqual(Object.fromEntries(Object.keys(differences).map((key) => [key, { extra: [], missing: [] }])));
  }, 120_000);
});

describe('the grant check', () => {
  it('finds the one extra verb in a widened copy of the controller Role', async () => {
    const scratch = await freshNamespace(kc, 'rbac-widened');
    try {
      const objects = (await RBAC_SOURCES[0]!.render(scratch)).filter((m) => ['ServiceAccount', 'Role', 'RoleBinding'].includes(m.kind) && m.metadata.name === CONTROLLER);
      expect(objects.map((m) => m.kind).sort()).toEqual(['Role', 'RoleBinding', 'ServiceAccount']);
      const widened = objects.map((m) => (m.kind === 'Role' ? { ...m, rules: [...(m.rules as unknown[]), { apiGroups: [''], resources: ['secrets'], verbs: ['get'] }] } : m));
      await applyAll(kc, widened);
      const subject = serviceAccountSubject(scratch, CONTROLLER);
      const secrets = resources.filter((r) => r.group === '' && r.resource === 'secrets');
      await eventually(async () => ((await reviewAll(kc, subject, secrets, { namespace: scratch })).allowed.size > 0 ? true : undefined), 10_000, 'the widened Role to take effect');

      const verdicts = await reviewAll(kc, subject, resources, { namespace: scratch });
      expect(difference(verdicts, expectedIn(CONTROLLER, 'own'))).toEqual({ extra: ['get secrets'], missing: [] });
      const read = await impersonating(kc, subject.user)('GET', `/api/v1/namespaces/${scratch}/secrets/any`);
      expect(read.status, 'the widened grant lets a real read through to the object lookup').toBe(404);
    } finally {
      await kubeRequest(kc, 'DELETE', `/api/v1/namespaces/${scratch}`);
    }
  });
});
