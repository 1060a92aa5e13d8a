import type { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { type StageConfig } from '../../../cdk8s/stages.ts';
import { LEASE_NAME } from '../../../src/api/controller.ts';
import { sparkApplicationsPath, type SparkApplicationObject } from '../../../src/api/spark-application.ts';
import { gauge, readDriver } from '../../../src/dev/progress.ts';
import { waitForJob } from '../../../src/jobs/wait.ts';
import { applyAll } from '../../../src/kube/apply.ts';
import { kubeRequest } from '../../../src/kube/raw.ts';
import { createLogger } from '../../../src/log.ts';
import { IMAGES_GAUGE } from '../../../src/spark/application.ts';
import { expectEachImageOnce } from '../../support/dataset-column.ts';
import { eventually } from '../../support/kube.ts';
import { listOutputs } from '../../support/outputs.ts';
import { devStage, stageManifests, withSharedNode } from '../../support/node-stage.ts';

const log = createLogger({ component: 'node-faults-test' });
/** A job here starts a driver and two executor JVMs on two shared cores: minutes, not seconds. */
const JOB_TIMEOUT_MS = 900_000;

async function apply(kc: KubeConfig, stage: StageConfig): Promise<void> {
  await applyAll(kc, stageManifests(stage));
}

async function list<T>(kc: KubeConfig, path: string): Promise<T[]> {
  const response = await kubeRequest(kc, 'GET', path);
  expect(response.status, response.body).toBe(200);
  return (JSON.parse(response.body) as { items: T[] }).items;
}

interface Pod {
  metadata: { name: string; deletionTimestamp?: string };
  status: { phase: string };
}

const podsOf = (kc: KubeConfig, namespace: string, selector: string) => list<Pod>(kc, `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(selector)}`);

async function deletePod(kc: KubeConfig, namespace: string, name: string): Promise<void> {
  const response = await kubeRequest(kc, 'DELETE', `/api/v1/namespaces/${namespace}/pods/${name}`, { gracePeriodSeconds: 0 });
  expect(response.status, response.body).toBe(200);
}

/** The job's own count of images inferred, read from its driver's metrics, once the driver serves them. */
async function imagesInferred(kc: KubeConfig, namespace: string, name: string): Promise<number> {
  const response = await kubeRequest(kc, 'GET', `${sparkApplicationsPath(namespace)}/${name}`);
  const address = response.status === 200 ? (JSON.parse(response.body) as SparkApplicationObject).status?.driverInfo?.webUIAddress : undefined;
  const snapshot = address ? await readDriver(address) : undefined;
  return gauge(snapshot?.metrics, IMAGES_GAUGE) ?? 0;
}

/**
 * What goes wrong on a real cluster, on a real node: pods die, jobs are deleted while they run,
 * the controller is restarted mid-record. Each test runs the dev stage's SparkApplication as the
 * real operator runs it, and checks the dataset and its record afterwards.
 */
describe('faults on the local Kubernetes node', () => {
  const node = withSharedNode(log);

  it('replaces an executor pod killed during inference, and the dataset still holds every image exactly once', async () => {
    const images = 600;
    const stage = devStage(node.state, { name: 'kill-executor', limit: images });
    await apply(node.kc, stage);
    const ns = stage.namespace;
    const selector = 'spark-role=executor,sparkoperator.k8s.io/app-name=kill-executor';
    // Kill one once inference has produced something, so that its tasks are lost mid-way.
    await eventually(async () => ((await imagesInferred(node.kc, ns, 'kill-executor')) > 0 ? true : undefined), JOB_TIMEOUT_MS, 'inference under way');
    const before = (await podsOf(node.kc, ns, selector)).filter((p) => p.status.phase === 'Running');
    expect(before.length).toBeGreaterThan(0);
    await deletePod(node.kc, ns, before[0]!.metadata.name);
    log.info('killed an executor pod', { pod: before[0]!.metadata.name });
    // Spark's Kubernetes allocator asks for a new executor to keep the requested count.
    const replacement = await eventually(async () => (await podsOf(node.kc, ns, selector)).find((p) => !before.some((b) => b.metadata.name === p.metadata.name)), JOB_TIMEOUT_MS, 'a replacement executor pod');
    log.info('replacement executor', { pod: replacement.metadata.name });

    const outcome = await waitForJob(node.kc, ns, 'kill-executor', { timeoutMs: JOB_TIMEOUT_MS });
    expect(outcome.job.status?.applicationState?.state).toBe('COMPLETED');
    expect(outcome.outputs.map((o) => [o.status?.phase, o.status?.rows])).toEqual([['Recorded', images]]);
    await expectEachImageOnce(node.state.s3, outcome.outputs[0]!.spec.uri, images);
  }, 2 * JOB_TIMEOUT_MS);

  it('removes the pods of a SparkApplication deleted while it runs, and its record goes with it', async () => {
    const stage = devStage(node.state, { name: 'deleted-while-running', limit: 600 });
    await apply(node.kc, stage);
    const ns = stage.namespace;
    const selector = 'sparkoperator.k8s.io/app-name=deleted-while-running';
    await eventually(async () => ((await podsOf(node.kc, ns, `${selector},spark-role=executor`)).some((p) => p.status.phase === 'Running') ? true : undefined), JOB_TIMEOUT_MS, 'executors running');
    await eventually(async () => ((await listOutputs(node.kc, ns)).some((o) => o.metadata.labels?.['orchard.fruits.dev/job'] === 'deleted-while-running') ? true : undefined), 120_000, 'the Pending record');
    const response = await kubeRequest(node.kc, 'DELETE', `${sparkApplicationsPath(ns)}/deleted-while-running`);
    expect(response.status, response.body).toBe(200);
    // Driver and executors are owned by the application (the executors through the driver): the garbage collector removes them.
    await eventually(async () => ((await podsOf(node.kc, ns, selector)).length === 0 ? true : undefined), 180_000, 'every pod of the deleted application gone');
    // The record is owned by the job too: a dataset that was never written leaves no record behind.
    await eventually(async () => ((await listOutputs(node.kc, ns)).some((o) => o.metadata.labels?.['orchard.fruits.dev/job'] === 'deleted-while-running') ? undefined : true), 120_000, 'the record gone with its job');
  }, 2 * JOB_TIMEOUT_MS);

  it('records exactly once when the leading controller pod is deleted as the job completes', async () => {
    const stage = devStage(node.state, { name: 'controller-killed', limit: 200 });
    await apply(node.kc, stage);
    const ns = stage.namespace;
    await eventually(async () => {
      const response = await kubeRequest(node.kc, 'GET', `${sparkApplicationsPath(ns)}/controller-killed`);
      const app = JSON.parse(response.body) as SparkApplicationObject;
      return ['SUCCEEDING', 'COMPLETED'].includes(app.status?.applicationState?.state ?? '') ? true : undefined;
    }, JOB_TIMEOUT_MS, 'the job finishing');
    // The leader is the holder of the Lease: delete it while it reads the output.
    const lease = await kubeRequest(node.kc, 'GET', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${LEASE_NAME}`);
    const holder = (JSON.parse(lease.body) as { spec: { holderIdentity: string } }).spec.holderIdentity;
    const leader = (await podsOf(node.kc, ns, 'app.kubernetes.io/name=orchard-controller')).find((p) => holder.startsWith(p.metadata.name));
    expect(leader, `a controller pod holds the Lease (${holder})`).toBeDefined();
    await deletePod(node.kc, ns, leader!.metadata.name);
    log.info('deleted the leading controller pod', { pod: leader!.metadata.name });

    const outcome = await waitForJob(node.kc, ns, 'controller-killed', { timeoutMs: JOB_TIMEOUT_MS });
    expect(outcome.outputs.map((o) => [o.status?.phase, o.status?.rows])).toEqual([['Recorded', 200]]);
    const records = (await listOutputs(node.kc, ns)).filter((o) => o.metadata.labels?.['orchard.fruits.dev/job'] === 'controller-killed');
    expect(records).toHaveLength(1);
    const events = await list<{ reason: string; involvedObject: { name: string }; count?: number; series?: { count: number } }>(node.kc, `/api/v1/namespaces/${ns}/events?fieldSelector=${encodeURIComponent('reason=OutputRecorded,involvedObject.name=controller-killed')}`);
    expect(events.map((e) => e.series?.count ?? e.count ?? 1)).toEqual([1]);
    // A new pod replaced the deleted one: the Deployment is back to its replicas.
    await eventually(async () => ((await podsOf(node.kc, ns, 'app.kubernetes.io/name=orchard-controller')).filter((p) => p.status.phase === 'Running' && !p.metadata.deletionTimestamp).length === 2 ? true : undefined), 180_000, 'two controller pods running');
  }, 2 * JOB_TIMEOUT_MS);
});
