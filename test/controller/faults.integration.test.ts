import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { AbortMultipartUploadCommand, CreateMultipartUploadCommand, type S3Client } from '@aws-sdk/client-s3';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { apiServerReplica } from '../../src/dev/stack.ts';
import { freePort } from '../../src/dev/process.ts';
import { s3Client } from '../../src/s3/client.ts';
import { ControllerProcess, kubeconfigThrough } from '../support/controller.ts';
import { writeDataset } from '../support/dataset.ts';
import { eventually, freshNamespace, kubeConfig, stack } from '../support/kube.ts';
import { eventsFor, listOutputs, outputsOf } from '../support/outputs.ts';
import { createJob, deleteJob, setJobState } from '../support/spark-job.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';

/** Faults between the controller and its servers, each through a TCP proxy the test controls. */
describe('controller under faults', () => {
  let kc: KubeConfig;
  let s3: S3Client;
  let bucket: string;
  let dir: string;
  const running: ControllerProcess[] = [];
  const proxies: TcpProxy[] = [];
  const replicas: ReturnType<typeof apiServerReplica>[] = [];

  beforeAll(() => {
    kc = kubeConfig();
    s3 = s3Client(stack().s3);
    bucket = stack().s3.bucket;
    dir = mkdtempSync(join(tmpdir(), 'orchard-faults-'));
  });

  afterEach(async () => {
    await Promise.all(running.splice(0).map((c) => c.stop('SIGKILL')));
    await Promise.all(proxies.splice(0).map((p) => p.close()));
    await Promise.all(replicas.splice(0).map((r) => r.stop('SIGTERM')));
  });

  afterAll(() => {
    s3?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function proxied(apiPort = Number(new URL(stack().apiServer).port)) {
    const api = await TcpProxy.start({ host: '127.0.0.1', port: apiPort });
    const objectStore = await TcpProxy.start({ host: '127.0.0.1', port: Number(new URL(stack().s3.endpoint).port) });
    proxies.push(api, objectStore);
    const kubeconfig = kubeconfigThrough(kc, api.port, dir, `kubeconfig-${api.port}`);
    const start = async (namespace: string, id: string, args: string[] = []) => {
      const controller = await ControllerProcess.start({ kubeconfig, s3Endpoint: `http://127.0.0.1:${objectStore.port}`, stack: stack(), namespace, id, args });
      running.push(controller);
      return controller;
    };
    return { api, objectStore, start };
  }

  const prefix = () => `features/${randomBytes(4).toString('hex')}`;
  const recorded = (ns: string, job: string) => async () => {
    const outputs = await outputsOf(kc, ns, job);
    return outputs?.length === 1 && outputs[0]!.status?.phase === 'Recorded' ? outputs[0] : undefined;
  };
  const leaders = async (controllers: ControllerProcess[]) => {
    const flags = await Promise.all(controllers.map(async (c) => (c.running ? c.metric('orchard_leader') : 0)));
    return controllers.filter((_, i) => flags[i] === 1);
  };

  it('keeps a condition while S3 is down, backs off to its cap without a hot loop, and records once S3 is back', async () => {
    const ns = await freshNamespace(kc, 'fault-s3');
    const { objectStore, start } = await proxied();
    const dataset = await writeDataset(s3, bucket, prefix(), { files: 2, rowsPerFile: 10 });
    await createJob(kc, ns, 'patient', dataset.uri);
    const controller = await start(ns, 'c-0', ['--max-retry-delay', '2']);
    objectStore.takeDown();
    await setJobState(kc, ns, 'patient', 'COMPLETED');
    const waiting = await eventually(async () => {
      const o = (await outputsOf(kc, ns, 'patient'))?.[0];
      return o?.status?.conditions?.find((c) => c.reason === 'S3Unavailable') ? o : undefined;
    }, 30_000, () => `an S3Unavailable condition\n${controller.tail()}`);
    expect(waiting.status!.phase).toBe('Pending');
    await eventually(async () => (controller.logs.filter((l) => l.msg === 'reconcile failed; retrying').length >= 6 ? true : undefined), 40_000, 'six retries');
    const delays = controller.logs.filter((l) => l.msg === 'reconcile failed; retrying').map((l) => l.retryInMs as number);
    expect(delays.slice(0, 4)).toEqual([250, 500, 1_000, 2_000]);
    expect(delays.slice(4).every((d) => d === 2_000)).toBe(true);
    const refused = objectStore.refused;
    objectStore.bringUp();
    const done = await eventually(recorded(ns, 'patient'), 20_000, () => `Recorded once S3 is back\n${controller.tail()}`);
    expect(done.status!.rows).toBe(20);
    expect((await eventsFor(kc, ns, 'patient')).filter((e) => e.reason === 'S3Unavailable')).toHaveLength(1);
    // The backoff above is what bounds the load on S3 while it is down; the count is printed, not asserted.
    process.stdout.write(`S3 down: ${refused} connections refused over ${delays.length} reconcile retries\n`);
  });

  it('keeps a Recorded output as it is when S3 does not answer a re-read of its leftovers, and clears them once gc removed them', async () => {
    const ns = await freshNamespace(kc, 'fault-leftovers');
    const { objectStore, start } = await proxied();
    const dataset = await writeDataset(s3, bucket, prefix(), { files: 1, rowsPerFile: 10 });
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: `${dataset.keys[0]!.replace(/[^/]+$/, '')}part-00009-retried.snappy.parquet` }));
    await createJob(kc, ns, 'kept', dataset.uri);
    await setJobState(kc, ns, 'kept', 'COMPLETED');
    let controller = await start(ns, 'c-0');
    const first = await eventually(recorded(ns, 'kept'), 20_000, () => `Recorded\n${controller.tail()}`);
    expect(first.status!.leftovers).toMatchObject({ pendingUploads: 1 });
    await controller.stop('SIGKILL');

    // A cold start reconciles every job: the record with leftovers is read again, with S3 down.
    objectStore.takeDown();
    controller = await start(ns, 'c-1');
    await eventually(async () => (controller.logs.some((l) => l.msg === 'leftovers of a recorded output not read; the record stays as it is until the next resync') ? true : undefined), 30_000, () => `the re-read refused\n${controller.tail()}`);
    expect((await outputsOf(kc, ns, 'kept'))![0]!.status).toEqual(first.status);
    await controller.stop('SIGKILL');

    objectStore.bringUp();
    const [key] = dataset.keys;
    await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: `${key!.replace(/[^/]+$/, '')}part-00009-retried.snappy.parquet`, UploadId }));
    controller = await start(ns, 'c-2');
    const cleared = await eventually(async () => {
      const o = (await outputsOf(kc, ns, 'kept'))?.[0];
      return o?.status && !o.status.leftovers ? o : undefined;
    }, 30_000, () => `leftovers cleared\n${controller.tail()}`);
    expect(cleared.status!.phase).toBe('Recorded');
    expect(cleared.status!.conditions).toEqual(first.status!.conditions);
    // Three controller starts on a busy 2-core machine.
  }, 180_000);

  it('records exactly once when killed while recording and restarted', async () => {
    const ns = await freshNamespace(kc, 'fault-kill');
    const { objectStore, start } = await proxied();
    const big = await writeDataset(s3, bucket, prefix(), { files: 60, rowsPerFile: 5 });
    const blocked = await writeDataset(s3, bucket, prefix(), { files: 2, rowsPerFile: 5 });
    await createJob(kc, ns, 'big', big.uri);
    await createJob(kc, ns, 'blocked', blocked.uri);
    // Each restart is a new replica that waits out the killed one's lease: keep it short here.
    const fast = ['--lease-duration', '3', '--renew-deadline', '2', '--retry-period', '0.5'];
    let controller = await start(ns, 'c-0', fast);
    // Killed in the middle of reading 60 footers.
    await setJobState(kc, ns, 'big', 'COMPLETED');
    await eventually(async () => (controller.has('output status written') || (await outputsOf(kc, ns, 'big')) ? true : undefined), 10_000, 'recording started');
    await controller.stop('SIGKILL');
    // Killed while S3 is down and the record says so.
    controller = await start(ns, 'c-1', fast);
    objectStore.takeDown();
    await setJobState(kc, ns, 'blocked', 'COMPLETED');
    await eventually(async () => ((await outputsOf(kc, ns, 'blocked'))?.[0]?.status?.conditions?.some((c) => c.reason === 'S3Unavailable') ? true : undefined), 30_000, 'blocked on S3');
    await controller.stop('SIGKILL');
    objectStore.bringUp();
    controller = await start(ns, 'c-2', fast);
    await eventually(recorded(ns, 'big'), 30_000, () => `big recorded\n${controller.tail()}`);
    await eventually(recorded(ns, 'blocked'), 30_000, () => `blocked recorded\n${controller.tail()}`);
    const all = await listOutputs(kc, ns);
    expect(all.map((o) => o.spec.source.name).sort()).toEqual(['big', 'blocked']);
    expect(all.find((o) => o.spec.source.name === 'big')!.status!.files).toBe(60);
  });

  it('resumes after its watch is cut and after the API server is unreachable, catching up on what happened meanwhile', async () => {
    const ns = await freshNamespace(kc, 'fault-watch');
    const { api, start } = await proxied();
    const a = await writeDataset(s3, bucket, prefix(), { files: 1, rowsPerFile: 3 });
    const b = await writeDataset(s3, bucket, prefix(), { files: 1, rowsPerFile: 4 });
    const c = await writeDataset(s3, bucket, prefix(), { files: 1, rowsPerFile: 5 });
    await createJob(kc, ns, 'cut', a.uri);
    const controller = await start(ns, 'c-0');
    await eventually(async () => ((await controller.get('/readyz')).status === 200 ? true : undefined), 20_000, 'ready');
    api.cut();
    await setJobState(kc, ns, 'cut', 'COMPLETED');
    await eventually(recorded(ns, 'cut'), 20_000, () => `recorded after a cut watch\n${controller.tail()}`);
    expect(await controller.metric('orchard_watch_restarts_total', { reason: 'error' })).toBeGreaterThanOrEqual(1);

    api.takeDown();
    const downAt = Date.now();
    await createJob(kc, ns, 'while-down', b.uri);
    await setJobState(kc, ns, 'while-down', 'COMPLETED');
    await createJob(kc, ns, 'gone', c.uri);
    await setJobState(kc, ns, 'gone', 'COMPLETED');
    await deleteJob(kc, ns, 'gone');
    // Shorter than the renew deadline (10 s): the leader keeps its lease through the outage.
    await new Promise((r) => setTimeout(r, 6_000));
    const refused = api.refused;
    api.bringUp();
    await eventually(recorded(ns, 'while-down'), 30_000, () => `caught up\n${controller.tail()}`);
    // What bounds the load on a down API server is each watch's backoff: doubling, from its initial delay.
    const retries = controller.logs.filter((l) => Date.parse(String(l.time)) >= downAt && (l.msg === 'list failed; retrying' || l.msg === 'watch failed; resuming after backoff'));
    expect(retries.length, controller.tail()).toBeGreaterThan(0);
    for (const path of new Set(retries.map((l) => String(l.path)))) {
      const delays = retries.filter((l) => l.path === path).map((l) => l.retryInMs as number);
      expect(delays, path).toEqual(delays.map((_, i) => Math.min(30_000, delays[0]! * 2 ** i)));
    }
    process.stdout.write(`API server down: ${refused} connections refused\n`);
    expect(await outputsOf(kc, ns, 'gone')).toBeUndefined();
    expect(controller.has('output status written', (l) => String(l.job).endsWith('/gone'))).toBe(false);
    expect(controller.running).toBe(true);
  });

  it('resumes after its API server is killed and restarted, catching up on what happened meanwhile', async () => {
    const ns = await freshNamespace(kc, 'fault-restart');
    const replica = apiServerReplica(stack(), await freePort());
    replicas.push(replica);
    await replica.start();
    const { start } = await proxied(Number(new URL(replica.url).port));
    const a = await writeDataset(s3, bucket, prefix(), { files: 1, rowsPerFile: 3 });
    const b = await writeDataset(s3, bucket, prefix(), { files: 1, rowsPerFile: 4 });
    await createJob(kc, ns, 'before', a.uri);
    const controller = await start(ns, 'c-0');
    await eventually(async () => ((await outputsOf(kc, ns, 'before'))?.[0]?.status?.phase === 'Pending' ? true : undefined), 20_000, 'before is Pending');
    await replica.stop('SIGKILL');
    // Meanwhile, through the stack's own API server:
    await setJobState(kc, ns, 'before', 'COMPLETED');
    await createJob(kc, ns, 'during', b.uri);
    await setJobState(kc, ns, 'during', 'COMPLETED');
    await createJob(kc, ns, 'gone', b.uri);
    await deleteJob(kc, ns, 'gone');
    await replica.start();
    await eventually(recorded(ns, 'before'), 30_000, () => `before recorded after the restart\n${controller.tail()}`);
    await eventually(recorded(ns, 'during'), 30_000, () => `during recorded after the restart\n${controller.tail()}`);
    expect(await outputsOf(kc, ns, 'gone')).toBeUndefined();
    expect(controller.running).toBe(true);
  });

  it('catches up on a cold start: created, changed and deleted jobs end right', async () => {
    const ns = await freshNamespace(kc, 'fault-cold');
    const { start } = await proxied();
    const a = await writeDataset(s3, bucket, prefix(), { files: 1, rowsPerFile: 3 });
    const b = await writeDataset(s3, bucket, prefix(), { files: 2, rowsPerFile: 3 });
    await createJob(kc, ns, 'done', a.uri);
    await setJobState(kc, ns, 'done', 'COMPLETED');
    await createJob(kc, ns, 'changed', b.uri);
    await setJobState(kc, ns, 'changed', 'RUNNING');
    await setJobState(kc, ns, 'changed', 'FAILED', { errorMessage: 'OOMKilled' });
    await createJob(kc, ns, 'deleted', b.uri);
    await setJobState(kc, ns, 'deleted', 'COMPLETED');
    await deleteJob(kc, ns, 'deleted');
    const controller = await start(ns, 'c-0');
    await eventually(recorded(ns, 'done'), 20_000, () => `done recorded\n${controller.tail()}`);
    await eventually(async () => ((await outputsOf(kc, ns, 'changed'))?.[0]?.status?.phase === 'Failed' ? true : undefined), 20_000, 'changed is Failed');
    expect(await outputsOf(kc, ns, 'deleted')).toBeUndefined();
    expect((await listOutputs(kc, ns)).length).toBe(2);
  });

  it('lets only the leader write; after a SIGTERM and then a SIGKILL of the leader, another replica leads and records', async () => {
    const ns = await freshNamespace(kc, 'fault-leader');
    const { start } = await proxied();
    const replicas = [await start(ns, 'r-0'), await start(ns, 'r-1'), await start(ns, 'r-2')];
    const [first] = await eventually(async () => ((await leaders(replicas)).length === 1 ? leaders(replicas) : undefined), 20_000, 'one leader');
    const datasets = await Promise.all([0, 1, 2, 3].map(() => writeDataset(s3, bucket, prefix(), { files: 1, rowsPerFile: 2 })));
    for (const [i, d] of datasets.entries()) {
      await createJob(kc, ns, `job-${i}`, d.uri);
      await setJobState(kc, ns, `job-${i}`, 'COMPLETED');
    }
    for (const i of [0, 1, 2, 3]) await eventually(recorded(ns, `job-${i}`), 20_000, `job-${i} recorded`);
    for (const r of replicas.filter((x) => x !== first)) {
      expect(await r.metric('orchard_reconcile_total')).toBe(0);
      expect(r.has('output status written')).toBe(false);
    }

    let t0 = Date.now();
    expect(await first!.stop('SIGTERM')).toBe(0);
    const rest = replicas.filter((x) => x !== first);
    const [second] = await eventually(async () => ((await leaders(rest)).length === 1 ? leaders(rest) : undefined), 10_000, 'a leader after SIGTERM');
    const handover = Date.now() - t0;

    t0 = Date.now();
    await second!.stop('SIGKILL');
    const last = rest.filter((x) => x !== second);
    await eventually(async () => ((await leaders(last)).length === 1 ? true : undefined), 30_000, 'a leader after SIGKILL');
    const takeover = Date.now() - t0;
    const d = await writeDataset(s3, bucket, prefix(), { files: 1, rowsPerFile: 2 });
    await createJob(kc, ns, 'after', d.uri);
    await setJobState(kc, ns, 'after', 'COMPLETED');
    await eventually(recorded(ns, 'after'), 20_000, 'recorded by the third leader');
    process.stdout.write(`leader handover: SIGTERM ${handover} ms, SIGKILL ${takeover} ms\n`);
  });
});
