import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { KubeObject } from '../../src/api/manifest.ts';
import { Informer, type InformerEvent } from '../../src/kube/informer.ts';
import { kubeRequest } from '../../src/kube/raw.ts';
import { createLogger } from '../../src/log.ts';
import { kubeconfigThrough } from '../support/controller.ts';
import { eventually, freshNamespace, kubeConfig, stack } from '../support/kube.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';

const log = createLogger({ component: 'informer-test' }, () => {});

describe('informer against the real API server', () => {
  let kc: KubeConfig;
  let dir: string;
  const stops: AbortController[] = [];
  const proxies: TcpProxy[] = [];

  beforeAll(() => {
    kc = kubeConfig();
    dir = mkdtempSync(join(tmpdir(), 'orchard-informer-'));
  });

  afterEach(async () => {
    for (const s of stops.splice(0)) s.abort();
    await Promise.all(proxies.splice(0).map((p) => p.close()));
  });

  afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));

  const configMap = (ns: string, name: string, data: Record<string, string> = {}) =>
    kubeRequest(kc, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name, labels: { watched: 'yes' } }, data });
  const remove = (ns: string, name: string) => kubeRequest(kc, 'DELETE', `/api/v1/namespaces/${ns}/configmaps/${name}`);

  async function throughProxy() {
    const proxy = await TcpProxy.start({ host: '127.0.0.1', port: Number(new URL(stack().apiServer).port) });
    proxies.push(proxy);
    const proxied = new KubeConfig();
    proxied.loadFromFile(kubeconfigThrough(kc, proxy.port, dir, `kc-${proxy.port}`));
    return { proxy, proxied };
  }

  function start(config: KubeConfig, ns: string, options: { staleAfterMs?: number; resyncMs?: number } = {}) {
    const events: InformerEvent<KubeObject>[] = [];
    const restarts: string[] = [];
    const informer = new Informer<KubeObject>(
      { kc: config, path: `/api/v1/namespaces/${ns}/configmaps`, labelSelector: 'watched', log, backoffInitialMs: 200, observer: { restarted: (r) => restarts.push(r), event: () => {} }, ...options },
      (e) => events.push(e),
    );
    const stop = new AbortController();
    stops.push(stop);
    void informer.run(stop.signal);
    return { informer, events, restarts };
  }

  it('lists existing objects as adds, then follows changes, and ignores unlabelled objects', async () => {
    const ns = await freshNamespace(kc, 'inf-basic');
    await configMap(ns, 'before');
    const { informer, events } = start(kc, ns);
    await eventually(async () => (informer.hasSynced ? true : undefined), 10_000, 'synced');
    expect(events.map((e) => [e.type, e.key])).toEqual([['add', `${ns}/before`]]);
    await configMap(ns, 'after');
    await kubeRequest(kc, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: 'unlabelled' } });
    await remove(ns, 'before');
    await eventually(async () => (events.length >= 3 ? true : undefined), 10_000, 'three events');
    expect(events.map((e) => [e.type, e.key])).toEqual([
      ['add', `${ns}/before`],
      ['add', `${ns}/after`],
      ['delete', `${ns}/before`],
    ]);
    expect(informer.list().map((o) => o.metadata.name)).toEqual(['after']);
  });

  it('delivers a delete and an add when an object is re-created while the informer was cut off, not an update', async () => {
    const ns = await freshNamespace(kc, 'inf-uid');
    const { proxy, proxied } = await throughProxy();
    await configMap(ns, 'same-name', { v: '1' });
    const { informer, events } = start(proxied, ns);
    await eventually(async () => (informer.hasSynced ? true : undefined), 10_000, 'synced');
    const oldUid = informer.get(`${ns}/same-name`)!.metadata.uid;
    proxy.takeDown();
    await remove(ns, 'same-name');
    await configMap(ns, 'same-name', { v: '2' });
    proxy.bringUp();
    await eventually(async () => (informer.get(`${ns}/same-name`)?.metadata.uid !== oldUid ? true : undefined), 15_000, 'the new object');
    const after = events.slice(1).map((e) => [e.type, e.object.metadata.uid === oldUid ? 'old' : 'new']);
    expect(after).toEqual([
      ['delete', 'old'],
      ['add', 'new'],
    ]);
  });

  it('re-lists when a half-open connection goes silent, and sees what changed meanwhile', async () => {
    const ns = await freshNamespace(kc, 'inf-stale');
    const { proxy, proxied } = await throughProxy();
    const { informer, restarts } = start(proxied, ns, { staleAfterMs: 2_000 });
    await eventually(async () => (informer.hasSynced ? true : undefined), 10_000, 'synced');
    proxy.freeze();
    await configMap(ns, 'during-silence');
    await eventually(async () => (informer.get(`${ns}/during-silence`) ? true : undefined), 15_000, 'the object created while the watch was silent');
    expect(restarts).toContain('stale');
  });

  it('re-lists periodically and re-delivers every object as a resync', async () => {
    const ns = await freshNamespace(kc, 'inf-resync');
    await configMap(ns, 'kept');
    const { events } = start(kc, ns, { resyncMs: 1_500 });
    await eventually(async () => (events.some((e) => e.type === 'resync') ? true : undefined), 10_000, 'a resync event');
    expect(events.filter((e) => e.type === 'resync').every((e) => e.key === `${ns}/kept`)).toBe(true);
  });

  // client-node 2.0 to 2.0.x aborted every watch after 30 s (fixed upstream in PR #3022); 1.4.0 is pinned and does not.
  it('keeps a client-node 1.4.0 watch open past 30 s', async () => {
    const ns = await freshNamespace(kc, 'inf-long');
    const seen: string[] = [];
    let ended: unknown = 'not ended';
    const controller = await new Watch(kc).watch(
      `/api/v1/namespaces/${ns}/configmaps`,
      { timeoutSeconds: 120 },
      (type: string, object: KubeObject) => seen.push(`${type} ${object.metadata.name}`),
      (error: unknown) => (ended = error),
    );
    await new Promise((r) => setTimeout(r, 33_000));
    await configMap(ns, 'late');
    await eventually(async () => (seen.includes('ADDED late') ? true : undefined), 5_000, 'an event after 33 s');
    expect(ended).toBe('not ended');
    controller.abort();
  }, 60_000);
});
