/**
 * `orchard dev runner`: a development stand-in for what the Spark operator executes. It watches
 * SparkApplications in the local stack's API server and runs each with spark-submit in local mode,
 * moving its status as the operator does, so that the manifests cdk8s synthesizes run unchanged and
 * the controller sees the same states as on a cluster.
 *
 * The decisions are pure (runner/translate.ts: spec -> spark-submit; runner/status.ts: the
 * operator's state machine; runner/driver-log.ts: what the driver's output says); this module only
 * reads the API server, starts and stops drivers (runner/driver-process.ts), and writes status.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import { sparkApplicationsPath, STATE, type SparkApplicationStatus } from '../api/spark-application.ts';
import { Informer } from '../kube/informer.ts';
import { RetryableError, WorkQueue } from '../kube/queue.ts';
import { OrchardError } from '../errors.ts';
import { kubeRequest, statusMessage } from '../kube/raw.ts';
import type { Logger } from '../log.ts';
import { MODEL_FILES, PRECISIONS, SPARK_VERSION } from '../spark/application.ts';
import { sparkSubmitArgv } from '../spark/submit.ts';
import { isGone } from './process.ts';
import { SPARK_IMAGES_DIR, type PythonSetup } from './python.ts';
import { DriverProcess, stopLeftoverDriver } from './runner/driver-process.ts';
import {
  attemptDir,
  nextStep,
  stateOf,
  submissionFailedStatus,
  submittedStatus,
  type RunnerApplication,
  type RunView,
} from './runner/status.ts';
import { driverPodName, imageEnv, refusalMessage, translate, type LocalImage } from './runner/translate.ts';

export const RUNNER_DEFAULTS = {
  /** One application at a time: a featurize run keeps two cores busy, and this machine class has two. */
  concurrency: 1,
  /** Spark's shutdown hooks stop the SparkContext in a second or two; the stack's own stop waits 10 s for the runner. */
  driverStopGraceMs: 5_000,
} as const;

export interface RunnerOptions {
  readonly kc: KubeConfig;
  /** The stack's state folder: driver logs go to <stateDir>/runs/<namespace>/<name>/attempt-<n>/. */
  readonly stateDir: string;
  readonly python: PythonSetup;
  /** Only this namespace; all namespaces when unset. */
  readonly namespace?: string;
  /** Applications run side by side. @default RUNNER_DEFAULTS.concurrency */
  readonly concurrency?: number;
  /** @default the cores of this machine */
  readonly machineCores?: number;
  readonly log: Logger;
}

/** A submission of this runner: reserved before SUBMITTED is written, then its spark-submit. */
interface Run {
  readonly key: string;
  readonly uid: string;
  readonly submissionId: string;
  readonly dir: string;
  readonly driverLog: string;
  driver?: DriverProcess;
}

const PID_FILE = 'spark-submit.pid';

function view(run: Run): RunView {
  const driver = run.driver;
  return { submissionId: run.submissionId, driverLog: run.driverLog, started: driver?.started ?? false, facts: driver?.facts ?? {}, ...(driver?.exit ? { exit: driver.exit } : {}) };
}

/**
 * One runner per stack: a second one would take the first one's running applications for orphans
 * of a restart and fail them.
 */
async function holdRunnerLock(stateDir: string): Promise<() => Promise<void>> {
  const file = join(stateDir, 'runner.pid');
  for (let attempt = 0; attempt < 3; attempt += 1) {
    try {
      await writeFile(file, String(process.pid), { flag: 'wx' });
      return () => rm(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(await readFile(file, 'utf8').catch(() => '0'));
      if (owner > 0 && owner !== process.pid && !isGone(owner)) {
        throw new OrchardError(
          `another dev runner (pid ${owner}) already runs the SparkApplications of the stack in ${stateDir}`,
          'use that one (`orchard dev up` starts one; `orchard dev status` shows it) or stop it first: two runners would fail each other\'s running applications',
          { lock: file },
        );
      }
      await rm(file, { force: true });
    }
  }
  throw new OrchardError(`could not take the dev runner lock ${join(stateDir, 'runner.pid')}`, 'another runner is starting at the same time: start one only');
}

function splitKey(key: string): { namespace: string; name: string } {
  const [namespace, name] = key.split('/') as [string, string];
  return { namespace, name };
}

/** Runs until `signal` aborts; then stops every spark-submit it started and marks its application FAILED. */
export async function runRunner(options: RunnerOptions, signal: AbortSignal): Promise<void> {
  const { kc, log, python } = options;
  const concurrency = options.concurrency ?? RUNNER_DEFAULTS.concurrency;
  const machineCores = options.machineCores ?? availableParallelism();
  const runsRoot = join(options.stateDir, 'runs');
  const image: LocalImage = {
    jobDir: SPARK_IMAGES_DIR,
    models: python.testModels,
    jarsDir: python.jarsDir,
    jars: (await readdir(python.jarsDir)).filter((file) => file.endsWith('.jar')).map((file) => join(python.jarsDir, file)),
    venv: python.venv,
    sparkVersion: SPARK_VERSION,
  };
  const sparkSubmit = join(python.venv, 'bin', 'spark-submit');
  // SPARK_LOCAL_IP: local Spark binds to the host's first interface otherwise; the runner stays on loopback.
  const env = { ...process.env, ...imageEnv(image), SPARK_LOCAL_IP: '127.0.0.1' };

  const releaseLock = await holdRunnerLock(options.stateDir);
  const runs = new Map<string, Run>();
  /** Log lines said once per application (or attempt), not on every reconcile. */
  const said = new Set<string>();
  const sayOnce = (id: string, say: () => void) => {
    if (said.has(id)) return;
    said.add(id);
    say();
  };
  const queue = new WorkQueue();
  const informer = new Informer<RunnerApplication>({ kc, path: sparkApplicationsPath(options.namespace), log }, (event) => queue.add(event.key));

  const objectPath = (key: string) => {
    const { namespace, name } = splitKey(key);
    return `${sparkApplicationsPath(namespace)}/${name}`;
  };

  async function readApp(key: string): Promise<RunnerApplication | undefined> {
    const response = await kubeRequest(kc, 'GET', objectPath(key));
    if (response.status === 404) return undefined;
    if (response.status !== 200) throw new RetryableError('ReadFailed', `reading SparkApplication ${key} failed: ${response.status} ${statusMessage(response)}`);
    return JSON.parse(response.body) as RunnerApplication;
  }

  /** Replaces the status through the status subresource; the resourceVersion makes a stale write fail with 409. */
  async function writeStatus(key: string, app: RunnerApplication, status: SparkApplicationStatus): Promise<boolean> {
    const response = await kubeRequest(kc, 'PUT', `${objectPath(key)}/status`, { ...app, status });
    if (response.status === 404) return false;
    if (response.status === 409) throw new RetryableError('Conflict', `SparkApplication ${key} changed while its status was written`, 'read again and retry');
    if (response.status !== 200) throw new RetryableError('WriteFailed', `writing the status of SparkApplication ${key} failed: ${response.status} ${statusMessage(response)}`);
    const state = status.applicationState?.state;
    const failed = state === STATE.failing || state === STATE.failed || state === STATE.submissionFailed;
    log[failed ? 'warn' : 'info']('status written', {
      app: key,
      state,
      ...(failed ? { error: status.applicationState?.errorMessage } : {}),
      submissionAttempts: status.submissionAttempts,
      executionAttempts: status.executionAttempts,
      ...(status.sparkApplicationId ? { sparkApplicationId: status.sparkApplicationId } : {}),
    });
    return true;
  }

  /** Frees the run's slot and lets applications waiting for one have it, oldest first. */
  function release(key: string): void {
    runs.delete(key);
    const waits = new Set<string>([STATE.new, STATE.pendingRerun, STATE.submissionFailed]);
    const waiting = informer
      .list()
      .filter((app) => waits.has(stateOf(app)))
      .sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? ''));
    for (const app of waiting) queue.add(`${app.metadata.namespace}/${app.metadata.name}`);
  }

  async function submit(key: string, app: RunnerApplication): Promise<void> {
    const now = new Date();
    const podName = driverPodName(app);
    const translation = translate(app, image, machineCores);
    if (!translation.submission) {
      await writeStatus(key, app, submissionFailedStatus(app, now, randomUUID(), podName, refusalMessage(translation.refused)));
      return;
    }
    const attempt = (app.status?.submissionAttempts ?? 0) + 1;
    if (runs.size >= concurrency) {
      sayOnce(`queued ${app.metadata.uid} ${attempt}`, () => log.info('queued until a run ends', { app: key, running: [...runs.keys()], concurrency }));
      return;
    }
    if (translation.notApplicable.length > 0) {
      sayOnce(`n/a ${app.metadata.uid}`, () =>
        log.info('fields that only concern pods do not apply to a local run', { app: key, fields: Object.fromEntries(translation.notApplicable.map((note) => [note.field, note.why])) }),
      );
    }
    if (translation.coresCapped) sayOnce(`cores ${app.metadata.uid}`, () => log.info('fewer local cores than the spec asks for', { app: key, detail: translation.coresCapped }));
    const dir = attemptDir(runsRoot, app, attempt);
    const run: Run = { key, uid: app.metadata.uid, submissionId: randomUUID(), dir, driverLog: join(dir, 'driver.log') };
    // Taken before the write: the SUBMITTED that comes back must find its run, or it would look orphaned.
    runs.set(key, run);
    try {
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      if (!(await writeStatus(key, app, submittedStatus(app, now, run.submissionId, podName)))) {
        runs.delete(key);
        return;
      }
    } catch (error) {
      runs.delete(key);
      throw error;
    }
    const args = sparkSubmitArgv(translation.submission);
    run.driver = new DriverProcess({ command: sparkSubmit, args, cwd: dir, env, driverLog: run.driverLog, pidFile: join(dir, PID_FILE), onChange: () => queue.add(key) });
    log.info('spark-submit started', { app: key, attempt, pid: run.driver.pid, master: `local[${translation.submission.cores}]`, driverLog: run.driverLog });
    log.debug('spark-submit command line', { app: key, argv: [sparkSubmit, ...args] });
  }

  /** A SUBMITTED or RUNNING application that no run of this runner owns: stop what is left of its spark-submit. */
  async function stopLeftover(app: RunnerApplication): Promise<void> {
    const pidFile = join(attemptDir(runsRoot, app, app.status?.submissionAttempts ?? 1), PID_FILE);
    const how = await stopLeftoverDriver(pidFile, sparkSubmit, RUNNER_DEFAULTS.driverStopGraceMs);
    if (how !== 'absent') log.warn('stopped a spark-submit left by an earlier runner', { app: `${app.metadata.namespace}/${app.metadata.name}`, how });
  }

  async function reconcile(key: string): Promise<void> {
    const app = await readApp(key);
    const run = runs.get(key);
    if (run && (!app || app.metadata.uid !== run.uid)) {
      // Deleted, or re-created under the same name: nobody is left to report this driver's outcome to.
      if (!run.driver?.exit) {
        log.info('SparkApplication deleted: stopping its spark-submit', { app: key, pid: run.driver?.pid });
        await run.driver?.stop(RUNNER_DEFAULTS.driverStopGraceMs, false);
      }
      release(key);
      return;
    }
    if (!app) return;
    const step = nextStep(app, run && view(run), new Date(), runsRoot);
    switch (step.kind) {
      case 'none':
        return;
      case 'wait':
        queue.addAfter(key, step.ms);
        return;
      case 'submit':
        return submit(key, app);
      case 'orphaned':
        await run?.driver?.stop(RUNNER_DEFAULTS.driverStopGraceMs, false);
        await stopLeftover(app);
        await writeStatus(key, app, step.status);
        if (run) release(key);
        return;
      case 'write':
        await writeStatus(key, app, step.status);
        if (run?.driver?.exit) release(key);
        return;
    }
  }

  const worker = async () => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        await reconcile(key);
        queue.forget(key);
      } catch (error) {
        const retryInMs = queue.addRateLimited(key);
        const conflict = error instanceof RetryableError && error.reason === 'Conflict';
        log[conflict ? 'debug' : 'warn']('reconcile failed; retrying', { app: key, error: error instanceof Error ? error.message : String(error), retryInMs });
      }
      queue.done(key);
    }
  };

  const informerStop = new AbortController();
  const informerDone = informer.run(informerStop.signal);
  const working = worker();
  try {
    while (!informer.hasSynced && !signal.aborted) await sleep(50);
    if (!signal.aborted) {
      log.info('dev runner ready', {
        namespace: options.namespace ?? '(all)',
        concurrency,
        machineCores,
        runs: runsRoot,
        models: PRECISIONS.map((precision) => `${image.models[precision]} stands in for ${MODEL_FILES[precision]}`),
      });
    }
    await new Promise<void>((resolveStop) => (signal.aborted ? resolveStop() : signal.addEventListener('abort', () => resolveStop(), { once: true })));
  } finally {
    log.info('dev runner stopping', { running: [...runs.keys()] });
    queue.shutDown();
    await working;
    informerStop.abort();
    await informerDone;
    await Promise.all([...runs.values()].map((run) => (run.driver?.exit ? undefined : run.driver?.stop(RUNNER_DEFAULTS.driverStopGraceMs, true))));
    for (const run of runs.values()) await settle(run);
    await releaseLock();
    log.info('dev runner stopped');
  }

  /** Writes a stopped or ended run's status on the way out; a few tries, since a 409 only means a fresher read. */
  async function settle(run: Run): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt += 1) {
      try {
        const app = await readApp(run.key);
        if (!app || app.metadata.uid !== run.uid) return;
        const step = nextStep(app, view(run), new Date(), runsRoot);
        if (step.kind === 'write') await writeStatus(run.key, app, step.status);
        return;
      } catch (error) {
        log.warn('could not record how a run ended', { app: run.key, error: error instanceof Error ? error.message : String(error) });
      }
    }
  }
}
