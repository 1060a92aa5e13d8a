import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { chartYaml, stageApp } from '../../cdk8s/app.ts';
import { platformLabels } from '../../cdk8s/constructs/labels.ts';
import { loadStage, validStage } from '../../cdk8s/stages.ts';
import type { Manifest } from '../api/manifest.ts';
import { humanBytes } from '../format.ts';
import { runName } from '../jobs/name.ts';
import { waitForJob, type JobOutcome } from '../jobs/wait.ts';
import type { SparkApplicationObject } from '../api/spark-application.ts';
import { ProgressTracker } from '../dev/progress.ts';
import { watchProgress } from '../dev/progress-watch.ts';
import { ensurePythonSetup } from '../dev/python.ts';
import { down, kubeConfigFor, stackEnv, up, type StackState } from '../dev/stack.ts';
import { OrchardError } from '../errors.ts';
import { applyAll } from '../kube/apply.ts';
import { podLog, selectedPodLogs } from '../kube/pod-logs.ts';
import { log } from '../log.ts';
import { REPO_ROOT, SHARED_DIR } from '../paths.ts';
import { collectReportData, type ReportData } from '../report/data.ts';
import { renderReport } from '../report/render.ts';
import type { Precision } from '../spark/application.ts';
import { writeReport } from '../report/write.ts';
import { s3Client } from '../s3/client.ts';
import { uploadTree } from '../s3/upload.ts';
import { generatedImages } from './images.ts';

const FRUITS_TRAINING = join(SHARED_DIR, 'data', 'fruits-360', 'Training');
/** Where the S3 input lives in the dev stage (cdk8s/stages.ts). */
const INPUT_PREFIX = 'fruits-360/Training';

export interface DemoOptions {
  readonly input?: string;
  /** 0 = every image. */
  readonly limit: number;
  readonly pcaComponents: number;
  readonly imageSize: number;
  readonly precision: Precision;
  readonly keepRunning: boolean;
  readonly stateDir: string;
  /** The job, its records and the report must be done within this. */
  readonly timeoutMs: number;
}

export interface DemoResult {
  readonly runDir: string;
  readonly report: string;
  readonly outcome: JobOutcome;
}

function table(rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
}

/**
 * The whole system on one machine: a real Kubernetes node running the real spark-operator, the dev
 * stage synthesized by cdk8s and applied (the controller runs as its pod, the job as a driver and
 * executor pods from the image built from spark-images/resnet50-cpu/Dockerfile), then a summary and
 * an HTML report. Everything the run leaves is under .orchard/runs/<run>/.
 */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const stages: Record<string, number> = {};
  const stage = async <T>(name: string, body: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    log.info(`${name}...`);
    const result = await body();
    stages[name] = (Date.now() - started) / 1000;
    return result;
  };
  const run = runName();
  const runDir = join(REPO_ROOT, '.orchard', 'runs', run);
  await mkdir(runDir, { recursive: true });

  const { state, reused } = await stage('local Kubernetes node, operator and images', () => up({ stateDir: options.stateDir, log, node: true }));
  try {
    let input = options.input ? resolve(options.input) : FRUITS_TRAINING;
    let source = options.input ? input : `the Fruits-360 sample (${FRUITS_TRAINING})`;
    if (!existsSync(input)) {
      if (options.input) throw new OrchardError(`--input ${options.input} does not exist`, 'pass a folder laid out as <root>/<Class>/<image>.jpg');
      input = await stage('generate images', async () => generatedImages(await ensurePythonSetup()));
      source = `generated images (no Fruits-360 sample at ${FRUITS_TRAINING})`;
    }
    log.info(`input: ${source}`);
    const uploaded = await stage('upload images to S3', async () => {
      const client = s3Client(state.s3);
      try {
        return await uploadTree(client, input, state.s3.bucket, INPUT_PREFIX);
      } finally {
        client.destroy();
      }
    });
    log.info('images in the bucket', { files: uploaded.files, uploaded: humanBytes(uploaded.bytes), unchanged: uploaded.unchanged });

    const base = loadStage('dev', { ...process.env, ...stackEnv(state) });
    const stageConfig = validStage({
      ...base,
      featurize: {
        ...base.featurize,
        name: run,
        outputPrefix: `features/${run}`,
        imageSize: options.imageSize,
        precision: options.precision,
        pcaComponents: options.pcaComponents,
        ...(options.limit > 0 ? { limit: options.limit } : {}),
        // A failed demo run should say why at once, not retry a minute later.
        retries: 0,
      },
    });
    const kc = kubeConfigFor(state);
    await stage('synthesize and apply the dev stage', async () => {
      const app = stageApp(stageConfig);
      await mkdir(join(runDir, 'manifests'), { recursive: true });
      for (const { file, chart } of app.files) await writeFile(join(runDir, 'manifests', file), chartYaml(chart));
      await applyAll(kc, app.files.flatMap(({ chart }) => chart.toJson() as Manifest[]));
    });

    const total = options.limit > 0 ? Math.min(options.limit, uploaded.files) : uploaded.files;
    const progress = new ProgressTracker(total, state.s3.endpoint);
    const outcome = await stage('feature extraction and recording', () => follow(kc, stageConfig.namespace, run, progress, options.timeoutMs));
    const app = outcome.job;
    const { driverLog } = await keepLogs(kc, app, runDir);
    const state0 = app.status?.applicationState?.state;
    if (state0 !== 'COMPLETED') {
      throw new OrchardError(`the job ended ${state0}: ${app.status?.applicationState?.errorMessage ?? 'no message'}`, 'read the driver log', { log: driverLog ?? '(none)', run: runDir });
    }
    const output = outcome.outputs[0]!;
    const data = await stage('report', async () => {
      const client = s3Client(state.s3);
      try {
        return await collectReportData(client, output.spec.uri);
      } finally {
        client.destroy();
      }
    });
    const reportPath = join(runDir, 'report.html');
    await writeReport(
      reportPath,
      renderReport(data, {
        title: `orchard demo ${run}`,
        stageTimings: stages,
        parquetOutput: { name: output.metadata.name, phase: output.status?.phase ?? 'Pending', rows: output.status?.rows ?? 0, files: output.status?.files ?? 0, bytes: output.status?.bytes ?? 0 },
        generatedAt: new Date(),
      }),
    );
    process.stdout.write(summary(outcome, data, stages, progress, { source, driverLog, reportPath, runDir }));
    process.stdout.write(`\n$ kubectl get parquetoutputs -n ${stageConfig.namespace}\n${await kubectlGet(state, stageConfig.namespace)}`);
    return { runDir, report: reportPath, outcome };
  } finally {
    // A stack that was already running is someone's: leave it as it was found.
    if (!options.keepRunning && !reused) await down({ stateDir: options.stateDir, log });
    else process.stdout.write(`the stack keeps running: eval "$(npx orchard dev env --state ${options.stateDir})"; npx orchard dev down --state ${options.stateDir} stops it\n`);
  }
}

/** Without a terminal, a line every this often, and at each new phase or stall. */
const PLAIN_PRINT_MS = 10_000;

/** Waits for the job and its records, drawing the job's progress from the driver's UI port. */
async function follow(kc: ReturnType<typeof kubeConfigFor>, namespace: string, name: string, progress: ProgressTracker, timeoutMs: number): Promise<JobOutcome> {
  const tty = Boolean(process.stdout.isTTY);
  let lastPrinted = 0;
  let lastLine = '';
  let lastHead = '';
  const stop = watchProgress(kc, namespace, name, progress, (line, head) => {
    if (tty) process.stdout.write(`\r\x1b[K${line}`);
    else if (Date.now() - lastPrinted > PLAIN_PRINT_MS || head !== lastHead) {
      lastPrinted = Date.now();
      process.stdout.write(`${line}\n`);
    }
    lastLine = line;
    lastHead = head;
  });
  try {
    return await waitForJob(kc, namespace, name, {
      timeoutMs,
      onChange: ({ job, outputs }) => {
        const state = job.status?.applicationState?.state || 'NEW';
        const phases = outputs.map((o) => o.status?.phase ?? 'Pending').join(', ');
        if (tty && lastLine) process.stdout.write('\n');
        log.info(`job ${state}`, { job: `${namespace}/${name}`, ...(phases ? { outputs: phases } : {}) });
      },
    });
  } finally {
    stop();
    progress.finish(Date.now());
    if (tty && lastLine) process.stdout.write('\n');
  }
}

/**
 * The driver's and the controller's logs live in their pods, which `dev down` removes with the
 * node: keep copies with the run.
 */
async function keepLogs(kc: ReturnType<typeof kubeConfigFor>, app: SparkApplicationObject, runDir: string): Promise<{ driverLog?: string }> {
  const namespace = app.metadata.namespace ?? 'default';
  const controllerName = platformLabels('controller')['app.kubernetes.io/name']!;
  await writeFile(join(runDir, 'controller.log'), await selectedPodLogs(kc, namespace, `app.kubernetes.io/name=${controllerName}`));
  const pod = app.status?.driverInfo?.podName;
  const text = pod ? await podLog(kc, namespace, pod, 'spark-kubernetes-driver') : undefined;
  if (text === undefined) return {};
  const driverLog = join(runDir, 'driver.log');
  await writeFile(driverLog, text);
  return { driverLog };
}

async function kubectlGet(state: StackState, namespace: string): Promise<string> {
  const { stdout } = await promisify(execFile)(state.kubectl, ['get', 'parquetoutputs', '-n', namespace], { env: { ...process.env, KUBECONFIG: state.kubeconfig } });
  return stdout;
}

/** The probe in one line: what the features are worth, against chance and the gate. */
function qualityLine(quality: ReportData['quality']): string {
  if (!quality) return 'not measured (--no-probe)';
  if (quality.skipped || quality.top1 === undefined) return `not measured: ${quality.skipped ?? 'no accuracy recorded'}`;
  const percent = (x: number) => `${(100 * x).toFixed(1)} %`;
  const chance = quality.classes ? `, chance ${percent(1 / quality.classes)}` : '';
  const gate = quality.minTop1 !== undefined ? `, gate ${percent(quality.minTop1)}` : '';
  return `top-1 ${percent(quality.top1)} on ${quality.testImages ?? '?'} held-out images (${quality.features ?? 'features'}${quality.width ? ` ${quality.width}` : ''}${chance}${gate})`;
}

function summary(outcome: JobOutcome, data: ReportData, stages: Readonly<Record<string, number>>, progress: ProgressTracker, where: { source: string; driverLog?: string; reportPath: string; runDir: string }): string {
  const output = outcome.outputs[0]!;
  const status = output.status ?? {};
  const complete = status.conditions?.find((c) => c.type === 'Complete');
  const wall = data.timings.wall_s;
  const lines = [
    '',
    `orchard demo: ${output.spec.uri}`,
    table([
      ['input', where.source],
      ['images found', String(data.images.found)],
      ['images decoded', String(data.images.decoded)],
      ['images failed', String(data.images.failed)],
      ['rows (Parquet footers)', String(status.rows)],
      ['Parquet files', String(status.files)],
      ['Parquet bytes', humanBytes(status.bytes)],
      ['classes', String(Object.keys(data.labelCounts).length)],
      ['committer (_SUCCESS)', String(status.committer)],
      ['PCA', data.pca ? `${data.pca.k} components, ${(100 * data.pca.explainedVarianceTotal).toFixed(1)} % of variance` : 'off'],
      ['feature quality', qualityLine(data.quality)],
      ['images/s (inference)', String(data.imagesPerSecond)],
      ['images/s (whole job)', `${data.imagesPerSecondWall}${wall ? ` (${wall.toFixed(1)} s)` : ''}`],
      // Time with no progress while S3A retried: why a whole-job rate can be far below inference's.
      ['waited on S3', progress.s3aRetries > 0 ? `${(progress.s3WaitMs / 1000).toFixed(1)} s (S3A retried ${progress.s3aRetries} times)` : 'no'],
      ['ParquetOutput', `${output.metadata.name}: ${status.phase}${complete && complete.status !== 'True' ? ` (${complete.reason}: ${complete.message.split('\n')[0]})` : ''}`],
      ['report', where.reportPath],
      ['driver log', where.driverLog ?? '(none)'],
      ['run folder', where.runDir],
    ]),
    'time per stage',
    table(Object.entries(stages).map(([name, s]) => [name, `${s.toFixed(1)} s`])),
  ];
  if (data.model?.weights === 'random') {
    lines.push('note: this machine cannot download pretrained ResNet50 weights, so the demo ran the same architecture with seeded random weights (same cost; they are not ImageNet features, though a linear probe still separates the classes: see the feature quality above).');
  }
  if (data.images.failed > 0) lines.push(`failed images:\n${data.images.failures.slice(0, 20).map((f) => `  ${f.path}: ${f.reason}`).join('\n')}`);
  return `${lines.join('\n')}\n`;
}
