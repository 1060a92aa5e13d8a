import { Resolver } from 'node:dns/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffMachineState, machineState, type MachineState } from '../../../src/dev/node/machine.ts';
import { NODE_NETWORK } from '../../../src/dev/node/network.ts';
import { NODE_OWNER_FILE, readNodeState } from '../../../src/dev/node/node.ts';
import { nodeBinaries } from '../../../src/dev/node/binaries.ts';
import { ensureNodeImages } from '../../../src/dev/node/images.ts';
import { installSparkOperator, SPARK_OPERATOR_NAMESPACE } from '../../../src/dev/node/operator.ts';
import { helmPath } from '../../../src/dev/helm.ts';
import { down, up, type StackState } from '../../../src/dev/stack.ts';
import { requireTool } from '../../../src/dev/tools.ts';
import { kubeRequest } from '../../../src/kube/raw.ts';
import { createLogger } from '../../../src/log.ts';
import { REPO_ROOT, SHARED_DIR } from '../../../src/paths.ts';
import { type StageConfig } from '../../../cdk8s/stages.ts';
import { waitForJob } from '../../../src/jobs/wait.ts';
import { eventually } from '../../support/kube.ts';
import { applyAll } from '../../../src/kube/apply.ts';
import { s3Client } from '../../../src/s3/client.ts';
import { uploadTree } from '../../../src/s3/upload.ts';
import { SPARK_CONTAINER, sparkApplicationsPath } from '../../../src/api/spark-application.ts';
import { EMR_SPARK_UID } from '../../../src/spark/application.ts';
import { devStage, stageManifests } from '../../support/node-stage.ts';
import { listOutputs } from '../../support/outputs.ts';
import { JOB_LABEL } from '../../../src/api/parquet-output.ts';

const log = createLogger({ component: 'node-test' });

/** Images per test job: enough for every task and both executors to get work, few enough for a busy 2-core machine. */
const SMALL_RUN = 120;

/** A job here starts a driver and two executor JVMs on two shared cores: minutes, not seconds. */
const JOB_TIMEOUT_MS = 900_000;

interface PodObject {
  metadata: { name: string };
  spec: { securityContext?: Record<string, unknown>; containers: { name: string; securityContext?: Record<string, unknown> }[] };
  status: { containerStatuses?: { name: string; state: { terminated?: { exitCode: number; message?: string } } }[] };
}

/** The restricted profile as orchard's pod templates give it, read back from a pod the operator made. */
function expectRestricted(pod: PodObject, container: string): void {
  expect(pod.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: EMR_SPARK_UID, seccompProfile: { type: 'RuntimeDefault' } });
  expect(pod.spec.containers.find((c) => c.name === container)?.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
}

/**
 * (Re)installs the operator from its chart with the webhook on or off; the binaries and images were
 * built by setup. A webhook's pods can be ready before the API server reaches them through its
 * Service: wait until a dry-run create goes through it.
 */
async function reinstallOperator(kc: KubeConfig, kubeconfig: string, stage: StageConfig, webhook: boolean): Promise<void> {
  const binaries = nodeBinaries();
  const images = await ensureNodeImages(binaries, log);
  await installSparkOperator({ helm: helmPath(), kubeconfig, source: binaries.sparkOperatorSource, image: images.sparkOperator, jobNamespaces: [''], webhook, log });
  if (!webhook) return;
  const probe = stageManifests(stage).find((m) => m.kind === 'SparkApplication')!;
  // Any answer but the API server's 500 ("failed calling webhook") means the webhook was reached.
  await eventually(async () => ((await kubeRequest(kc, 'POST', `${sparkApplicationsPath(stage.namespace)}?dryRun=All`, probe)).status < 500 ? true : undefined), 120_000, 'the operator webhook answering');
}

function pods(kc: KubeConfig, namespace: string, selector: string): Promise<{ items: PodObject[] }> {
  return get(kc, `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(selector)}`);
}

const stateDir = join(REPO_ROOT, '.orchard', 'test-node');

async function get<T>(kc: KubeConfig, path: string): Promise<T> {
  const response = await kubeRequest(kc, 'GET', path);
  expect(response.status, response.body).toBe(200);
  return JSON.parse(response.body) as T;
}

/**
 * A real node on this machine: `up` brings it up, `down` leaves the machine as `up` found it.
 * The node's own parts are proven by what they serve: a Ready node, a scheduled CoreDNS pod that
 * answers cluster names over the pod network, Services routed by kube-proxy.
 */
describe('the local Kubernetes node', () => {
  let before: MachineState;
  let state: StackState | undefined;
  let kc: KubeConfig;

  beforeAll(async () => {
    for (const tool of ['node', 'node images', 'images', 'helm'] as const) requireTool(tool);
    await down({ stateDir, log });
    before = machineState();
    const result = await up({ stateDir, log, node: true });
    state = result.state;
    const client = s3Client({ endpoint: state.s3.endpoint, region: state.s3.region, accessKeyId: state.s3.accessKeyId, secretAccessKey: state.s3.secretAccessKey });
    await uploadTree(client, join(SHARED_DIR, 'data', 'fruits-360', 'Training'), state.s3.bucket, 'fruits-360/Training');
    client.destroy();
    log.info('node test stack up', { timings: result.timings });
    kc = new KubeConfig();
    kc.loadFromFile(state.kubeconfig);
  }, 300_000);

  afterAll(async () => {
    if (state) await down({ stateDir, log });
  }, 120_000);

  it('registers one Ready node at the bridge address, with the pinned kubelet', async () => {
    const nodes = await get<{ items: { metadata: { name: string }; status: { addresses: { type: string; address: string }[]; conditions: { type: string; status: string }[]; nodeInfo: { kubeletVersion: string; containerRuntimeVersion: string } } }[] }>(kc, '/api/v1/nodes');
    expect(nodes.items).toHaveLength(1);
    const [node] = nodes.items;
    expect(node!.status.addresses).toContainEqual({ type: 'InternalIP', address: NODE_NETWORK.address });
    expect(node!.status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(node!.status.nodeInfo.kubeletVersion).toBe(state!.versions.kubernetes);
    expect(node!.status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\/1\.6\./);
  });

  it('serves cluster DNS from a pod on the pod network: Service names resolve to their ClusterIPs', async () => {
    const pods = await get<{ items: { status: { podIP?: string; phase: string } }[] }>(kc, '/api/v1/namespaces/kube-system/pods?labelSelector=k8s-app%3Dkube-dns');
    const podIp = pods.items[0]?.status.podIP;
    expect(podIp).toMatch(/^10\.244\.0\.\d+$/);
    const resolver = new Resolver({ timeout: 2000, tries: 3 });
    resolver.setServers([podIp!]);
    expect(await resolver.resolve4(`kubernetes.default.svc.${NODE_NETWORK.clusterDomain}`)).toEqual([NODE_NETWORK.kubernetesServiceIp]);
    expect(await resolver.resolve4(`kube-dns.kube-system.svc.${NODE_NETWORK.clusterDomain}`)).toEqual([NODE_NETWORK.dnsServiceIp]);
    // No `forward`: a name outside the cluster gets no answer from off the machine.
    await expect(resolver.resolve4('example.com')).rejects.toThrow();
  });

  it('runs the dev stage on the real spark-operator: a driver and two executor pods in a restricted namespace, recorded by the controller pod', async () => {
    const stage = devStage(state!, { name: 'node-small', limit: SMALL_RUN });
    await applyAll(kc, stageManifests(stage));
    const namespace = stage.namespace;
    const executors = new Set<string>();
    // Executor pods go when the job ends: note them while it runs.
    const watcher = setInterval(() => {
      pods(kc, namespace, 'spark-role=executor').then((found) => found.items.forEach((pod) => executors.add(pod.metadata.name)), () => undefined);
    }, 2_000);
    const outcome = await waitForJob(kc, namespace, 'node-small', { timeoutMs: JOB_TIMEOUT_MS }).finally(() => clearInterval(watcher));
    expect(outcome.job.status?.applicationState?.state).toBe('COMPLETED');
    expect(outcome.outputs.map((o) => [o.status?.phase, o.status?.rows])).toEqual([['Recorded', SMALL_RUN]]);
    // The record was written by the controller's pod, not by this process.
    const recorded = (await get<{ items: { reportingInstance?: string }[] }>(kc, `/api/v1/namespaces/${namespace}/events?fieldSelector=reason%3DOutputRecorded`)).items;
    expect(recorded.map((event) => event.reportingInstance)).toEqual([expect.stringMatching(/^orchard-controller-/)]);
    const namespaceLabels = (await get<{ metadata: { labels: Record<string, string> } }>(kc, `/api/v1/namespaces/${namespace}`)).metadata.labels;
    expect(namespaceLabels['pod-security.kubernetes.io/enforce']).toBe('restricted');
    const driver = await get<PodObject>(kc, `/api/v1/namespaces/${namespace}/pods/${outcome.job.status?.driverInfo?.podName}`);
    log.info('driver pod as the API server holds it', { pod: driver.metadata.name, podSecurityContext: driver.spec.securityContext, securityContext: driver.spec.containers[0]!.securityContext });
    expectRestricted(driver, SPARK_CONTAINER.driver);
    expect(executors.size).toBeGreaterThanOrEqual(2);
  }, JOB_TIMEOUT_MS + 60_000);

  it('runs the same SparkApplication with the operator\'s webhook off, as EMR on EKS installs it: the pod templates carry the restricted profile', async () => {
    const stage = devStage(state!, { name: 'node-no-webhook', limit: 40 });
    await reinstallOperator(kc, state!.kubeconfig, stage, false);
    try {
      const webhooks = await get<{ items: unknown[] }>(kc, `/apis/apps/v1/namespaces/${SPARK_OPERATOR_NAMESPACE}/deployments?labelSelector=${encodeURIComponent('app.kubernetes.io/component=webhook')}`);
      expect(webhooks.items).toEqual([]);
      await applyAll(kc, stageManifests(stage));
      const executors: PodObject[] = [];
      const watcher = setInterval(() => {
        pods(kc, stage.namespace, 'spark-role=executor,sparkoperator.k8s.io/app-name=node-no-webhook').then((found) => found.items.forEach((pod) => executors.push(pod)), () => undefined);
      }, 2_000);
      const outcome = await waitForJob(kc, stage.namespace, 'node-no-webhook', { timeoutMs: JOB_TIMEOUT_MS }).finally(() => clearInterval(watcher));
      expect(outcome.job.status?.applicationState?.state).toBe('COMPLETED');
      expect(outcome.outputs.map((o) => [o.status?.phase, o.status?.rows])).toEqual([['Recorded', 40]]);
      expectRestricted(await get<PodObject>(kc, `/api/v1/namespaces/${stage.namespace}/pods/${outcome.job.status?.driverInfo?.podName}`), SPARK_CONTAINER.driver);
      expect(executors.length).toBeGreaterThan(0);
      expectRestricted(executors[0]!, SPARK_CONTAINER.executor);
    } finally {
      await reinstallOperator(kc, state!.kubeconfig, stage, true);
    }
  }, JOB_TIMEOUT_MS + 180_000);

  it('ends a SparkApplication whose input holds no images FAILED, and records the output Failed', async () => {
    const stage = devStage(state!, { name: 'node-empty', limit: SMALL_RUN, inputPrefix: 'no-such-prefix' });
    await applyAll(kc, stageManifests(stage));
    const outcome = await waitForJob(kc, stage.namespace, 'node-empty', { timeoutMs: JOB_TIMEOUT_MS });
    expect(outcome.job.status?.applicationState?.state).toBe('FAILED');
    expect(outcome.job.status?.applicationState?.errorMessage).toMatch(/driver container failed with ExitCode: [1-9]/);
    expect(outcome.outputs.map((o) => o.status?.phase)).toEqual(['Failed']);
    // The operator keeps only the exit code; the job's own error is the driver's termination message.
    const driver = await get<PodObject>(kc, `/api/v1/namespaces/${stage.namespace}/pods/${outcome.job.status?.driverInfo?.podName}`);
    const terminated = driver.status.containerStatuses?.find((c) => c.name === SPARK_CONTAINER.driver)?.state.terminated;
    log.info('failed driver', { terminated });
    expect(terminated?.message).toMatch(/"event": "failed".*no-such-prefix/);
    // The controller reads it into the record, where `kubectl describe pqo` shows it.
    const failed = outcome.outputs[0]!.status?.conditions?.find((c) => c.type === 'Complete');
    expect(failed?.message).toMatch(/ExitCode: [1-9].*; the job said: .*no-such-prefix/);
  }, JOB_TIMEOUT_MS + 60_000);

  it('runs a ScheduledSparkApplication every minute: both runs are recorded, and the second reuses every row of the first', async () => {
    const images = 60;
    const stage = devStage(state!, { name: 'every-minute', limit: images, schedule: { cron: '* * * * *' } });
    await applyAll(kc, stageManifests(stage));
    const recorded = () => listOutputs(kc, stage.namespace).then((all) => all.filter((o) => o.metadata.labels?.[JOB_LABEL] === 'every-minute' && o.status?.phase === 'Recorded'));
    // Concurrency Forbid: the next minute after the first run ends starts the second.
    const runs = await eventually(async () => ((await recorded()).length >= 2 ? recorded() : undefined), 2 * JOB_TIMEOUT_MS, 'two recorded runs');
    const response = await kubeRequest(kc, 'DELETE', `/apis/sparkoperator.k8s.io/v1beta2/namespaces/${stage.namespace}/scheduledsparkapplications/every-minute`);
    expect(response.status, response.body).toBe(200);
    const [first, second] = runs.sort((a, b) => a.metadata.creationTimestamp!.localeCompare(b.metadata.creationTimestamp!));
    log.info('scheduled runs', { runs: runs.map((o) => ({ uri: o.spec.uri, lineage: o.status?.lineage })) });
    // Each run writes its own folder, named after its SparkApplication.
    expect(first!.spec.uri).not.toBe(second!.spec.uri);
    expect(first!.spec.uri).toMatch(/\/features\/every-minute\/every-minute-\d+\/$/);
    expect(first!.status?.lineage).toMatchObject({ mode: 'full', images: { featurized: images, reused: 0, removed: 0 } });
    expect(second!.status?.lineage).toMatchObject({ mode: 'incremental', images: { reused: images, featurized: 0, removed: 0 } });
    expect(second!.status?.lineage?.parent?.replace(/\/$/, '')).toBe(first!.spec.uri.replace(/\/$/, ''));
    expect(second!.status?.rows).toBe(images);
  }, 3 * JOB_TIMEOUT_MS);

  it('records its host changes in the stack folder and claims the machine while it runs', async () => {
    const node = await readNodeState(stateDir);
    expect(Object.keys(node!.processes).sort()).toEqual(['containerd', 'kube-proxy', 'kube-scheduler', 'kubelet']);
    expect(existsSync(NODE_OWNER_FILE)).toBe(true);
    const second = join(REPO_ROOT, '.orchard', 'test-node-second');
    await expect(up({ stateDir: second, log, node: true })).rejects.toThrow(/already running on this machine, from .*test-node/);
    await down({ stateDir: second, log });
  });

  it('goes down leaving the machine as it found it: processes, interfaces, iptables, sysctls, mounts, cgroups, host folders', async () => {
    const during = machineState();
    expect(during.interfaces).toContain(NODE_NETWORK.bridge);
    expect(during.processes.some((p) => p.startsWith('kubelet'))).toBe(true);
    expect(diffMachineState(before, during).length).toBeGreaterThan(0);
    await down({ stateDir, log });
    state = undefined;
    expect(diffMachineState(before, machineState())).toEqual([]);
  }, 120_000);
});
