import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it, type TestContext } from 'vitest';
import { LeaderElector, formatMicroTime, parseMicroTime, type LeaseConfig } from '../../src/kube/lease.ts';
import { kubeRequest } from '../../src/kube/raw.ts';
import { createLogger } from '../../src/log.ts';
import { REPO_ROOT } from '../../src/paths.ts';
import { eventually, freshNamespace, kubeConfig, stack } from '../support/kube.ts';

const HOUR = 3_600_000;

/** Short timings so that integration tests take seconds; the relations between them are the defaults'. */
const FAST = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 500 } as const;
const LEASE = 'orchard-controller';

interface Replica {
  readonly identity: string;
  readonly elector: LeaderElector;
  readonly stop: AbortController;
  readonly done: Promise<void>;
  /** Every identity onNewLeader reported, in order. */
  readonly leaders: string[];
  readonly logs: string[];
  leading?: AbortSignal;
  startedAt?: number;
  stoppedAt?: number;
}

/** Runs an elector in this process until the test ends. */
function replica(context: TestContext, config: Omit<LeaseConfig, 'log' | 'name'>): Replica {
  const logs: string[] = [];
  const elector = new LeaderElector({ ...FAST, name: LEASE, log: createLogger({}, (line) => logs.push(line)), ...config });
  const stop = new AbortController();
  const leaders: string[] = [];
  const r: Omit<Replica, 'done'> = { identity: config.identity, elector, stop, leaders, logs };
  const done = elector.run(stop.signal, {
    onStartedLeading: (leading) => {
      r.leading = leading;
      r.startedAt = Date.now();
    },
    onStoppedLeading: () => (r.stoppedAt = Date.now()),
    onNewLeader: (identity) => leaders.push(identity),
  });
  const running = Object.assign(r, { done });
  context.onTestFinished(async () => {
    stop.abort();
    await done;
  });
  return running;
}

function describeReplicas(...replicas: Replica[]): () => string {
  return () => replicas.map((r) => `${r.identity}: leader=${r.elector.isLeader()} sees=${r.elector.leader()}\n  ${r.logs.join('\n  ')}`).join('\n');
}

interface StoredLease {
  metadata: { resourceVersion: string };
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number };
}

function leasePath(namespace: string, name = LEASE): string {
  return `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}`;
}

async function readLease(kc: KubeConfig, namespace: string): Promise<StoredLease> {
  const response = await kubeRequest(kc, 'GET', leasePath(namespace));
  expect(response.status, response.body).toBe(200);
  return JSON.parse(response.body) as StoredLease;
}

/** Writes `spec` over the lease as another client would (read, then update with its resourceVersion); resolves with when the write started. */
async function overwrite(kc: KubeConfig, namespace: string, spec: (current: StoredLease['spec']) => StoredLease['spec']): Promise<number> {
  return eventually(
    async () => {
      const lease = await readLease(kc, namespace);
      const startedAt = Date.now();
      const response = await kubeRequest(kc, 'PUT', leasePath(namespace), { ...lease, spec: spec(lease.spec) });
      if (response.status === 409) return undefined;
      expect(response.status, response.body).toBe(200);
      return startedAt;
    },
    5_000,
    `overwriting lease ${namespace}/${LEASE}`,
  );
}

type FrontMode = 'up' | 'down' | 429 | 503;

interface FaultyFront {
  /** The kubeconfig of the stack, pointing at the front. */
  readonly kc: KubeConfig;
  /** When each request arrived. */
  readonly arrivals: number[];
  mode: FrontMode;
  /** Goes down as soon as it has answered the next successful `method` request; resolves with when. */
  downAfter(method: string): Promise<number>;
}

/**
 * An HTTPS front for the real API server (same certificate, so the kubeconfig's CA trusts it) that
 * forwards requests, or fails them as a down or overloaded API server would, and records when each arrived.
 */
async function faultyFront(context: TestContext, kc: KubeConfig): Promise<FaultyFront> {
  const pki = join(stack().stateDir, 'pki');
  let goDown: { method: string; resolve: (at: number) => void } | undefined;
  const front: FaultyFront = {
    kc: new KubeConfig(),
    arrivals: [],
    mode: 'up',
    downAfter: (method) => new Promise((resolve) => (goDown = { method, resolve })),
  };
  const server = createServer({ cert: await readFile(join(pki, 'apiserver.crt')), key: await readFile(join(pki, 'apiserver.key')) }, async (req, res) => {
    front.arrivals.push(Date.now());
    if (front.mode === 'down') return req.socket.destroy();
    if (front.mode !== 'up') return res.writeHead(front.mode, { 'Content-Type': 'application/json' }).end(JSON.stringify({ kind: 'Status', code: front.mode, message: 'injected' }));
    let body = '';
    for await (const chunk of req) body += String(chunk);
    const answer = await kubeRequest(kc, req.method!, req.url!, body || undefined, req.headers['content-type']);
    res.writeHead(answer.status, { 'Content-Type': 'application/json' }).end(answer.body);
    const pending = goDown;
    if (pending && pending.method === req.method && answer.status < 300) {
      front.mode = 'down';
      goDown = undefined;
      pending.resolve(Date.now());
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  context.onTestFinished(() => {
    server.closeAllConnections();
    server.close();
  });
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  front.kc.loadFromOptions({
    clusters: kc.clusters.map((cluster) => ({ ...cluster, server: url })),
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.getCurrentContext(),
  });
  return front;
}

/**
 * An elector in a child process, so that a crash is real: SIGKILL leaves it no chance to release.
 * It says `leading` on stdout when it starts leading.
 */
const CHILD_ELECTOR = `
import { KubeConfig } from '@kubernetes/client-node';
import { LeaderElector } from './src/kube/lease.ts';
import { createLogger } from './src/log.ts';
const { kubeconfig, ...config } = JSON.parse(process.env.ORCHARD_LEASE_TEST);
const kc = new KubeConfig();
kc.loadFromFile(kubeconfig);
await new LeaderElector({ ...config, kc, log: createLogger() }).run(new AbortController().signal, {
  onStartedLeading: () => process.stdout.write('leading\\n'),
  onStoppedLeading: () => process.stdout.write('stopped\\n'),
});
`;

describe.concurrent('leader election against the real API server', () => {
  it('lets exactly one of two electors lead, even with one clock an hour ahead; the lease keeps acquireTime across renewals', async (context) => {
    const kc = kubeConfig();
    const namespace = await freshNamespace(kc, 'lease-one');
    const a = replica(context, { kc, namespace, identity: 'replica-a' });
    const b = replica(context, { kc, namespace, identity: 'replica-b', now: () => Date.now() + HOUR });
    const status = describeReplicas(a, b);
    const leader = await eventually(async () => (a.elector.isLeader() ? a : b.elector.isLeader() ? b : undefined), 5_000, () => `a leader\n${status()}`);
    const follower = leader === a ? b : a;

    // Two lease durations: the follower gets several chances to take over wrongly.
    const samples: [boolean, boolean][] = [];
    const leases: StoredLease['spec'][] = [];
    const until = Date.now() + 2 * FAST.leaseDurationMs;
    while (Date.now() < until) {
      samples.push([a.elector.isLeader(), b.elector.isLeader()]);
      if (samples.length % 25 === 0) leases.push((await readLease(kc, namespace)).spec);
      await sleep(20);
    }
    expect(samples.length).toBeGreaterThan(100);
    expect(samples.filter(([x, y]) => x === y), status()).toEqual([]);
    expect(follower.startedAt).toBeUndefined();
    expect(leader.leaders).toEqual([leader.identity]);
    expect(follower.leaders).toEqual([leader.identity]);
    expect(follower.elector.leader()).toBe(leader.identity);

    expect(leases.length).toBeGreaterThanOrEqual(4);
    for (const spec of leases) {
      expect(spec).toMatchObject({ holderIdentity: leader.identity, leaseDurationSeconds: 3, leaseTransitions: 0, acquireTime: leases[0]!.acquireTime });
      expect(spec.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    }
    expect(new Set(leases.map((spec) => spec.renewTime)).size).toBeGreaterThanOrEqual(3);
    // Each replica stamps its own clock: the skewed one writes times an hour ahead, and that is harmless.
    const stampedAhead = parseMicroTime(leases.at(-1)!.renewTime!)! - Date.now() > HOUR / 2;
    expect(stampedAhead).toBe(leader === b);
  });

  it("releases on abort the way client-go does, after aborting the leader's signal", async (context) => {
    const kc = kubeConfig();
    const namespace = await freshNamespace(kc, 'lease-release');
    const a = replica(context, { kc, namespace, identity: 'replica-a' });
    await eventually(async () => (a.elector.isLeader() ? true : undefined), 5_000, describeReplicas(a));
    const before = await readLease(kc, namespace);
    let leadingAbortedAt: number | undefined;
    a.leading!.addEventListener('abort', () => (leadingAbortedAt = Date.now()));

    a.stop.abort();
    expect(a.elector.isLeader()).toBe(false);
    await a.done;

    expect(leadingAbortedAt).toBeDefined();
    expect(a.stoppedAt).toBeGreaterThanOrEqual(leadingAbortedAt!);
    expect(a.elector.leader()).toBeUndefined();
    const after = await readLease(kc, namespace);
    expect(after.spec).toEqual({ holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 0, acquireTime: after.spec.renewTime, renewTime: after.spec.renewTime });
    expect(parseMicroTime(after.spec.renewTime!)).toBeGreaterThanOrEqual(parseMicroTime(before.spec.renewTime!)!);
  });

  it('hands over to the standby at its next attempt when the leader releases, without waiting out the lease', async (context) => {
    const kc = kubeConfig();
    const namespace = await freshNamespace(kc, 'lease-handover');
    // A lease far longer than the wait below: only the release can let the standby in before it runs out.
    const LONG = { leaseDurationMs: 600_000, renewDeadlineMs: FAST.renewDeadlineMs, retryPeriodMs: FAST.retryPeriodMs };
    const a = replica(context, { kc, namespace, identity: 'replica-a', ...LONG });
    await eventually(async () => (a.elector.isLeader() ? true : undefined), 30_000, describeReplicas(a));
    const b = replica(context, { kc, namespace, identity: 'replica-b', ...LONG });
    const status = describeReplicas(a, b);
    await eventually(async () => (b.elector.leader() === 'replica-a' ? true : undefined), 30_000, status);
    const before = await readLease(kc, namespace);

    a.stop.abort();
    await a.done;
    await eventually(async () => (b.elector.isLeader() ? true : undefined), 60_000, status);

    expect(b.leaders).toEqual(['replica-a', 'replica-b']);
    const after = await readLease(kc, namespace);
    expect(after.spec).toMatchObject({ holderIdentity: 'replica-b', leaseDurationSeconds: LONG.leaseDurationMs / 1000, leaseTransitions: 1 });
    expect(after.spec.acquireTime).not.toBe(before.spec.acquireTime);
  });

  it('replaces a crashed leader (SIGKILL, no release) only a full lease duration after the standby last saw it renew', async (context) => {
    const kc = kubeConfig();
    const namespace = await freshNamespace(kc, 'lease-crash');
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD_ELECTOR], {
      cwd: REPO_ROOT,
      env: { ...process.env, ORCHARD_LOG_FORMAT: 'json', ORCHARD_LEASE_TEST: JSON.stringify({ kubeconfig: stack().kubeconfig, namespace, name: LEASE, identity: 'replica-a', ...FAST }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = once(child, 'exit');
    context.onTestFinished(() => void child.kill('SIGKILL'));
    let said = '';
    let logged = '';
    child.stdout.on('data', (chunk) => (said += String(chunk)));
    child.stderr.on('data', (chunk) => (logged += String(chunk)));
    await eventually(async () => (said === 'leading\n' ? true : undefined), 30_000, () => `the child elector to lead; it said ${JSON.stringify(said)} and logged:\n${logged}`);

    const b = replica(context, { kc, namespace, identity: 'replica-b' });
    const status = describeReplicas(b);
    await eventually(async () => (b.elector.leader() === 'replica-a' ? true : undefined), 5_000, status);
    // The standby watches a few renewals, so that what it waits from is the last of them.
    await sleep(3 * FAST.retryPeriodMs);

    child.kill('SIGKILL');
    await exited;
    const last = await readLease(kc, namespace);
    expect(last.spec.holderIdentity).toBe('replica-a');
    expect(said).toBe('leading\n');
    const lastRenewal = parseMicroTime(last.spec.renewTime!)!;

    await eventually(async () => (b.elector.isLeader() ? true : undefined), 60_000, status);
    // Safety, not speed: the standby saw the last renewal no earlier than the crashed leader stamped
    // it, and timers never fire early, so no machine, fast or slow, takes over before this.
    expect(b.startedAt!).toBeGreaterThanOrEqual(lastRenewal + FAST.leaseDurationMs);
    expect((await readLease(kc, namespace)).spec).toMatchObject({ holderIdentity: 'replica-b', leaseTransitions: 1 });
  });

  it("trusts no timestamp in the lease: a renewTime an hour old still costs a full lease duration, and each change restarts it", async (context) => {
    const kc = kubeConfig();
    const namespace = await freshNamespace(kc, 'lease-ghost');
    const ancient = formatMicroTime(Date.now() - HOUR);
    const created = await kubeRequest(kc, 'POST', `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`, {
      metadata: { name: LEASE },
      spec: { holderIdentity: 'ghost', leaseDurationSeconds: 3, acquireTime: ancient, renewTime: ancient, leaseTransitions: 7 },
    });
    expect(created.status, created.body).toBe(201);
    const b = replica(context, { kc, namespace, identity: 'replica-b' });
    const status = describeReplicas(b);
    await eventually(async () => (b.elector.leader() === 'ghost' ? true : undefined), 5_000, status);

    await sleep(FAST.leaseDurationMs / 2);
    expect(b.elector.isLeader()).toBe(false);
    // The ghost renews once, with a time still an hour old: a change all the same.
    const renewedAt = await overwrite(kc, namespace, (spec) => ({ ...spec, renewTime: formatMicroTime(parseMicroTime(spec.renewTime!)! + 1) }));

    await eventually(async () => (b.elector.isLeader() ? true : undefined), 60_000, status);
    // Safety, as above: the renewal, an hour-old stamp and all, restarted the full wait.
    expect(b.startedAt!).toBeGreaterThanOrEqual(renewedAt + FAST.leaseDurationMs);
    expect((await readLease(kc, namespace)).spec).toMatchObject({ holderIdentity: 'replica-b', leaseTransitions: 8 });
  });

  it('stops leading, without overwriting the thief, when another writer takes the lease', async (context) => {
    const kc = kubeConfig();
    const namespace = await freshNamespace(kc, 'lease-stolen');
    const a = replica(context, { kc, namespace, identity: 'replica-a' });
    const status = describeReplicas(a);
    await eventually(async () => (a.elector.isLeader() ? true : undefined), 5_000, status);

    await overwrite(kc, namespace, (spec) => ({ ...spec, holderIdentity: 'thief', renewTime: formatMicroTime(Date.now()), leaseTransitions: spec.leaseTransitions! + 1 }));
    await eventually(async () => (a.stoppedAt !== undefined ? true : undefined), 30_000, status);
    await a.done;

    expect(a.leading!.aborted).toBe(true);
    expect(a.elector.isLeader()).toBe(false);
    expect(a.elector.leader()).toBe('thief');
    expect(a.leaders).toEqual(['replica-a', 'thief']);
    expect((await readLease(kc, namespace)).spec).toMatchObject({ holderIdentity: 'thief', leaseTransitions: 1 });
  });

  it('gives up leading when the API server goes down past the renew deadline, after retrying', async (context) => {
    const kc = kubeConfig();
    const namespace = await freshNamespace(kc, 'lease-down');
    const front = await faultyFront(context, kc);
    const a = replica(context, { kc: front.kc, namespace, identity: 'replica-a' });
    const status = describeReplicas(a);
    await eventually(async () => (a.elector.isLeader() ? true : undefined), 5_000, status);
    // Down right after a renewal succeeded: the deadline then falls a renew deadline after the outage.
    const downAt = await front.downAfter('PUT');
    await eventually(async () => (a.stoppedAt !== undefined ? true : undefined), 30_000, status);
    await a.done;

    // It retried while down, and then gave up, keeping the lease in its name (no release reached the server).
    expect(front.arrivals.filter((at) => at >= downAt).length).toBeGreaterThanOrEqual(2);
    expect(a.leading!.aborted).toBe(true);
    expect((await readLease(kc, namespace)).spec.holderIdentity).toBe('replica-a');
  });

  it('treats 503 and 429 as failed attempts, retries, and acquires once the API server answers', async (context) => {
    const kc = kubeConfig();
    const namespace = await freshNamespace(kc, 'lease-overload');
    const front = await faultyFront(context, kc);
    front.mode = 503;
    const b = replica(context, { kc: front.kc, namespace, identity: 'replica-b' });
    const status = describeReplicas(b);
    await eventually(async () => (front.arrivals.length >= 3 ? true : undefined), 30_000, status);
    front.mode = 429;
    await eventually(async () => (front.arrivals.length >= 5 ? true : undefined), 30_000, status);
    front.mode = 'up';

    await eventually(async () => (b.elector.isLeader() ? true : undefined), 30_000, status);
    expect((await readLease(kc, namespace)).spec).toMatchObject({ holderIdentity: 'replica-b', leaseTransitions: 0 });
  });
});
