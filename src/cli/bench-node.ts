/**
 * `orchard bench --scale N --node`: after the local-mode runs of the scale bench, the same image set
 * through the real spark-operator on the local node, as the dev stage runs it (a driver pod and two
 * one-core executor pods), with where the time goes outside the job: submission and the driver
 * pod's start, the executors' start and registration, the job itself, and the teardown.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { KubeConfig } from '@kubernetes/client-node';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { stageApp } from '../../cdk8s/app.ts';
import { loadStage, validStage } from '../../cdk8s/stages.ts';
import type { Manifest } from '../api/manifest.ts';
import { parseS3Uri } from '../api/s3-uri.ts';
import { down, kubeConfigFor, stackEnv, up } from '../dev/stack.ts';
import { OrchardError } from '../errors.ts';
import { waitForJob } from '../jobs/wait.ts';
import { applyAll } from '../kube/apply.ts';
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
  readonly created: number;
  running?: number;
}

interface PodItem {
  metadata: { name: string; creationTimestamp: string };
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

/** Notes every pod of the application as it appears and starts: Spark deletes executor pods when the job ends. */
function watchPods(kc: KubeConfig, namespace: string, app: string): { pods: Map<string, PodTimes>; stop: () => void } {
  const pods = new Map<string, PodTimes>();
  const timer = setInterval(() => {
    void kubeRequest(kc, 'GET', `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(`sparkoperator.k8s.io/app-name=${app}`)}`).then(
      (response) => {
        if (response.status !== 200) return;
        for (const pod of (JSON.parse(response.body) as { items: PodItem[] }).items) {
          const seen = pods.get(pod.metadata.name) ?? { name: pod.metadata.name, created: Date.parse(pod.metadata.creationTimestamp) };
          seen.running ??= startedAt(pod);
          pods.set(pod.metadata.name, seen);
        }
      },
      () => undefined,
    );
  }, 500);
  return { pods, stop: () => clearInterval(timer) };
}

interface LocalRow {
  readonly images: number;
  readonly wall_s: number;
  readonly stages: Record<string, number>;
  readonly images_per_second: number;
  readonly featurizing_images_per_second: number;
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
    };
    reader.destroy();

    const pods = [...watcher.pods.values()];
    const driver = pods.find((p) => p.name.endsWith('-driver'));
    const executors = pods.filter((p) => p !== driver && p.running !== undefined);
    const lastExecutor = Math.max(...executors.map((p) => p.running!));
    const job = metrics.timings;
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
    ];
    const width = Math.max(...rows.map(([k]) => k.length));
    const table = rows.map(([k, a, b]) => `${k.padEnd(width)}  ${a.padStart(10)}  ${b.padStart(10)}`).join('\n');
    const json = join(dirname(options.localJson), `node-n${options.count}.json`);
    await mkdir(dirname(json), { recursive: true });
    await writeFile(json, `${JSON.stringify({ schema: 'orchard.bench.node/v1', size: options.size, precision: options.precision, local, node, job, pods, table }, null, 2)}\n`);
    process.stdout.write(`\nthe same ${options.count.toLocaleString('en-US')} images in local mode (local[2], one process) and on the node (driver + 2 one-core executor pods)\n${table}\nreport ${json}\n`);
    return 0;
  } finally {
    await down({ stateDir, log });
  }
}
