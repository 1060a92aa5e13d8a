/**
 * `orchard bench --scale`: the job over 1,000, 10,000 and 90,380 images (the full Fruits-360
 * count) read through s3a:// from a local S3 server, with the time of each stage and the S3
 * requests each run made. The images are the sample re-encoded with small crops and colour jitter
 * (spark-images/orchard_bench/augment.py); sets, uploads and the server's data are cached, so a
 * second run goes straight to the measurements.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { stageApp } from '../../cdk8s/app.ts';
import { loadStage } from '../../cdk8s/stages.ts';
import { freePort, startDetached, stopProcess, waitUntilReady } from '../dev/process.ts';
import { SPARK_IMAGES_DIR, type PythonSetup } from '../dev/python.ts';
import { ensureS3Server, prepareS3DataDir, S3_SERVER, s3ServerLaunch, s3ServerReady } from '../dev/s3-server.ts';
import { ensureBucket } from '../dev/stack.ts';
import { OrchardError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { cacheRoot } from '../paths.ts';
import { s3Client } from '../s3/client.ts';
import { uploadTree } from '../s3/upload.ts';
import { DEFAULTS, type Precision } from '../spark/application.ts';

/** The full Fruits-360 dataset's image count (its README: 90,380 images, 131 classes). */
export const FULL_DATASET_IMAGES = 90_380;
export const SCALE_COUNTS = [1_000, 10_000, FULL_DATASET_IMAGES] as const;
export const BUCKET = 'orchard-scale';
const REGION = 'us-east-1';
const UPLOAD_CONCURRENCY = 32;

export interface ScaleOptions {
  readonly counts: readonly number[];
  readonly source: string;
  readonly size: number;
  readonly precision: Precision;
  /** The report; the Spark log, the S3 server's log and access log go beside it. */
  readonly json: string;
}

function say(text: string): void {
  process.stderr.write(`${text}\n`);
}

function elapsed(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}

/** Runs the venv's Python in spark-images/; resolves with its stdout, progress passes through on stderr. */
function python(setup: PythonSetup, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(setup.python, args, { cwd: SPARK_IMAGES_DIR, env, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolveRun({ code, stdout }));
  });
}

/** Runs the venv's Python in spark-images/ with its output passing through; resolves with its exit code. */
export function runPython(setup: PythonSetup, args: readonly string[]): Promise<number | null> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(setup.python, args, { cwd: SPARK_IMAGES_DIR, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('close', resolveRun);
  });
}

/** The server's credentials, made once with its data folder: the buckets in it belong to them. */
async function serverCredentials(dataDir: string): Promise<{ accessKeyId: string; secretAccessKey: string }> {
  const file = join(dataDir, 'credentials.json');
  if (existsSync(file)) return JSON.parse(await readFile(file, 'utf8')) as { accessKeyId: string; secretAccessKey: string };
  const credentials = { accessKeyId: `orchard${randomBytes(6).toString('hex')}`, secretAccessKey: randomBytes(24).toString('base64url') };
  await writeFile(file, JSON.stringify(credentials), { mode: 0o600 });
  return credentials;
}

/** The scale image sets' folders by count, made from the sample once and cached. */
export async function scaleImageSets(setup: PythonSetup, counts: readonly number[], source: string): Promise<Record<string, string>> {
  const t = Date.now();
  say('image sets: re-encoding the sample with crops and colour jitter (cached after the first run) ...');
  const generated = await python(setup, ['-m', 'orchard_bench.scale', 'generate', '--source', source, '--counts', counts.join(','), '--cache', cacheRoot()]);
  if (generated.code !== 0) throw new OrchardError('generating the scale image sets failed', 'read the Python error above');
  say(`image sets ready in ${elapsed(t)}`);
  return (JSON.parse(generated.stdout) as { sets: Record<string, string> }).sets;
}

export async function runScaleBench(setup: PythonSetup, options: ScaleOptions): Promise<number> {
  const started = Date.now();
  const outDir = dirname(options.json);
  await mkdir(outDir, { recursive: true });
  say(`orchard bench --scale: the job over ${options.counts.map((n) => n.toLocaleString('en-US')).join(', ')} images through s3a://, ${options.precision} at ${options.size} px`);

  const sets = await scaleImageSets(setup, options.counts, options.source);

  // A server of its own, not the dev stack's: its access log counts exactly this bench's requests,
  // and its data folder keeps the uploads for the next run.
  const dataDir = join(cacheRoot(), 'scale', `s3-${S3_SERVER.version}`);
  return withBenchS3Server(outDir, 'scale', dataDir, async ({ s3, confFile, accessLog }) => {
    const client = s3Client(s3);
    const inputs: string[] = [];
    try {
      for (const n of [...options.counts].sort((a, b) => a - b)) {
        const t = Date.now();
        let shown = 0;
        const result = await uploadTree(client, sets[String(n)]!, BUCKET, `images/n${n}`, {
          concurrency: UPLOAD_CONCURRENCY,
          onProgress: (done) => {
            if (done * 10 >= (shown + 1) * n) {
              shown = Math.floor((done * 10) / n);
              say(`  upload n${n}: ${done.toLocaleString('en-US')}/${n.toLocaleString('en-US')}`);
            }
          },
        });
        say(`upload n${n}: ${result.files - result.unchanged} new, ${result.unchanged} already there, in ${elapsed(t)}`);
        inputs.push('--input', `${n}=s3a://${BUCKET}/images/n${n}`);
      }
    } finally {
      client.destroy();
    }

    const code = await runPython(setup, [
      '-m', 'orchard_bench.scale', 'run', ...inputs,
      '--output-root', `s3a://${BUCKET}/features`,
      ...benchJobArgs(setup, { confFile, accessLog }, options),
    ]);
    say(`orchard bench --scale: ${code === 0 ? 'done' : 'failed'} in ${elapsed(started)}; report ${options.json}`);
    return code ?? 1;
  });
}

/** The job's settings and the report, as the bench modules take them: one model, size and server. */
export function benchJobArgs(setup: PythonSetup, server: Pick<BenchS3Server, 'confFile' | 'accessLog'>, options: { readonly precision: Precision; readonly size: number; readonly json: string }): string[] {
  return [
    '--spark-conf', server.confFile,
    '--model', setup.testModels[options.precision],
    '--size', String(options.size),
    '--pca-components', String(DEFAULTS.pcaComponents),
    '--jars', setup.jarsDir,
    '--access-log', server.accessLog,
    '--json', options.json,
  ];
}

export interface BenchS3Server {
  readonly s3: { endpoint: string; bucket: string; region: string; accessKeyId: string; secretAccessKey: string };
  /** The dev stage's SparkApplication conf ({sparkConf, hadoopConf}) pointed at this server. */
  readonly confFile: string;
  /** One line per request: what a bench counts its S3 requests from. */
  readonly accessLog: string;
}

/**
 * A bench's own S3 server (so its access log holds only the bench's requests) on dataDir, with
 * the bucket made and the dev stage's S3A settings written for it as `<name>-spark-conf.json`;
 * its logs go to outDir as `<name>-s3.log` and `<name>-s3-access.log`. Stopped when use settles.
 */
export async function withBenchS3Server<T>(outDir: string, name: string, dataDir: string, use: (server: BenchS3Server) => Promise<T>): Promise<T> {
  const log = createLogger({ component: `bench-${name}` });
  const install = await ensureS3Server(log);
  await prepareS3DataDir(dataDir);
  const port = await freePort();
  const accessLog = join(outDir, `${name}-s3-access.log`);
  await rm(accessLog, { force: true });
  const s3 = { endpoint: `http://127.0.0.1:${port}`, bucket: BUCKET, region: REGION, ...(await serverCredentials(dataDir)) };
  const launch = s3ServerLaunch(install, { port, dataDir, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, region: REGION, accessLog });
  const server = startDetached(launch.executable, launch.args, join(outDir, `${name}-s3.log`), { ...process.env, ...launch.env });
  try {
    await waitUntilReady(() => s3ServerReady(s3.endpoint), {
      what: `${S3_SERVER.name} ${S3_SERVER.version}`,
      timeoutMs: 60_000,
      log: server.log,
      pid: server.pid,
      executable: install.executable,
      hint: 'read its log',
    });
    await ensureBucket(s3);
    // The dev stage's SparkApplication conf with this server's endpoint: the S3A settings deployed.
    const stage = loadStage('dev', { ...process.env, ORCHARD_S3_ENDPOINT: s3.endpoint, ORCHARD_S3_BUCKET: BUCKET, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: REGION });
    const { spec } = stageApp(stage).featurize.job.application.toJson() as { spec: { sparkConf: Record<string, string>; hadoopConf: Record<string, string> } };
    const confFile = join(outDir, `${name}-spark-conf.json`);
    await writeFile(confFile, `${JSON.stringify({ sparkConf: spec.sparkConf, hadoopConf: spec.hadoopConf }, null, 2)}\n`);
    return await use({ s3, confFile, accessLog });
  } finally {
    await stopProcess(server.pid);
  }
}
