/**
 * `npm run bench:controller`: how fast the controller records an output once its job completes
 * (1, 100 and 1,000 Parquet files) and how much memory it holds with 1,000 SparkApplications
 * watched. Runs against its own local stack (.orchard/bench), prints a table, writes JSON.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CoreV1Api } from '@kubernetes/client-node';
import { kubeConfigFor, up } from '../../src/dev/stack.ts';
import { createLogger } from '../../src/log.ts';
import { REPO_ROOT } from '../../src/paths.ts';
import { s3Client } from '../../src/s3/client.ts';
import { ControllerProcess, kubeconfigThrough } from '../support/controller.ts';
import { writeDataset, type Dataset } from '../support/dataset.ts';
import { outputsOf } from '../support/outputs.ts';
import { createJob, setJobState } from '../support/spark-job.ts';

const log = createLogger({ component: 'bench-controller' });
const stateDir = process.env.ORCHARD_BENCH_STATE ?? join(REPO_ROOT, '.orchard', 'bench');
const RUNS = Number(process.env.ORCHARD_BENCH_RUNS ?? 3);
const JOBS = Number(process.env.ORCHARD_BENCH_JOBS ?? 1000);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

async function main(): Promise<void> {
  const { state } = await up({ stateDir, log });
  const kc = kubeConfigFor(state);
  const s3 = s3Client(state.s3);
  const dir = join(stateDir, 'bench');
  mkdirSync(dir, { recursive: true });
  const kubeconfig = kubeconfigThrough(kc, Number(new URL(state.apiServer).port), dir);
  const namespace = async (prefix: string) => {
    const name = `${prefix}-${randomBytes(3).toString('hex')}`;
    await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
    return name;
  };
  // By default the bundle the controller image runs, with plain node: its memory is what a pod's would be.
  // ORCHARD_BENCH_CONTROLLER=cli measures `orchard controller` through tsx instead, for comparison.
  const bundle = process.env.ORCHARD_BENCH_CONTROLLER !== 'cli';
  const start = (ns: string) => ControllerProcess.start({ kubeconfig, s3Endpoint: state.s3.endpoint, stack: state, namespace: ns, id: 'bench', bundle });
  const results: Record<string, unknown> = { machine: { cores: (await import('node:os')).cpus().length }, runs: RUNS, controller: bundle ? 'bundle (node dist/controller/controller.mjs)' : 'cli (tsx)' };

  // 1. COMPLETED -> Recorded, by number of Parquet files.
  const latency: { files: number; medianMs: number; runsMs: number[] }[] = [];
  for (const files of [1, 100, 1000]) {
    process.stderr.write(`writing a dataset of ${files} Parquet files...\n`);
    const dataset: Dataset = await writeDataset(s3, state.s3.bucket, `bench/${randomBytes(4).toString('hex')}`, { files, rowsPerFile: 20, concurrency: 32 });
    const ns = await namespace(`bench-${files}`);
    const controller = await start(ns);
    const runs: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const job = `job-${run}`;
      await createJob(kc, ns, job, dataset.uri);
      await setJobState(kc, ns, job, 'RUNNING');
      for (;;) {
        const outputs = await outputsOf(kc, ns, job);
        if (outputs?.[0]?.status?.phase === 'Pending') break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const t0 = performance.now();
      await setJobState(kc, ns, job, 'COMPLETED');
      for (;;) {
        const phase = (await outputsOf(kc, ns, job))?.[0]?.status?.phase;
        if (phase === 'Recorded') break;
        if (phase === 'Incomplete') throw new Error(`${files}-file output recorded Incomplete:\n${controller.tail()}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      runs.push(performance.now() - t0);
      process.stderr.write(`  ${files} files, run ${run + 1}: ${runs.at(-1)!.toFixed(0)} ms\n`);
    }
    latency.push({ files, medianMs: median(runs), runsMs: runs.map((r) => Math.round(r)) });
    await controller.stop();
  }
  results.latency = latency;

  // 2. Memory with JOBS SparkApplications watched, half of them completed and recorded.
  const ns = await namespace('bench-watch');
  const shared = await writeDataset(s3, state.s3.bucket, `bench/${randomBytes(4).toString('hex')}`, { files: 2, rowsPerFile: 20 });
  process.stderr.write(`creating ${JOBS} SparkApplications...\n`);
  const names = Array.from({ length: JOBS }, (_, i) => `job-${String(i).padStart(4, '0')}`);
  const queue = [...names];
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let name = queue.shift(); name; name = queue.shift()) {
        await createJob(kc, ns, name, shared.uri);
        await setJobState(kc, ns, name, Number(name.slice(4)) % 2 === 0 ? 'COMPLETED' : 'RUNNING');
      }
    }),
  );
  const controller = await start(ns);
  const t0 = performance.now();
  const idle = await controller.metric('process_resident_memory_bytes');
  for (;;) {
    const recorded = await controller.metric('orchard_parquet_outputs', { phase: 'Recorded' });
    const pending = await controller.metric('orchard_parquet_outputs', { phase: 'Pending' });
    if (recorded + pending >= JOBS) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const catchUpMs = performance.now() - t0;
  const rss = await controller.metric('process_resident_memory_bytes');
  const heap = await controller.metric('nodejs_heap_size_used_bytes');
  results.watch = { jobs: JOBS, catchUpSeconds: +(catchUpMs / 1000).toFixed(1), reconcilesPerSecond: +(JOBS / (catchUpMs / 1000)).toFixed(1), rssMiB: +mib(rss), heapUsedMiB: +mib(heap), rssAtStartMiB: +mib(idle) };
  await controller.stop();
  s3.destroy();

  const out = join(REPO_ROOT, '.orchard', 'bench', 'controller.json');
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  const lines = [
    '',
    `controller benchmark: ${results.controller as string} (${RUNS} runs each, median; ${(results.machine as { cores: number }).cores} cores)`,
    '| Parquet files | COMPLETED -> Recorded (median) | runs |',
    '| ---: | ---: | --- |',
    ...latency.map((l) => `| ${l.files} | ${l.medianMs.toFixed(0)} ms | ${l.runsMs.join(', ')} ms |`),
    '',
    `| SparkApplications watched | catch-up from cold start | reconciles/s | RSS | heap used |`,
    '| ---: | ---: | ---: | ---: | ---: |',
    `| ${JOBS} (half completed) | ${(results.watch as { catchUpSeconds: number }).catchUpSeconds} s | ${(results.watch as { reconcilesPerSecond: number }).reconcilesPerSecond} | ${mib(rss)} MiB | ${mib(heap)} MiB |`,
    '',
    `JSON: ${out}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
