import { randomBytes } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/api/manifest.ts';
import { GROUP, JOB_LABEL, PLURAL, VERSION } from '../../src/api/parquet-output.ts';
import { LEASE_NAME } from '../../src/api/controller.ts';
import { applyAll, Discovery, objectPath } from '../../src/kube/apply.ts';
import { kubeRequest, statusMessage, type RawResponse } from '../../src/kube/raw.ts';
import { S3_CREDENTIALS_SECRET } from '../../cdk8s/constructs/s3-credentials.ts';
import { scheduledSparkApplicationsPath, sparkApplicationsPath } from '../../src/api/spark-application.ts';
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
import { IDENTITY_KINDS, OPERATOR_INSTALLS, RBAC_SOURCES } from '../support/rbac-sources.ts';
import { createSchedule, scheduledRun } from '../support/spark-job.ts';

const CONTROLLER = 'orchard-controller';
const DRIVER = 'orchard-spark';
const SPARK = 'sparkoperator.k8s.io';
const LEASES = 'coordination.k8s.io';
const WEBHOOKS = 'admissionregistration.k8s.io';

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
    // Driver pods, watched for a failed attempt's own error (its termination message) before a retry deletes them.
    { group: '', resource: 'pods', verbs: ['list', 'watch'] },
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

/** Leader election by impersonation, as client-go's LeaseLock does it: absent, created, read, renewed. */
async function leaderElection(as: Request, namespace: string, lock: string): Promise<void> {
  const leases = `/apis/${LEASES}/v1/namespaces/${namespace}/leases`;
  expectStatus(await as('GET', `${leases}/${lock}`), 404, `get Lease ${lock} before anyone holds it`);
  const now = new Date();
  expectStatus(await as('POST', leases, { metadata: { name: lock }, spec: { holderIdentity: 'replica-a', leaseDurationSeconds: 15, acquireTime: microTime(now), renewTime: microTime(now) } }), 201, `create Lease ${lock}`);
  const held = await as('GET', `${leases}/${lock}`);
  expectStatus(held, 200, `get Lease ${lock}`);
  const current = JSON.parse(held.body) as { spec: Record<string, unknown> };
  expectStatus(await as('PUT', `${leases}/${lock}`, { ...current, spec: { ...current.spec, renewTime: microTime(new Date(now.getTime() + 2000)) } }), 200, `renew Lease ${lock}`);
}

/** A Spark pod the restricted Pod Security profile admits; with no nodes it stays Pending. */
function sparkPod(name: string, role: 'driver' | 'executor', labels: Readonly<Record<string, string>> = { 'spark-app-selector': 'spark-rbac' }) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { 'spark-role': role, ...labels } },
    spec: {
      serviceAccountName: DRIVER,
      automountServiceAccountToken: false,
      securityContext: { runAsNonRoot: true, runAsUser: 185, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{ name: role, image: 'orchard/resnet50-cpu:0.1.0', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
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
    ['GET', `/api/v1/namespaces/${own}/pods/any`, 'get', 'pods'],
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
  readonly resourceNames?: readonly string[];
}

type Role = Manifest & { readonly rules?: readonly Rule[] };

interface Binding extends Manifest {
  readonly roleRef: { readonly kind: string; readonly name: string };
  readonly subjects?: readonly { readonly kind: string; readonly name: string; readonly namespace?: string }[];
}

/**
 * The authorizer serves RBAC from its informer cache: waits until each binding's role answers for
 * one of its own rules. A Role and a RoleBinding each arrive whole, so once one rule of a binding
 * is in effect all of them are, and the checks that follow see the source's grants, not a
 * half-synced cache. The rule comes from the source, not the grant table, so a table mismatch is
 * reported by the checks rather than as a timeout here. Objects without a namespace are in
 * `namespace`; a chart may name one Role alike in several namespaces.
 */
async function bindingsInEffect(kc: KubeConfig, manifests: readonly Manifest[], namespace: string): Promise<void> {
  for (const binding of manifests.filter((m): m is Binding => m.kind === 'RoleBinding' || m.kind === 'ClusterRoleBinding')) {
    const bound = binding.kind === 'RoleBinding' ? (binding.metadata.namespace ?? namespace) : undefined;
    const role = manifests.find(
      (m) => m.kind === binding.roleRef.kind && m.metadata.name === binding.roleRef.name && (m.kind === 'ClusterRole' || (m.metadata.namespace ?? namespace) === bound),
    ) as Role | undefined;
    // A rule that names objects answers only requests that name them, which the probe does not.
    const rule = role?.rules?.find((candidate) => !candidate.resourceNames?.length);
    if (!rule) continue;
    const [group, resource, verb] = [rule.apiGroups[0]!, rule.resources[0]!, rule.verbs[0]!];
    const probe = [{ group, resource, namespaced: true }];
    const scope: Scope = bound ? { namespace: bound } : 'cluster';
    for (const subject of binding.subjects ?? []) {
      const asked = serviceAccountSubject(subject.namespace ?? namespace, subject.name);
      await eventually(
        async () => ((await reviewAll(kc, asked, probe, scope)).allowed.has(pairKey(group, resource, verb)) ? true : undefined),
        10_000,
        `${binding.kind} ${binding.metadata.name} to take effect for ${asked.user}`,
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
    // Driver pods hold a failed attempt's own error: listed and watched by label, and nothing more of pods.
    expectStatus(await as('GET', `/api/v1/namespaces/${namespace}/pods?labelSelector=spark-role%3Ddriver`), 200, 'list driver pods');
    expectStatus(await as('GET', `/api/v1/namespaces/${namespace}/pods?labelSelector=spark-role%3Ddriver&watch=true&timeoutSeconds=1`), 200, 'watch driver pods');

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

    await leaderElection(as, namespace, LEASE_NAME);
  });

  it('lets the Spark driver run its executors: pods, their service and their config maps', async ({ skip }) => {
    if (!identities.includes(DRIVER)) skip();
    const as = impersonating(kc, `system:serviceaccount:${namespace}:${DRIVER}`);
    const pods = `/api/v1/namespaces/${namespace}/pods`;
    const selector = `&labelSelector=${encodeURIComponent('spark-app-selector=spark-rbac')}`;

    const listed = await as('GET', `${pods}?${selector.slice(1)}`);
    expectStatus(listed, 200, 'list executor pods');
    const since = (JSON.parse(listed.body) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
    for (const name of ['exec-1', 'exec-2']) expectStatus(await as('POST', pods, sparkPod(name, 'executor')), 201, `create pod ${name}`);
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

/** The chart's label that tells its two programs' objects apart. */
const COMPONENT = 'app.kubernetes.io/component';

/** The operator's two programs, each a Deployment with a service account of its own. */
type Component = 'controller' | 'webhook';
/** Where the chart binds a grant: the job namespace, the operator's own namespace, or cluster-wide. */
type Place = 'job' | 'operator' | 'cluster';
const PLACES: readonly Place[] = ['job', 'operator', 'cluster'];
/** An object the operator is given by name on its command line; a grant on it holds for that name only (a rule's resourceNames). */
type Named = 'lock' | 'secret' | 'webhook';
/** The flag that gives each object its name, read from the chart's Deployment, since that is the name the binary uses. */
const NAMED_BY: Readonly<Record<Named, string>> = { lock: '--leader-election-lock-name', secret: '--webhook-secret-name', webhook: '--mutating-webhook-name' };

interface OperatorGrant extends Grant {
  readonly name?: Named;
}
type Placed = Readonly<Record<Place, readonly OperatorGrant[]>>;

/**
 * What spark-operator v2.5.2 calls, read from its source (cmd/operator/{controller,webhook}/start.go,
 * internal/controller/, internal/webhook/, pkg/certificate/) as orchard runs it: no SparkConnect
 * objects, no spec.monitoring (orchard's jobs use Spark's PrometheusServlet), no UI ingress, no
 * batch scheduler, no resource-quota enforcement. Both programs read through controller-runtime's cache,
 * so a read is a list and a watch, never a get. spark-submit (Spark 3.5.8) runs in the
 * controller's pod, under the controller's account.
 */
const OPERATOR_NEEDS: Readonly<Record<Component, Placed>> = {
  controller: {
    job: [
      // Informers of the SparkApplication and ScheduledSparkApplication controllers. A schedule's
      // run is created, and deleted past the history limits, when Replace replaces it, or after
      // timeToLiveSeconds.
      { group: SPARK, resource: 'sparkapplications', verbs: ['list', 'watch', 'create', 'delete'] },
      // Every state transition; the event filter also moves a job whose spec changed to Invalidating.
      { group: SPARK, resource: 'sparkapplications/status', verbs: ['update'] },
      { group: SPARK, resource: 'scheduledsparkapplications', verbs: ['list', 'watch'] },
      // The next run's time, the last run's name, the past runs' names.
      { group: SPARK, resource: 'scheduledsparkapplications/status', verbs: ['update'] },
      // The SparkConnect controller starts with the manager whether anyone uses it or not, and a
      // cache that cannot sync stops the manager (its cache sync timeout).
      { group: SPARK, resource: 'sparkconnects', verbs: ['list', 'watch'] },
      // Driver and executor pods (labelled launched-by-spark-operator) give the job its state.
      // spark-submit creates the driver pod, and deletes it when what follows fails; the controller
      // deletes it to suspend, invalidate or rerun a job.
      { group: '', resource: 'pods', verbs: ['list', 'watch', 'create', 'delete'] },
      // The web UI service: created, updated when a rerun finds it, deleted at cleanup, read from
      // the cache. spark-submit applies the driver's headless service server-side, which is a PATCH.
      { group: '', resource: 'services', verbs: ['list', 'watch', 'create', 'update', 'patch', 'delete'] },
      // spark-submit applies the driver's conf and executor pod template config maps server-side
      // (fabric8's serverSideApply: a PATCH that creates); the SparkConnect controller's cache
      // watches config maps.
      { group: '', resource: 'configmaps', verbs: ['list', 'watch', 'patch'] },
      // client-go's recorder creates an Event on the SparkApplication, then patches its count when it repeats.
      { group: '', resource: 'events', verbs: ['create', 'patch'] },
    ],
    operator: [
      // Leader election as client-go's LeaseLock does it: create when absent (a create cannot be
      // limited to a name), then get and update the one Lease.
      { group: LEASES, resource: 'leases', verbs: ['create'] },
      { group: LEASES, resource: 'leases', verbs: ['get', 'update'], name: 'lock' },
      // The leader's Event on its Lease.
      { group: '', resource: 'events', verbs: ['create', 'patch'] },
    ],
    cluster: [],
  },
  webhook: {
    job: [
      // The pod defaulter reads a pod's SparkApplication from its cache: every pod the operator
      // launches carries the label that the webhook's object selector matches.
      { group: SPARK, resource: 'sparkapplications', verbs: ['list', 'watch'] },
    ],
    operator: [
      // Its serving certificate: created when absent, read directly (not cached) at start, and
      // made again when it expires within 180 days.
      { group: '', resource: 'secrets', verbs: ['create'] },
      { group: '', resource: 'secrets', verbs: ['get', 'update'], name: 'secret' },
      { group: LEASES, resource: 'leases', verbs: ['create'] },
      { group: LEASES, resource: 'leases', verbs: ['get', 'update'], name: 'lock' },
      { group: '', resource: 'events', verbs: ['create', 'patch'] },
    ],
    cluster: [
      // The CA bundle goes into its own two configurations, which its informers select by a
      // metadata.name field selector; a rule that names them allows that list and watch.
      { group: WEBHOOKS, resource: 'mutatingwebhookconfigurations', verbs: ['list', 'watch', 'update'], name: 'webhook' },
      { group: WEBHOOKS, resource: 'validatingwebhookconfigurations', verbs: ['list', 'watch', 'update'], name: 'webhook' },
    ],
  },
};

/**
 * What the chart grants beyond OPERATOR_NEEDS: upstream's choices, none of them used by orchard's
 * jobs, each with the reason it is not a need. Pinned, so that a chart that grants more fails here.
 */
const OPERATOR_EXCESS: Readonly<Record<Component, Placed>> = {
  controller: {
    job: [
      // Reads come from the cache (list, watch): a get shows nothing that a list does not.
      { group: SPARK, resource: 'sparkapplications', verbs: ['get'] },
      { group: SPARK, resource: 'scheduledsparkapplications', verbs: ['get'] },
      { group: SPARK, resource: 'sparkconnects', verbs: ['get'] },
      { group: '', resource: 'pods', verbs: ['get'] },
      { group: '', resource: 'services', verbs: ['get'] },
      { group: '', resource: 'configmaps', verbs: ['get'] },
      // The SparkConnect controller's writes (its server pod, config map and status) and the JMX
      // exporter's config map for spec.monitoring.
      { group: '', resource: 'pods', verbs: ['update'] },
      { group: '', resource: 'configmaps', verbs: ['create', 'update'] },
      { group: SPARK, resource: 'sparkconnects/status', verbs: ['update'] },
      // Checked only by the OwnerReferencesPermissionEnforcement admission plugin (owner references
      // with blockOwnerDeletion), which EKS does not run, nor orchard's control plane (src/dev/stack.ts).
      { group: SPARK, resource: 'sparkapplications/finalizers', verbs: ['update'] },
      { group: SPARK, resource: 'scheduledsparkapplications/finalizers', verbs: ['update'] },
      { group: SPARK, resource: 'sparkconnects/finalizers', verbs: ['update'] },
      // The web UI ingress, made only with --ingress-url-format or spec.driverIngressOptions, neither
      // of which orchard sets; extensions/v1beta1 Ingress left Kubernetes in 1.22.
      { group: 'networking.k8s.io', resource: 'ingresses', verbs: ['get', 'create', 'update', 'delete'] },
      { group: 'extensions', resource: 'ingresses', verbs: ['get', 'create', 'update', 'delete'] },
      // client-go's recorder never updates an Event.
      { group: '', resource: 'events', verbs: ['update'] },
    ],
    operator: [{ group: '', resource: 'events', verbs: ['update'] }],
    // Only the Volcano batch scheduler looks its CRD up, and orchard enables no batch scheduler.
    cluster: [{ group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions', verbs: ['get'] }],
  },
  webhook: {
    job: [
      { group: SPARK, resource: 'sparkapplications', verbs: ['get'] },
      // In the webhook's cache options but never read: its defaulters and validators take the
      // object from the admission request.
      { group: SPARK, resource: 'scheduledsparkapplications', verbs: ['get', 'list', 'watch'] },
      { group: '', resource: 'pods', verbs: ['list', 'watch'] },
      // Read only with webhook.resourceQuotaEnforcement.enable, which orchard's values leave off.
      { group: '', resource: 'resourcequotas', verbs: ['list'] },
    ],
    operator: [{ group: '', resource: 'events', verbs: ['update'] }],
    cluster: [
      // Every webhook configuration in the cluster, where its informers select their own by name.
      { group: WEBHOOKS, resource: 'mutatingwebhookconfigurations', verbs: ['list', 'watch'] },
      { group: WEBHOOKS, resource: 'validatingwebhookconfigurations', verbs: ['list', 'watch'] },
      // Read from the cache.
      { group: WEBHOOKS, resource: 'mutatingwebhookconfigurations', verbs: ['get'], name: 'webhook' },
      { group: WEBHOOKS, resource: 'validatingwebhookconfigurations', verbs: ['get'], name: 'webhook' },
    ],
  },
};

/** Where an operator identity is asked about: besides the chart's three places, a namespace it has no business in. */
type Where = Place | 'other';

/** The places whose grants hold in `where`: told to watch every namespace, the chart binds the job namespace's rules cluster-wide. */
function placesIn(where: Where, everyNamespace: boolean): Place[] {
  const job: Place[] = everyNamespace ? ['job'] : [];
  if (where === 'job') return ['job'];
  if (where === 'other') return job;
  return [where, ...job];
}

/**
 * The pairs an operator identity may do in `where`, its needs and the pinned excess together.
 * Without `name` only the grants that hold for any object; with it, also those on that object.
 */
function operatorExpected(component: Component, where: Where, everyNamespace: boolean, names: Partial<Record<Named, string>>, name?: string, only: (grant: Grant) => boolean = () => true): Set<string> {
  const grants = placesIn(where, everyNamespace)
    .flatMap((place) => [...OPERATOR_NEEDS[component][place], ...OPERATOR_EXCESS[component][place]])
    .filter((grant) => grant.name === undefined || (name !== undefined && names[grant.name] === name))
    .filter(only);
  if (where !== 'cluster' || name !== undefined) return expectedKeys(grants);
  return expectedKeys([...grants, ...EVERY_SERVICE_ACCOUNT.grants], EVERY_SERVICE_ACCOUNT.urls);
}

/**
 * The served resources, and what the chart's rules name that this API server does not serve (the
 * SparkConnect CRD, the finalizers that only an admission plugin checks, extensions Ingress): RBAC
 * grants those all the same, so a chart that widens them must show too.
 */
function withRuleResources(served: readonly ServedResource[], manifests: readonly Manifest[]): ServedResource[] {
  const known = new Set(served.map((r) => `${r.group}/${r.resource}`));
  const named = new Map<string, ServedResource>();
  for (const role of manifests.filter((m): m is Role => m.kind === 'Role' || m.kind === 'ClusterRole')) {
    for (const rule of role.rules ?? []) {
      for (const group of rule.apiGroups) {
        for (const resource of rule.resources) if (!known.has(`${group}/${resource}`)) named.set(`${group}/${resource}`, { group, resource, namespaced: true });
      }
    }
  }
  return [...served, ...named.values()];
}

type Deployment = Manifest & { readonly spec: { readonly template: { readonly spec: { readonly containers: readonly { readonly args?: readonly string[] }[] } } } };

/** A program's `--flag=value` arguments, as the chart renders its Deployment. */
function argumentsOf(rendered: readonly Manifest[], component: Component): Map<string, string> {
  const deployment = rendered.find((m): m is Deployment => m.kind === 'Deployment' && m.metadata.labels?.[COMPONENT] === component);
  if (!deployment) throw new Error(`the spark-operator chart rendered no ${component} Deployment`);
  const flags = deployment.spec.template.spec.containers.flatMap((container) => container.args ?? []).filter((arg) => /^--[^=]+=/.test(arg));
  return new Map(flags.map((arg) => [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]));
}

/** Calls each operator identity must be refused: orchard's secrets and records, escalation, and, where its chart is scoped, other namespaces. */
function refusedToOperator(job: string, operator: string, other: string, everyNamespace: boolean): [method: string, path: string, verb: string, resource: string][] {
  const scoped: [string, string, string, string][] = [
    ['GET', `/api/v1/namespaces/${other}/pods/any`, 'get', 'pods'],
    ['GET', `/api/v1/namespaces/${other}/pods`, 'list', 'pods'],
    ['POST', `/api/v1/namespaces/${other}/pods`, 'create', 'pods'],
    ['GET', '/api/v1/pods', 'list', 'pods'],
    ['GET', sparkApplicationsPath(other), 'list', 'sparkapplications'],
    ['POST', `/api/v1/namespaces/${other}/services`, 'create', 'services'],
    ['POST', `/api/v1/namespaces/${other}/configmaps`, 'create', 'configmaps'],
  ];
  return [
    ['GET', `/api/v1/namespaces/${job}/secrets/${S3_CREDENTIALS_SECRET}`, 'get', 'secrets'],
    ['GET', `/api/v1/namespaces/${job}/secrets`, 'list', 'secrets'],
    ['GET', `/api/v1/namespaces/${job}/secrets?watch=true`, 'watch', 'secrets'],
    ['GET', `/api/v1/namespaces/${operator}/secrets/other`, 'get', 'secrets'],
    ['GET', `/api/v1/namespaces/${operator}/secrets`, 'list', 'secrets'],
    ['GET', '/api/v1/secrets', 'list', 'secrets'],
    ['GET', `/apis/${GROUP}/${VERSION}/namespaces/${job}/${PLURAL}`, 'list', PLURAL],
    ['GET', `/apis/${GROUP}/${VERSION}/namespaces/${job}/${PLURAL}/any`, 'get', PLURAL],
    ['POST', `/api/v1/namespaces/${job}/serviceaccounts/${DRIVER}/token`, 'create', 'serviceaccounts/token'],
    ['POST', `/api/v1/namespaces/${job}/pods/any/exec?command=true`, 'create', 'pods/exec'],
    ['GET', `/api/v1/namespaces/${job}/pods/any/log`, 'get', 'pods/log'],
    ['PUT', `/apis/${LEASES}/v1/namespaces/${operator}/leases/other`, 'update', 'leases'],
    ['PUT', `/apis/${WEBHOOKS}/v1/mutatingwebhookconfigurations/other`, 'update', 'mutatingwebhookconfigurations'],
    ['POST', '/api/v1/namespaces', 'create', 'namespaces'],
    ['POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', 'create', 'clusterrolebindings'],
    ['POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${job}/rolebindings`, 'create', 'rolebindings'],
    ['POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', 'create', 'customresourcedefinitions'],
    ...(everyNamespace ? [] : scoped),
  ];
}

/** An Event as client-go's recorder sends it: created, then patched with a new count when it repeats. */
async function recordEvent(as: Request, namespace: string, involvedObject: Record<string, string>, reason: string): Promise<void> {
  const stamp = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const name = `${involvedObject.name}.${Date.now().toString(16)}`;
  const event = { metadata: { name }, involvedObject, type: 'Normal', reason, message: 'rbac test', source: { component: 'spark-operator' }, firstTimestamp: stamp, lastTimestamp: stamp, count: 1 };
  expectStatus(await as('POST', `/api/v1/namespaces/${namespace}/events`, event), 201, `create Event ${reason}`);
  expectStatus(await as('PATCH', `/api/v1/namespaces/${namespace}/events/${name}`, { count: 2, lastTimestamp: stamp }, 'application/strategic-merge-patch+json'), 200, `patch Event ${reason}`);
}

/** The server-side apply fabric8 sends for spark-submit: a PATCH that creates the object when absent. */
function serverSideApply(as: Request, path: string, object: Manifest): Promise<RawResponse> {
  return as('PATCH', `${path}/${object.metadata.name}?fieldManager=fabric8&force=true`, object, 'application/apply-patch+yaml');
}

describe.each(OPERATOR_INSTALLS)('RBAC of the spark-operator chart, $name', (install) => {
  const suffix = randomBytes(4).toString('hex');
  const job = `rbac-job-${suffix}`;
  const operator = `rbac-operator-${suffix}`;
  // The chart names its cluster-wide objects after the release: a release of its own keeps the installs apart.
  const release = `spark-operator-${suffix}`;
  const components: readonly Component[] = install.webhook ? ['controller', 'webhook'] : ['controller'];
  let other: string;
  let rendered: readonly Manifest[];
  let manifests: readonly Manifest[];
  let asked: ServedResource[];
  const accounts: Partial<Record<Component, string>> = {};
  const args: Partial<Record<Component, Map<string, string>>> = {};
  const names: Partial<Record<Component, Partial<Record<Named, string>>>> = {};
  /** Cluster-scoped objects the checks create, which no namespace's deletion removes. */
  const created: string[] = [];
  const subject = (component: Component) => serviceAccountSubject(operator, accounts[component]!);

  beforeAll(async () => {
    other = await freshNamespace(kc, 'rbac-other');
    // installSparkOperator creates the operator's namespace, and orchard's platform the job namespace and the driver's account.
    for (const name of [operator, job]) expectStatus(await kubeRequest(kc, 'POST', '/api/v1/namespaces', { metadata: { name } }), 201, `create namespace ${name}`);
    expectStatus(await kubeRequest(kc, 'POST', `/api/v1/namespaces/${job}/serviceaccounts`, { metadata: { name: DRIVER } }), 201, 'create the driver account');
    rendered = await install.render(release, operator, job);
    manifests = rendered.filter((m) => IDENTITY_KINDS.has(m.kind));
    await applyAll(kc, manifests);
    for (const component of components) {
      accounts[component] = manifests.find((m) => m.kind === 'ServiceAccount' && m.metadata.labels?.[COMPONENT] === component)?.metadata.name;
      args[component] = argumentsOf(rendered, component);
      names[component] = Object.fromEntries(Object.entries(NAMED_BY).flatMap(([named, flag]) => (args[component]!.has(flag) ? [[named, args[component]!.get(flag)!]] : [])));
    }
    asked = withRuleResources(resources, manifests);
    await bindingsInEffect(kc, manifests, operator);
  }, 60_000);

  // Cleans up what beforeAll got to create, whichever step it failed at, so its error stays the one reported.
  afterAll(async () => {
    const discovery = new Discovery(kc);
    for (const clusterWide of (manifests ?? []).filter((m) => m.kind.startsWith('Cluster'))) await kubeRequest(kc, 'DELETE', await objectPath(discovery, clusterWide));
    for (const path of created) await kubeRequest(kc, 'DELETE', path);
    for (const name of [job, operator, other].filter(Boolean)) await kubeRequest(kc, 'DELETE', `/api/v1/namespaces/${name}`);
  });

  it('binds its own service accounts only, and tells each program the namespaces its grants are in', () => {
    const serviceAccounts = manifests.filter((m) => m.kind === 'ServiceAccount');
    expect(serviceAccounts.map((m) => `${m.metadata.labels?.[COMPONENT]} in ${m.metadata.namespace}`).sort()).toEqual(components.map((c) => `${c} in ${operator}`));
    const bindings = manifests.filter((m): m is Binding => m.kind === 'RoleBinding' || m.kind === 'ClusterRoleBinding');
    for (const bound of bindings.flatMap((binding) => binding.subjects ?? [])) {
      expect(bound).toMatchObject({ kind: 'ServiceAccount', namespace: operator });
      expect(Object.values(accounts)).toContain(bound.name);
    }
    // spark.jobNamespaces narrows the chart: Roles in the job namespace, none anywhere else.
    expect(new Set(bindings.filter((b) => b.kind === 'RoleBinding').map((b) => b.metadata.namespace))).toEqual(new Set(install.everyNamespace ? [operator] : [operator, job]));
    for (const component of components) {
      expect(args[component]!.get('--namespaces'), component).toBe(install.everyNamespace ? '""' : job);
      expect(args[component]!.get('--leader-election-lock-namespace'), component).toBe(operator);
      expect(names[component]!.lock, component).toBeTruthy();
    }
    if (install.webhook) {
      expect(args.webhook!.get('--webhook-secret-namespace')).toBe(operator);
      expect(args.webhook!.get('--validating-webhook-name')).toBe(names.webhook!.webhook);
    }
  });

  it('lets the controller and its spark-submit run a scheduled job in the job namespace, and hold its Lease', async () => {
    const as = impersonating(kc, subject('controller').user);
    const jobs = sparkApplicationsPath(job);
    const pods = `/api/v1/namespaces/${job}/pods`;
    const services = `/api/v1/namespaces/${job}/services`;
    const configMaps = `/api/v1/namespaces/${job}/configmaps`;

    // The manager's informers: each must list and watch, or its cache never syncs.
    const launched = `labelSelector=${encodeURIComponent('sparkoperator.k8s.io/launched-by-spark-operator=true')}`;
    for (const path of [scheduledSparkApplicationsPath(job), `${pods}?${launched}`, services, `${configMaps}?labelSelector=${encodeURIComponent('sparkoperator.k8s.io/created-by-spark-operator=true')}`]) {
      expectStatus(await as('GET', path), 200, `list ${path}`);
    }
    const listed = await as('GET', jobs);
    expectStatus(listed, 200, 'list SparkApplications');
    const since = (JSON.parse(listed.body) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;

    const schedule = await createSchedule(kc, job, 'featurize-nightly', 's3a://orchard-dev/features/rbac');
    const run = await as('POST', jobs, scheduledRun(schedule, new Date()));
    expectStatus(run, 201, "create the schedule's run");
    const app = JSON.parse(run.body) as Manifest & { metadata: { uid: string; resourceVersion: string } };
    expect(await watched(as, jobs, since)).toContainEqual({ type: 'ADDED', name: app.metadata.name });
    expectStatus(await as('PUT', `${scheduledSparkApplicationsPath(job)}/${schedule.metadata.name}/status`, { ...schedule, status: { scheduleState: 'Scheduled', lastRunName: app.metadata.name } }), 200, "update the schedule's status");

    // spark-submit: the driver pod, then its conf config map and headless service, owned by the pod.
    const driverName = `${app.metadata.name}-driver`;
    const driver = await as('POST', pods, sparkPod(driverName, 'driver', { 'sparkoperator.k8s.io/launched-by-spark-operator': 'true', 'sparkoperator.k8s.io/app-name': app.metadata.name }));
    expectStatus(driver, 201, 'create the driver pod');
    const ownedByDriver = { ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: driverName, uid: (JSON.parse(driver.body) as { metadata: { uid: string } }).metadata.uid, controller: true }] };
    const confMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `spark-drv-${suffix}-conf-map`, ...ownedByDriver }, data: { 'spark.properties': `spark.kubernetes.namespace=${job}` } };
    expectStatus(await serverSideApply(as, configMaps, confMap), 201, "apply the driver's config map");
    const headless = { apiVersion: 'v1', kind: 'Service', metadata: { name: `${driverName}-svc`, ...ownedByDriver }, spec: { clusterIP: 'None', selector: { 'spark-role': 'driver' }, ports: [{ name: 'driver-rpc-port', port: 7078 }] } };
    expectStatus(await serverSideApply(as, services, headless), 201, "apply the driver's service");

    const status = { applicationState: { state: 'SUBMITTED' }, driverInfo: { podName: driverName }, submissionAttempts: 1 };
    const submitted = await as('PUT', `${jobs}/${app.metadata.name}/status`, { ...app, status });
    expectStatus(submitted, 200, 'update the run status');

    // The web UI service, created and then updated on a rerun.
    const ownedByApp = { ownerReferences: [{ apiVersion: `${SPARK}/v1beta2`, kind: 'SparkApplication', name: app.metadata.name, uid: app.metadata.uid, controller: true, blockOwnerDeletion: true }] };
    const ui = await as('POST', services, { metadata: { name: `${app.metadata.name}-ui-svc`, ...ownedByApp }, spec: { selector: { 'spark-role': 'driver' }, ports: [{ name: 'spark-driver-ui-port', port: 4040 }] } });
    expectStatus(ui, 201, 'create the web UI service');
    const uiService = JSON.parse(ui.body) as Manifest & { spec: Record<string, unknown> };
    expectStatus(await as('PUT', `${services}/${uiService.metadata.name}`, { ...uiService, spec: { ...uiService.spec, ports: [{ name: 'spark-driver-ui-port', port: 4041, targetPort: 4040 }] } }), 200, 'update the web UI service');

    await recordEvent(as, job, { apiVersion: `${SPARK}/v1beta2`, kind: 'SparkApplication', name: app.metadata.name, namespace: job, uid: app.metadata.uid }, 'SparkApplicationSubmitted');

    // A rerun or a suspension: the driver pod and the web UI service go, and past runs beyond the history limit.
    expectStatus(await as('DELETE', `${pods}/${driverName}`), 200, 'delete the driver pod');
    expectStatus(await as('DELETE', `${services}/${uiService.metadata.name}`), 200, 'delete the web UI service');
    expectStatus(await as('DELETE', `${jobs}/${app.metadata.name}`), 200, 'delete the run');

    await leaderElection(as, operator, names.controller!.lock!);
    await recordEvent(as, operator, { apiVersion: `${LEASES}/v1`, kind: 'Lease', name: names.controller!.lock!, namespace: operator }, 'LeaderElection');
  });

  it('lets the webhook keep its certificate and its Lease, write its configurations and read the jobs', async ({ skip }) => {
    if (!install.webhook) skip();
    const as = impersonating(kc, subject('webhook').user);
    const { secret, lock, webhook } = names.webhook! as Record<Named, string>;

    const secrets = `/api/v1/namespaces/${operator}/secrets`;
    expectStatus(await as('GET', `${secrets}/${secret}`), 404, 'get the certificate secret before it exists');
    expectStatus(await as('POST', secrets, { metadata: { name: secret } }), 201, 'create the certificate secret');
    const stored = await as('GET', `${secrets}/${secret}`);
    expectStatus(stored, 200, 'get the certificate secret');
    expectStatus(await as('PUT', `${secrets}/${secret}`, { ...(JSON.parse(stored.body) as object), data: { 'ca-cert.pem': Buffer.from('rbac').toString('base64') } }), 200, 'update the certificate secret');

    await leaderElection(as, operator, lock);
    await recordEvent(as, operator, { apiVersion: `${LEASES}/v1`, kind: 'Lease', name: lock, namespace: operator }, 'LeaderElection');

    // Its configurations come with the chart: empty ones here, since real ones would send this API server's pods to a webhook that is not there.
    for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
      const path = `/apis/${WEBHOOKS}/v1/${kind.toLowerCase()}s`;
      const made = await kubeRequest(kc, 'POST', path, { apiVersion: `${WEBHOOKS}/v1`, kind, metadata: { name: webhook }, webhooks: [] });
      expectStatus(made, 201, `create ${kind} ${webhook} as the admin`);
      created.push(`${path}/${webhook}`);
      const selected = await as('GET', `${path}?fieldSelector=${encodeURIComponent(`metadata.name=${webhook}`)}`);
      expectStatus(selected, 200, `list ${kind} by name`);
      expect((JSON.parse(selected.body) as { items: Manifest[] }).items.map((m) => m.metadata.name)).toEqual([webhook]);
      const current = JSON.parse(made.body) as Manifest;
      expectStatus(await as('PUT', `${path}/${webhook}`, { ...current, metadata: { ...current.metadata, labels: { 'orchard.fruits.dev/test': 'ca-bundle' } } }), 200, `update ${kind}`);
    }

    const jobs = sparkApplicationsPath(job);
    const listed = await as('GET', jobs);
    expectStatus(listed, 200, 'list SparkApplications');
    const since = (JSON.parse(listed.body) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
    expectStatus(await kubeRequest(kc, 'POST', jobs, sparkApplicationFor({ ...FEATURIZE_PROPS, name: 'featurize-webhook', namespace: job })), 201, 'create a SparkApplication as the admin');
    expect(await watched(as, jobs, since)).toContainEqual({ type: 'ADDED', name: 'featurize-webhook' });
  });

  it("refuses each program orchard's secrets and records, escalation, and other namespaces where the chart is scoped", async () => {
    for (const component of components) {
      const user = subject(component).user;
      const as = impersonating(kc, user);
      for (const [method, path, verb, resource] of refusedToOperator(job, operator, other, install.everyNamespace)) {
        expectForbidden(await as(method, path, method === 'GET' || method === 'DELETE' ? undefined : {}), user, verb, resource, `${component}: ${method} ${path}`);
      }
    }
  });

  it('allows exactly its needs and the pinned excess: every verb on every resource, in each place, and on each object it names', async () => {
    const scopes: [Scope, Where][] = [
      [{ namespace: job }, 'job'],
      [{ namespace: operator }, 'operator'],
      [{ namespace: other }, 'other'],
      ['cluster', 'cluster'],
    ];
    const scopeOf = (place: Place): Scope => (place === 'cluster' ? 'cluster' : { namespace: place === 'job' ? job : operator });
    // Every identity and scope is checked before asserting, so one failure shows all the differences.
    const differences: Record<string, Difference> = {};
    for (const component of components) {
      const own = names[component]!;
      for (const [scope, where] of scopes) {
        const verdicts = await reviewAll(kc, subject(component), asked, scope);
        differences[`${component}, ${where}`] = difference(verdicts, operatorExpected(component, where, install.everyNamespace, own));
        summary.push(`spark-operator chart ${install.name}, ${component}, ${where}: ${verdicts.checked} checked, ${verdicts.allowed.size} allowed, ${verdicts.checked - verdicts.allowed.size} refused`);
      }
      // A rule that names an object answers only a request that names it, which the reviews above never do.
      const namedGrants = PLACES.flatMap((place) => [...OPERATOR_NEEDS[component][place], ...OPERATOR_EXCESS[component][place]].filter((g) => g.name).map((grant) => ({ place, grant })));
      const distinct = new Map(namedGrants.map(({ place, grant }) => [`${place} ${grant.group}/${grant.resource} ${grant.name}`, { place, grant }]));
      for (const [key, { place, grant }] of distinct) {
        const object = own[grant.name!]!;
        const one = asked.filter((r) => r.group === grant.group && r.resource === grant.resource);
        const verdicts = await reviewAll(kc, subject(component), one, scopeOf(place), object);
        const same = (g: Grant) => g.group === grant.group && g.resource === grant.resource;
        differences[`${component}, ${key} (${object})`] = difference(verdicts, operatorExpected(component, place, install.everyNamespace, own, object, same));
      }
    }
    expect(differences).toEqual(Object.fromEntries(Object.keys(differences).map((key) => [key, { extra: [], missing: [] }])));
  }, 180_000);
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
