/**
 * One spark-submit in local mode, the dev runner's stand-in for a driver pod: its output goes to
 * the driver log and is read line by line for what the operator would report, and it runs in its
 * own process group so that stopping it reaches the JVM and its Python workers.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { isRunning, stopProcess } from '../process.ts';
import { scanLine, type DriverFacts } from './driver-log.ts';
import type { DriverExit } from './status.ts';

/** What a spark-submit runs once its launcher script has exec'd java: how a leftover one is recognised. */
const SPARK_SUBMIT_CLASS = 'org.apache.spark.deploy.SparkSubmit';

/** The pipes close once every process of the group is gone; do not hang on one that escaped it. */
const PIPES_CLOSE_MS = 2_000;

export interface DriverProcessOptions {
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  readonly driverLog: string;
  /** Where the pid goes, so that a restarted runner can stop a driver it no longer follows. */
  readonly pidFile: string;
  /** Called when the process starts, ends, or its output names something the status shows. */
  readonly onChange: () => void;
}

export class DriverProcess {
  started = false;
  facts: DriverFacts = {};
  exit?: DriverExit;
  readonly pid: number | undefined;
  private stopping = false;
  private readonly closed: Promise<void>;

  constructor(options: DriverProcessOptions) {
    const out = createWriteStream(options.driverLog);
    const child = spawn(options.command, options.args, { cwd: options.cwd, env: options.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.pid = child.pid;
    // Written before the status can say RUNNING: a runner killed just after would otherwise leave an
    // empty pid file (an async write still pending), and its successor could not stop this driver.
    if (child.pid !== undefined) writeFileSync(options.pidFile, String(child.pid));
    this.closed = new Promise((resolveClosed) => {
      child.on('error', (error) => {
        this.exit ??= { kind: 'not-started', error: error.message };
        out.end();
        resolveClosed();
        options.onChange();
      });
      child.on('close', (code, signal) => {
        out.end();
        this.exit ??= this.stopping ? { kind: 'stopped' } : signal ? { kind: 'signalled', signal } : { kind: 'exited', code: code ?? 1 };
        resolveClosed();
        options.onChange();
      });
    });
    child.on('spawn', () => {
      this.started = true;
      options.onChange();
    });
    for (const stream of [child.stdout, child.stderr]) {
      stream.pipe(out, { end: false });
      createInterface({ input: stream }).on('line', (line) => {
        const next = scanLine(this.facts, line);
        if (next === this.facts) return;
        const shown = next.appId !== this.facts.appId || next.uiPort !== this.facts.uiPort;
        this.facts = next;
        if (shown) options.onChange();
      });
    }
  }

  /**
   * SIGTERM to the group, SIGKILL after `graceMs`. With `asStopped` the exit reads "stopped" (the
   * runner's doing), otherwise as the signal that ended it.
   */
  async stop(graceMs: number, asStopped: boolean): Promise<void> {
    this.stopping = asStopped;
    if (this.pid !== undefined) await stopProcess(this.pid, graceMs);
    await Promise.race([this.closed, sleep(PIPES_CLOSE_MS)]);
    if (asStopped) this.exit ??= { kind: 'stopped' };
  }
}

/** Stops the spark-submit whose pid `pidFile` names, if it still runs; 'absent' when there is none. */
export async function stopLeftoverDriver(pidFile: string, sparkSubmit: string, graceMs: number): Promise<'stopped' | 'killed' | 'absent'> {
  const pid = Number(await readFile(pidFile, 'utf8').catch(() => '0'));
  // Before the launcher script execs java, the command line names the script.
  if (!(pid > 0) || !(isRunning(pid, SPARK_SUBMIT_CLASS) || isRunning(pid, sparkSubmit))) return 'absent';
  return stopProcess(pid, graceMs);
}
