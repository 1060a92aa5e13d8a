import { readdir, readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { SPARK_SERVICE_ACCOUNT } from '../../../cdk8s/constructs/spark-job-identity.ts';
import { stageFeaturizeProps } from '../../../cdk8s/stages.ts';
import { JOB_LABEL } from '../../../src/api/parquet-output.ts';
import { RUN_PLACEHOLDER } from '../../../src/api/run-output.ts';
import { sparkApplicationsPath, type SparkApplicationObject } from '../../../src/api/spark-application.ts';
import { applyGc, listRecords, readPrefixes } from '../../../src/jobs/gc.ts';
import { planGc } from '../../../src/jobs/gc-plan.ts';
import { waitForJob } from '../../../src/jobs/wait.ts';
import { applyAll } from '../../../src/kube/apply.ts';
import { kubeRequest } from '../../../src/kube/raw.ts';
import { createLogger } from '../../../src/log.ts';
import { s3Client } from '../../../src/s3/client.ts';
import { OutputReads } from '../../../src/s3/output-reads.ts';
import { sparkApplicationFor } from '../../../src/spark/application.ts';
import { expectEachImageOnce } from '../../support/dataset-column.ts';
import { eventually } from '../../support/kube.ts';
import { listOutputs } from '../../support/outputs.ts';
import { devStage, getOk, stageManifests, withSharedNode } from '../../support/node-stage.ts';

const log = createLogger({ component: 'node-growing-test' });
/** A job here starts a driver and two executor JVMs on two shared cores: minutes, not seconds. */
const JOB_TIMEOUT_MS = 900_000;
/** Day 0's images, then day 1's: the first N of the sample by path, so day 1 adds the next 100. */
const DAY0 = 200;
const DAY1 = 300;
const ROOT = 'features/growing';

interface DriverPod {
  status: { containerStatuses?: { name: string; containerID?: string }[] };
}

/**
 * SIGKILL every process of a container from the host (the node tests run as root beside the
 * kubelet): immediate, as a lost node or an OOM kill is. Deleting the pod would leave the kubelet
 * a second or more, in which a small write can finish its commit.
 */
async function killContainer(containerId: string): Promise<number[]> {
  const killed: number[] = [];
  for (const pid of (await readdir('/proc')).filter((entry) => /^\d+$/.test(entry))) {
    const cgroup = await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => '');
    if (!cgroup.includes(containerId)) continue;
    try {
      process.kill(Number(pid), 'SIGKILL');
      killed.push(Number(pid));
    } catch {
      // Gone between the listing and the kill.
    }
  }
  return killed;
}

/** The first key under prefix that the S3A magic committer's job setup creates (`__magic*`), or undefined. */
async function magicPath(reads: OutputReads, prefix: string): Promise<string | undefined> {
  return (await reads.list(prefix)).find((o) => o.key.includes('/__magic'))?.key;
}

/**
 * Growing data on the real node: one-shot incremental runs writing under one root, as a nightly
 * job's do, with a run killed in the middle of its write between two complete ones.
 */
describe('incremental runs on the local Kubernetes node', () => {
  const node = withSharedNode(log);

  it('after a run killed mid-write, the next run is incremental against the last complete dataset, and gc removes what the killed run left', async () => {
    const stage = devStage(node.state, { name: 'growing', limit: DAY0 });
    const ns = stage.namespace;
    // The platform (namespace, identities, controller) as the stage applies it; the runs are this test's own.
    await applyAll(node.kc, stageManifests(stage).filter((m) => m.kind !== 'SparkApplication'));
    const base = stageFeaturizeProps(stage, SPARK_SERVICE_ACCOUNT);
    const props = (name: string, limit: number) => ({ ...base, name, limit, output: `s3a://${stage.bucket}/${ROOT}/${RUN_PLACEHOLDER}`, incremental: true, retries: 0 });
    const submit = async (name: string, limit: number) => applyAll(node.kc, [sparkApplicationFor(props(name, limit))]);
    const outputOf = async (name: string) => (await listOutputs(node.kc, ns)).filter((o) => o.metadata.labels?.[JOB_LABEL] === name);

    await submit('growing-day0', DAY0);
    const day0 = await waitForJob(node.kc, ns, 'growing-day0', { timeoutMs: JOB_TIMEOUT_MS });
    expect(day0.outputs.map((o) => [o.status?.phase, o.status?.rows, o.status?.lineage?.mode])).toEqual([['Recorded', DAY0, 'full']]);
    const day0Uri = day0.outputs[0]!.spec.uri;

    // Day 1, killed in the middle of its write: written in 8 files, 4 waves of tasks on the 2
    // executors, so once the first wave's files wait as pending uploads the commit is still waves away.
    await applyAll(node.kc, [sparkApplicationFor({ ...props('growing-killed', DAY1), partitions: 8 })]);
    const s3 = s3Client(node.state.s3);
    try {
      const reads = new OutputReads(s3, `s3a://${stage.bucket}/${ROOT}/growing-killed/`, stage.bucket, undefined);
      const pending = await eventually(async () => (await reads.uploads(`${ROOT}/growing-killed/`)).at(0), JOB_TIMEOUT_MS, 'the killed run\'s first file uploaded, not committed');
      const app = await getOk<SparkApplicationObject>(node.kc, `${sparkApplicationsPath(ns)}/growing-killed`);
      const driver = await getOk<DriverPod>(node.kc, `/api/v1/namespaces/${ns}/pods/${app.status!.driverInfo!.podName}`);
      const containerId = driver.status.containerStatuses?.find((c) => c.name === 'spark-kubernetes-driver')?.containerID?.replace(/^\w+:\/\//, '');
      expect(containerId, 'the driver container\'s id').toBeTruthy();
      const killed = await killContainer(containerId!);
      log.info('killed the driver mid-write', { pending: pending.key, pids: killed });
      expect(killed.length).toBeGreaterThan(0);

      const killedRun = await waitForJob(node.kc, ns, 'growing-killed', { timeoutMs: JOB_TIMEOUT_MS });
      expect(killedRun.job.status?.applicationState?.state).toBe('FAILED');
      expect(killedRun.outputs.map((o) => o.status?.phase)).toEqual(['Failed']);
      // The record names what the write left behind, which only orchard gc removes.
      const left = await eventually(async () => {
        const [record] = await outputOf('growing-killed');
        const leftovers = record?.status?.leftovers;
        return leftovers && leftovers.pendingUploads > 0 && leftovers.partialObjects > 0 ? leftovers : undefined;
      }, 180_000, 'the killed run\'s leftovers on its record');
      log.info('leftovers of the killed run', { leftovers: left });

      // The next run starts from day 0, the newest complete dataset, not from the killed run's folder.
      await submit('growing-day1', DAY1);
      const day1 = await waitForJob(node.kc, ns, 'growing-day1', { timeoutMs: JOB_TIMEOUT_MS });
      expect(day1.outputs.map((o) => [o.status?.phase, o.status?.rows])).toEqual([['Recorded', DAY1]]);
      expect(day1.outputs[0]!.status?.lineage).toMatchObject({ mode: 'incremental', images: { reused: DAY0, featurized: DAY1 - DAY0, removed: 0 } });
      expect(day1.outputs[0]!.status?.lineage?.parent?.replace(/\/$/, '')).toBe(day0Uri.replace(/\/$/, ''));
      await expectEachImageOnce(node.state.s3, day1.outputs[0]!.spec.uri, DAY1);

      // gc, as `orchard gc --min-age 0 --yes -l ...` runs it: the killed run's leftovers go, both datasets stay.
      const selector = `${JOB_LABEL} in (growing-day0,growing-killed,growing-day1)`;
      const records = await listRecords(node.kc, ns, selector);
      const plan = planGc(records, await readPrefixes(s3, records), { minUploadAgeMs: 0 }, new Date());
      log.info('gc plan', { uploads: plan.uploads.length, partialObjects: plan.partialObjects.length, datasets: plan.datasets.length });
      expect([plan.uploads.length, plan.partialObjects.length]).toEqual([left.pendingUploads, left.partialObjects]);
      expect(plan.datasets).toEqual([]);
      await applyGc(s3, node.kc, plan);
      expect(await reads.uploads(`${ROOT}/growing-killed/`)).toEqual([]);
      expect(await magicPath(reads, `${ROOT}/growing-killed/`)).toBeUndefined();
      await expectEachImageOnce(node.state.s3, day0Uri, DAY0);
      await expectEachImageOnce(node.state.s3, day1.outputs[0]!.spec.uri, DAY1);
    } finally {
      s3.destroy();
      for (const name of ['growing-day0', 'growing-killed', 'growing-day1']) await kubeRequest(node.kc, 'DELETE', `${sparkApplicationsPath(ns)}/${name}`);
    }
  }, 4 * JOB_TIMEOUT_MS);
});
