/**
 * `orchard bench --incremental`: day 0 a full run of the 10,000-image scale set; day 1 adds 1,000
 * images, re-encodes 200 and deletes 100; then the incremental run and a full run over the same
 * 10,900 images (spark-images/orchard_bench/incremental.py), through s3a:// from an S3 server of
 * its own, whose access log gives each run's requests per image.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { PythonSetup } from '../dev/python.ts';
import { cacheRoot } from '../paths.ts';
import type { Precision } from '../spark/application.ts';
import { benchJobArgs, BUCKET, runPython, withBenchS3Server } from './bench-scale.ts';

export interface IncrementalOptions {
  readonly source: string;
  readonly size: number;
  readonly precision: Precision;
  /** The report; the server's logs and the Spark conf go beside it. */
  readonly json: string;
}

export async function runIncrementalBench(setup: PythonSetup, options: IncrementalOptions): Promise<number> {
  const outDir = dirname(options.json);
  await mkdir(outDir, { recursive: true });
  process.stderr.write(`orchard bench --incremental: day 0 of 10,000 images, day 1 incremental against full, ${options.precision} at ${options.size} px\n`);
  // A data folder of its own, removed after: each run uploads 10,900 images and writes three datasets.
  const dataDir = await mkdtemp(join(outDir, 'incremental-s3-'));
  try {
    return await withBenchS3Server(outDir, 'incremental', dataDir, async (server) =>
      (await runPython(setup, [
        '-m', 'orchard_bench.incremental',
        '--source', options.source,
        '--cache', cacheRoot(),
        '--prefix', `s3a://${BUCKET}/bench`,
        ...benchJobArgs(setup, server, options),
      ])) ?? 1);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}
