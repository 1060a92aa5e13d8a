import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CustomObjectsApi, Watch, type KubeConfig } from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { GROUP, KIND, PLURAL, VERSION, type ParquetOutput } from '../../src/api/parquet-output.ts';
import { kubeRequest } from '../../src/kube/raw.ts';
import { eventually, freshNamespace, kubeConfig, stack } from '../support/kube.ts';

const run = promisify(execFile);

function parquetOutput(namespace: string, name: string, uri = 's3a://orchard-dev/features/run-1/'): ParquetOutput {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: KIND,
    metadata: { name, namespace },
    spec: { source: { kind: 'SparkApplication', name: 'featurize', uid: '5b0b6f0e-0000-4000-8000-000000000001', submissionAttempt: 1 }, uri },
  };
}

function message(response: { body: string }): string {
  return (JSON.parse(response.body) as { message: string }).message;
}

function objectsPath(namespace: string, name = ''): string {
  return `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}${name ? `/${name}` : ''}`;
}

interface Stored extends Omit<ParquetOutput, 'metadata'> {
  metadata: { name: string; namespace: string; uid: string; resourceVersion: string; generation: number; managedFields?: { manager: string }[] };
}

describe('kube-apiserver of the dev stack', () => {
  let kc: KubeConfig;
  let custom: CustomObjectsApi;

  beforeAll(() => {
    kc = kubeConfig();
    custom = kc.makeApiClient(CustomObjectsApi);
  });

  it('reports the pinned Kubernetes version', async () => {
    const response = await kubeRequest(kc, 'GET', '/version');
    expect(JSON.parse(response.body)).toMatchObject({ gitVersion: stack().versions.kubernetes });
  });

  it('creates, reads, lists, updates and deletes a ParquetOutput, and a watch sees each change', async () => {
    const ns = await freshNamespace(kc, 'crud');
    const params = { group: GROUP, version: VERSION, namespace: ns, plural: PLURAL };
    // List then watch from the list's resourceVersion, as an informer does: no change can slip
    // between the two, whenever the watch request reaches the server.
    const initial = (await custom.listNamespacedCustomObject(params)) as { metadata: { resourceVersion: string }; items: unknown[] };
    expect(initial.items).toEqual([]);
    const events: { type: string; name: string; rows?: number }[] = [];
    let ended: unknown;
    const watch = await new Watch(kc).watch(
      objectsPath(ns),
      { resourceVersion: initial.metadata.resourceVersion, allowWatchBookmarks: true },
      (type, object: Stored) => {
        if (type !== 'BOOKMARK') events.push({ type, name: object.metadata.name, rows: object.status?.rows });
      },
      (error: unknown) => (ended = error ?? 'closed by the server'),
    );
    try {
      const created = (await custom.createNamespacedCustomObject({ ...params, body: parquetOutput(ns, 'features-a') })) as Stored;
      expect(created.metadata.uid).toBeTruthy();

      const read = (await custom.getNamespacedCustomObject({ ...params, name: 'features-a' })) as Stored;
      expect(read.spec.uri).toBe('s3a://orchard-dev/features/run-1/');

      await custom.createNamespacedCustomObject({ ...params, body: parquetOutput(ns, 'features-b') });
      const list = (await custom.listNamespacedCustomObject(params)) as { items: Stored[] };
      expect(list.items.map((item) => item.metadata.name).sort()).toEqual(['features-a', 'features-b']);

      const patched = await kubeRequest(kc, 'PATCH', `${objectsPath(ns, 'features-a')}/status`, { status: { rows: 42 } }, 'application/merge-patch+json');
      expect(patched.status).toBe(200);
      await custom.deleteNamespacedCustomObject({ ...params, name: 'features-b' });

      await eventually(
        async () => {
          if (ended !== undefined) throw new Error(`the watch ended early: ${String(ended)}; events so far ${JSON.stringify(events)}`);
          return events.length >= 4 ? events : undefined;
        },
        20_000,
        () => `four watch events (seen ${JSON.stringify(events)})`,
      );
      expect(events).toEqual([
        { type: 'ADDED', name: 'features-a', rows: undefined },
        { type: 'ADDED', name: 'features-b', rows: undefined },
        { type: 'MODIFIED', name: 'features-a', rows: 42 },
        { type: 'DELETED', name: 'features-b', rows: undefined },
      ]);
    } finally {
      watch.abort();
    }
  });

  it('rejects a ParquetOutput that breaks the CRD schema, naming the field', async () => {
    const ns = await freshNamespace(kc, 'schema');
    const response = await kubeRequest(kc, 'POST', objectsPath(ns), parquetOutput(ns, 'bad', 'http://not-s3/path'));
    expect(response.status).toBe(422);
    expect(response.body).toContain('spec.uri');
  });

  it('keeps status behind the status subresource: a spec write ignores status, a status write leaves generation alone', async () => {
    const ns = await freshNamespace(kc, 'status');
    const withStatus = { ...parquetOutput(ns, 'po'), status: { phase: 'Recorded', rows: 7 } };
    const created = JSON.parse((await kubeRequest(kc, 'POST', objectsPath(ns), withStatus)).body) as Stored;
    expect(created.status).toBeUndefined();
    expect(created.metadata.generation).toBe(1);

    const statusWrite = await kubeRequest(kc, 'PUT', `${objectsPath(ns, 'po')}/status`, { ...created, status: { phase: 'Recorded', rows: 7 } });
    expect(statusWrite.status).toBe(200);
    const updated = JSON.parse(statusWrite.body) as Stored;
    expect(updated.status).toEqual({ phase: 'Recorded', rows: 7 });
    expect(updated.metadata.generation).toBe(1);
  });

  it('answers 409 Conflict to an update carrying a stale resourceVersion', async () => {
    const ns = await freshNamespace(kc, 'conflict');
    const created = JSON.parse((await kubeRequest(kc, 'POST', objectsPath(ns), parquetOutput(ns, 'po'))).body) as Stored;
    const first = await kubeRequest(kc, 'PUT', `${objectsPath(ns, 'po')}/status`, { ...created, status: { rows: 1 } });
    expect(first.status).toBe(200);
    const stale = await kubeRequest(kc, 'PUT', `${objectsPath(ns, 'po')}/status`, { ...created, status: { rows: 2 } });
    expect(stale.status).toBe(409);
    expect(JSON.parse(stale.body)).toMatchObject({ reason: 'Conflict' });
  });

  it('server-side apply records field managers and reports a conflict between two of them', async () => {
    const ns = await freshNamespace(kc, 'ssa');
    const apply = (manager: string, labels: Record<string, string>, force: boolean) => {
      const body = { ...parquetOutput(ns, 'po'), metadata: { name: 'po', namespace: ns, labels } };
      return kubeRequest(kc, 'PATCH', `${objectsPath(ns, 'po')}?fieldManager=${manager}${force ? '&force=true' : ''}`, body, 'application/apply-patch+yaml');
    };
    const first = await apply('alice', { team: 'vision' }, false);
    expect(first.status).toBe(201);
    expect((JSON.parse(first.body) as Stored).metadata.managedFields?.map((f) => f.manager)).toContain('alice');

    const conflict = await apply('bob', { team: 'robots' }, false);
    expect(conflict.status).toBe(409);
    expect(conflict.body).toContain('conflict');

    const forced = await apply('bob', { team: 'robots' }, true);
    expect(forced.status).toBe(200);
    expect((JSON.parse(forced.body) as { metadata: { labels: Record<string, string> } }).metadata.labels.team).toBe('robots');
  });

  it('stores and renews a coordination Lease with optimistic locking', async () => {
    const ns = await freshNamespace(kc, 'lease');
    const leases = `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`;
    // Lease times are MicroTime: six fractional digits, which client-node 1.4's Date serializer does not write.
    const microTime = (date: Date) => date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
    const now = new Date();
    const spec = { holderIdentity: 'replica-a', leaseDurationSeconds: 15, acquireTime: microTime(now), renewTime: microTime(now) };
    const created = await kubeRequest(kc, 'POST', leases, { metadata: { name: 'orchard-controller' }, spec });
    expect(created.status).toBe(201);
    const lease = JSON.parse(created.body) as { metadata: { resourceVersion: string }; spec: typeof spec };

    const renewed = await kubeRequest(kc, 'PUT', `${leases}/orchard-controller`, { ...lease, spec: { ...lease.spec, renewTime: microTime(new Date(now.getTime() + 2000)) } });
    expect(renewed.status).toBe(200);
    const after = JSON.parse(renewed.body) as typeof lease;
    expect(after.spec.holderIdentity).toBe('replica-a');
    expect(Number(after.metadata.resourceVersion)).toBeGreaterThan(Number(lease.metadata.resourceVersion));

    // A second replica that read the lease before the renewal must not be able to take it.
    const takeover = await kubeRequest(kc, 'PUT', `${leases}/orchard-controller`, { ...lease, spec: { ...lease.spec, holderIdentity: 'replica-b' } });
    expect(takeover.status).toBe(409);
  });

  it('authorizes with RBAC: a service account may list ParquetOutputs only once a Role allows it', async () => {
    const ns = await freshNamespace(kc, 'rbac');
    const user = `system:serviceaccount:${ns}:reader`;
    const asReader = () => kubeRequest(kc, 'GET', objectsPath(ns), undefined, 'application/json', { 'Impersonate-User': user });
    const denied = await asReader();
    expect(denied.status).toBe(403);
    expect(message(denied)).toContain(`"${user}" cannot list resource "${PLURAL}" in API group "${GROUP}"`);

    await kubeRequest(kc, 'POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`, {
      metadata: { name: 'reader' },
      rules: [{ apiGroups: [GROUP], resources: [PLURAL], verbs: ['get', 'list', 'watch'] }],
    });
    await kubeRequest(kc, 'POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, {
      metadata: { name: 'reader' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reader' },
      subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: ns }],
    });
    await eventually(async () => ((await asReader()).status === 200 ? true : undefined), 10_000, 'RBAC grant to take effect');
  });

  it('enforces Pod Security admission as EKS does: a privileged pod is refused in a restricted namespace', async () => {
    const ns = await freshNamespace(kc, 'psa');
    await kubeRequest(kc, 'PATCH', `/api/v1/namespaces/${ns}`, { metadata: { labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } }, 'application/merge-patch+json');
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'privileged' },
      spec: { serviceAccountName: 'default', automountServiceAccountToken: false, containers: [{ name: 'c', image: 'busybox:1.36', securityContext: { privileged: true } }] },
    };
    const response = await kubeRequest(kc, 'POST', `/api/v1/namespaces/${ns}/pods?dryRun=All`, pod);
    expect(response.status).toBe(403);
    expect(message(response)).toContain('violates PodSecurity "restricted:latest": privileged');
  });

  it('accepts a SparkApplication with kubectl apply --dry-run=server, using the pinned kubectl', async () => {
    const ns = await freshNamespace(kc, 'spark');
    const file = join(tmpdir(), `sparkapp-${ns}.yaml`);
    await writeFile(
      file,
      stringify({
        apiVersion: 'sparkoperator.k8s.io/v1beta2',
        kind: 'SparkApplication',
        metadata: { name: 'featurize', namespace: ns },
        spec: {
          type: 'Python',
          mode: 'cluster',
          sparkVersion: '3.5.5',
          image: 'orchard/resnet50-cpu:0.1.0',
          mainApplicationFile: 'local:///opt/orchard/featurize.py',
          driver: { cores: 1, memory: '2g', serviceAccount: 'spark' },
          executor: { cores: 2, instances: 2, memory: '4g' },
        },
      }),
    );
    const { stdout } = await run(stack().kubectl, ['--kubeconfig', stack().kubeconfig, 'apply', '--dry-run=server', '-f', file]);
    expect(stdout.trim()).toBe('sparkapplication.sparkoperator.k8s.io/featurize created (server dry run)');

    const invalid = stringify({ apiVersion: 'sparkoperator.k8s.io/v1beta2', kind: 'SparkApplication', metadata: { name: 'bad', namespace: ns }, spec: { type: 'Cobol', mode: 'cluster' } });
    await writeFile(file, invalid);
    await expect(run(stack().kubectl, ['--kubeconfig', stack().kubeconfig, 'apply', '--dry-run=server', '-f', file])).rejects.toMatchObject({
      stderr: expect.stringContaining('spec.type: Unsupported value: "Cobol"'),
    });
  });

  it('runs kube-controller-manager: owner references are garbage collected', async () => {
    const ns = await freshNamespace(kc, 'gc');
    const owner = JSON.parse((await kubeRequest(kc, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: 'owner' } })).body) as Stored;
    await kubeRequest(kc, 'POST', objectsPath(ns), {
      ...parquetOutput(ns, 'owned'),
      metadata: { name: 'owned', namespace: ns, ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata.uid }] },
    });
    await kubeRequest(kc, 'DELETE', `/api/v1/namespaces/${ns}/configmaps/owner`);
    await eventually(async () => ((await kubeRequest(kc, 'GET', objectsPath(ns, 'owned'))).status === 404 ? true : undefined), 30_000, 'garbage collection of the owned ParquetOutput');
  });
});
