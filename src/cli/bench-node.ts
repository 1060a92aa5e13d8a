/**
 * `orchard bench --scale N --node`: after the local-mode runs of the scale bench, the same image set
 * through the real spark-operator on the local node, as the dev stage runs it (a driver pod and two
 * one-core executor pods), with where the time goes outside the job: submission and the driver
 * pod's start, the executors' start and registration, the job itself, and the teardown.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { KubeConfig } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { stageApp } from '../../cdk8s/app.ts';
import { loadStage, validStage } from '../../cdk8s/stages.ts';
import type { Manifest } from '../api/manifest.ts';
import { parseS3Uri } from '../api/s3-uri.ts';
import { KUBELET_CGROUP_ROOT } from '../dev/node/config.ts';
import { down, kubeConfigFor, stackEnv, up } from '../dev/stack.ts';
import { OrchardError } from '../errors.ts';
import { waitForJob } from '../jobs/wait.ts';
import { applyAll } from '../kube/apply.ts';
import { podLog } from '../kube/pod-logs.ts';
import { kubeRequest } from '../kube/raw.ts';
import { createLogger } from '../log.ts';
import { REPO_ROOT } from '../paths.ts';
import { s3Client } from '../s3/client.ts';
import { uploadTree } from '../s3/upload.ts';
import type { Precision } from '../spark/application.ts';

export interface NodeBenchOptions {
  readonly count: number;
  /** The scale image set of `count` images (the local runs read the same one). */
  readonly images: string;
  readonly size: number;
  readonly precision: Precision;
  /** The local-mode report of the same count, to compare with; the node's report goes beside it. */
  readonly localJson: string;
}

interface PodTimes {
  readonly name: string;
  readonly uid: string;
  readonly created: number;
  running?: number;
  /** The pod cgroup's counters at the last sample before the pod went: CPU used, and CFS periods throttled by its limit. */
  cpu?: PodCpu;
}

interface PodCpu {
  readonly cpu_s: number;
  readonly periods: number;
  readonly throttled_periods: number;
  readonly throttled_s: number;
}

interface PodItem {
  metadata: { name: string; uid: string; creationTimestamp: string };
  status: { phase: string; containerStatuses?: { state: { running?: { startedAt: string }; terminated?: { startedAt: string; finishedAt: string } } }[] };
}

function say(text: string): void {
  process.stderr.write(`${text}\n`);
}

const seconds = (ms: number) => Math.round(ms / 100) / 10;

function startedAt(pod: PodItem): number | undefined {
  const state = pod.status.containerStatuses?.[0]?.state;
  const at = state?.running?.startedAt ?? state?.terminated?.startedAt;
  return at ? Date.parse(at) : undefined;
}

/**
 * A pod's cgroup counters, as the node's kubelet lays them out on this machine's cgroup v1 (the
 * cgroupfs driver under KUBELET_CGROUP_ROOT, by QoS class); undefined where they are not found.
 */
function podCpu(uid: string): PodCpu | undefined {
  for (const qos of ['burstable/', 'besteffort/', '']) {
    const dir = `kubepods/${qos}pod${uid}`;
    try {
      const stat = Object.fromEntries(readFileSync(join('/sys/fs/cgroup/cpu', KUBELET_CGROUP_ROOT, dir, 'cpu.stat'), 'utf8').trim().split('\n').map((line) => line.split(' ') as [string, string]));
      const usage = Number(readFileSync(join('/sys/fs/cgroup/cpuacct', KUBELET_CGROUP_ROOT, dir, 'cpuacct.usage'), 'utf8'));
      return { cpu_s: usage / 1e9, periods: Number(stat.nr_periods), throttled_periods: Number(stat.nr_throttled), throttled_s: Number(stat.throttled_time) / 1e9 };
    } catch {
      continue;
    }
  }
  return undefined;
}

/** The machine's CPU seconds, busy and in all, from /proc/stat's first line (USER_HZ ticks). */
function machineCpu(): { busy_s: number; total_s: number } {
  const [user, nice, system, idle, iowait, irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number) as number[];
  const busy = user! + nice! + system! + irq! + softirq! + steal!;
  return { busy_s: busy / 100, total_s: (busy + idle! + iowait!) / 100 };
}

/** CPU seconds used so far by every pod of the node (the kubelet's kubepods cgroup). */
function kubepodsCpu(): number | undefined {
  try {
    return Number(readFileSync(join('/sys/fs/cgroup/cpuacct', KUBELET_CGROUP_ROOT, 'kubepods', 'cpuacct.usage'), 'utf8')) / 1e9;
  } catch {
    return undefined;
  }
}

interface CpuSample {
  readonly t: number;
  readonly busy_s: number;
  readonly total_s: number;
  readonly kubepods_s?: number;
  readonly pods: Record<string, number>;
}

/**
 * Who had the machine's cores while every executor ran (from the last one's start to the first
 * one's end: featurizing, PCA and the write), in cores: the executors, the driver, the node's other
 * pods (controller, operator, DNS), and what runs outside pods (API server, etcd, kubelet,
 * containerd, the S3 server).
 */
function coreShares(samples: readonly CpuSample[], executors: readonly string[], driver: string | undefined): Record<string, number> | undefined {
  const all = samples.filter((s) => executors.every((name) => name in s.pods));
  const [first, last] = [all[0], all[all.length - 1]];
  if (!first || !last || last.t - first.t < 1000 || first.kubepods_s === undefined || last.kubepods_s === undefined) return undefined;
  const wall = (last.t - first.t) / 1000;
  const cores = (s: number) => Math.round((100 * s) / wall) / 100;
  const pod = (name: string) => last.pods[name]! - first.pods[name]!;
  const executorsS = executors.reduce((sum, name) => sum + pod(name), 0);
  const driverS = driver && driver in first.pods && driver in last.pods ? pod(driver) : 0;
  const kubepods = last.kubepods_s - first.kubepods_s;
  const busy = last.busy_s - first.busy_s;
  return {
    window_s: Math.round(wall * 10) / 10,
    machine_cores: Math.round(((last.total_s - first.total_s) / wall) * 10) / 10,
    executors: cores(executorsS),
    driver: cores(driverS),
    other_pods: cores(kubepods - executorsS - driverS),
    outside_pods: cores(busy - kubepods),
    idle: cores(last.total_s - first.total_s - busy),
  };
}

/**
 * Notes every pod of the application as it appears and starts, and the CPU counters of the pods
 * and the machine while it runs: Spark deletes executor pods when the job ends.
 */
function watchPods(kc: KubeConfig, namespace: string, app: string): { pods: Map<string, PodTimes>; samples: CpuSample[]; stop: () => void } {
  const pods = new Map<string, PodTimes>();
  const samples: CpuSample[] = [];
  const timer = setInterval(() => {
    const counters: Record<string, number> = {};
    for (const pod of pods.values()) {
      const cpu = podCpu(pod.uid);
      if (cpu) counters[pod.name] = cpu.cpu_s;
    }
    samples.push({ t: Date.now(), ...machineCpu(), kubepods_s: kubepodsCpu(), pods: counters });
    void kubeRequest(kc, 'GET', `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(`sparkoperator.k8s.io/app-name=${app}`)}`).then(
      (response) => {
        if (response.status !== 200) return;
        for (const pod of (JSON.parse(response.body) as { items: PodItem[] }).items) {
          const seen = pods.get(pod.metadata.name) ?? { name: pod.metadata.name, uid: pod.metadata.uid, created: Date.parse(pod.metadata.creationTimestamp) };
          seen.running ??= startedAt(pod);
          seen.cpu = podCpu(seen.uid) ?? seen.cpu;
          pods.set(pod.metadata.name, seen);
        }
      },
      () => undefined,
    );
  }, 500);
  return { pods, samples, stop: () => clearInterval(timer) };
}

interface LocalRow {
  readonly images: number;
  readonly wall_s: number;
  readonly stages: Record<string, number>;
  readonly images_per_second: number;
  readonly featurizing_images_per_second: number;
}

/** Where the executors' task slots went during featurizing, from the job's own task profile. */
function profileRows(profile: { images: number; infer_s: number; decode_s: number; feed_s: number; emit_s: number; other_s: number; slot_s: number } | undefined): [string, string, string][] {
  if (!profile?.images) return [];
  const perImage = (s: number) => `${((1000 * s) / profile.images).toFixed(1)} ms`;
  const share = (s: number) => `${((100 * s) / profile.slot_s).toFixed(0)} %`;
  return [
    ['  per image: inference (ONNX Runtime)', '-', perImage(profile.infer_s)],
    ['  per image: decode and resize', '-', perImage(profile.decode_s)],
    ['  slot time outside the task loops', '-', share(profile.other_s)],
  ];
}

export async function runNodeBench(options: NodeBenchOptions): Promise<number> {
  const log = createLogger({ component: 'bench-node' });
  const stateDir = join(REPO_ROOT, '.orchard', 'bench-node');
  const local = (JSON.parse(await readFile(options.localJson, 'utf8')) as { rows: LocalRow[] }).rows.find((r) => r.images === options.count);
  if (!local) throw new OrchardError(`no local-mode run of ${options.count} images in ${options.localJson}`, `run the scale bench with --scale ${options.count} first (--node does)`);

  say(`node: bringing up the local node (${stateDir}) ...`);
  const { state } = await up({ stateDir, log, node: true });
  try {
    const client = s3Client(state.s3);
    const prefix = `bench/n${options.count}`;
    try {
      await uploadTree(client, options.images, state.s3.bucket, prefix, { concurrency: 32 });
    } finally {
      client.destroy();
    }
    const name = `bench-node-n${options.count}-${Date.now().toString(36)}`;
    const base = loadStage('dev', { ...process.env, ...stackEnv(state) });
    const stage = validStage({
      ...base,
      featurize: { ...base.featurize, name, inputPrefix: prefix, outputPrefix: `features/${name}`, imageSize: options.size, precision: options.precision, retries: 0 },
    });
    const kc = kubeConfigFor(state);
    say(`node: ${name}, ${options.count.toLocaleString('en-US')} images, ${options.precision} at ${options.size} px, as the dev stage runs it ...`);
    const watcher = watchPods(kc, stage.namespace, name);
    const applied = Date.now();
    await applyAll(kc, stageApp(stage).files.flatMap(({ chart }) => chart.toJson() as Manifest[]));
    const outcome = await waitForJob(kc, stage.namespace, name, { timeoutMs: 3_600_000 }).finally(watcher.stop);
    const ended = Date.parse(outcome.job.status?.terminationTime ?? new Date().toISOString());
    if (outcome.job.status?.applicationState?.state !== 'COMPLETED') {
      throw new OrchardError(`the node run ended ${outcome.job.status?.applicationState?.state}: ${outcome.job.status?.applicationState?.errorMessage ?? ''}`, 'read the driver pod\'s log: kubectl logs -n orchard <name>-driver');
    }
    const uri = outcome.outputs[0]!.spec.uri;
    const reader = s3Client(state.s3);
    const { bucket, prefix: key } = parseS3Uri(uri);
    const metrics = JSON.parse(await (await reader.send(new GetObjectCommand({ Bucket: bucket, Key: `${key}_orchard/metrics.json` }))).Body!.transformToString()) as {
      timings: Record<string, number>;
      profile?: { images: number; infer_s: number; decode_s: number; feed_s: number; emit_s: number; other_s: number; slot_s: number };
    };
    reader.destroy();

    const pods = [...watcher.pods.values()];
    const driver = pods.find((p) => p.name.endsWith('-driver'));
    const executors = pods.filter((p) => p !== driver && p.running !== undefined);
    const lastExecutor = Math.max(...executors.map((p) => p.running!));
    const job = metrics.timings;
    const shares = coreShares(watcher.samples, executors.map((p) => p.name), driver?.name);
    const node = {
      images: options.count,
      wall_s: seconds(ended - applied),
      submit_to_driver_s: driver?.running ? seconds(driver.running - applied) : null,
      driver_to_executors_s: driver?.running && executors.length ? seconds(lastExecutor - driver.running) : null,
      job_wall_s: job.wall_s,
      featurizing_s: job.inference_s,
      executors: executors.length,
      images_per_second: options.count / seconds(ended - applied),
      featurizing_images_per_second: options.count / job.inference_s!,
    };
    const rows: [string, string, string][] = [
      ['', 'local mode', 'node'],
      ['whole run, s', local.wall_s.toFixed(1), node.wall_s.toFixed(1)],
      ['  submission to driver running, s', '-', String(node.submit_to_driver_s)],
      ['  driver to last executor running, s', '-', String(node.driver_to_executors_s)],
      ['  the job (its own clock), s', local.wall_s.toFixed(1), node.job_wall_s!.toFixed(1)],
      ['  of which featurizing, s', local.stages.featurizing!.toFixed(1), node.featurizing_s!.toFixed(1)],
      ['img/s, whole run', local.images_per_second.toFixed(1), node.images_per_second.toFixed(1)],
      ['img/s, featurizing', local.featurizing_images_per_second.toFixed(1), node.featurizing_images_per_second.toFixed(1)],
      ['node / local, featurizing img/s', '', `${((100 * node.featurizing_images_per_second) / local.featurizing_images_per_second).toFixed(0)} %`],
      ...profileRows(metrics.profile),
      ...executors.map((p): [string, string, string] => [`${p.name.replace(/^.*-exec-/, 'executor ')}: CPU s, throttled periods`, '-', p.cpu ? `${p.cpu.cpu_s.toFixed(1)}, ${((100 * p.cpu.throttled_periods) / Math.max(1, p.cpu.periods)).toFixed(0)} %` : 'n/a']),
      ...(shares ? [[`cores while every executor ran (${shares.window_s} s)`, '', ''] as [string, string, string], ...(['executors', 'driver', 'other_pods', 'outside_pods', 'idle'] as const).map((k): [string, string, string] => [`  ${k.replace('_', ' ')}`, '-', shares[k]!.toFixed(2)])] : []),
    ];
    const width = Math.max(...rows.map(([k]) => k.length));
    const table = rows.map(([k, a, b]) => `${k.padEnd(width)}  ${a.padStart(10)}  ${b.padStart(10)}`).join('\n');
    const json = join(dirname(options.localJson), `node-n${options.count}.json`);
    await mkdir(dirname(json), { recursive: true });
    // Kept for the task timings Spark logs (which executor ran which task, and for how long).
    const driverLog = join(dirname(options.localJson), `node-n${options.count}-driver.log`);
    if (driver) await writeFile(driverLog, (await podLog(kc, stage.namespace, driver.name)) ?? '');
    await writeFile(json, `${JSON.stringify({ schema: 'orchard.bench.node/v1', size: options.size, precision: options.precision, local, node, job, profile: metrics.profile, pods, cores: shares, table }, null, 2)}\n`);
    process.stdout.write(`\nthe same ${options.count.toLocaleString('en-US')} images in local mode (local[2], one process) and on the node (driver + 2 one-core executor pods)\n${table}\nreport ${json}, driver log ${driverLog}\n`);
    return 0;
  } finally {
    await down({ stateDir, log });
  }
}
