import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../../src/paths.ts';

export type LogRecord = Record<string, unknown>;

/** `orchard <args>` as a child process, the way it runs in a pod or a terminal: JSON logs on stderr, signals, exit code. */
export class CliProcess {
  readonly logs: LogRecord[] = [];
  readonly child: ChildProcess;
  private readonly exited: Promise<number | null>;

  /** `entry` is the script node runs, with `nodeFlags`: the CLI by default, or a bundle such as the controller's. */
  constructor(args: readonly string[], env: NodeJS.ProcessEnv = {}, entry = join(REPO_ROOT, 'bin/orchard.mjs'), nodeFlags: readonly string[] = []) {
    this.child = spawn(process.execPath, [...nodeFlags, entry, ...args], {
      env: { ...process.env, ORCHARD_LOG_FORMAT: 'json', ORCHARD_LOG_LEVEL: 'debug', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buffer = '';
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      for (const line of lines) {
        try {
          this.logs.push(JSON.parse(line) as LogRecord);
        } catch {
          this.logs.push({ msg: line });
        }
      }
    });
    this.child.stdout!.resume();
    this.exited = new Promise((r) => this.child.on('exit', (code) => r(code)));
  }

  /** The first log record with this message (and matching `where`), once it is written. */
  async waitFor(msg: string, timeoutMs: number, where: (record: LogRecord) => boolean = () => true): Promise<LogRecord> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.logs.find((l) => l.msg === msg && where(l));
      if (found) return found;
      if (!this.running) throw new Error(`orchard exited ${this.child.exitCode ?? this.child.signalCode} before logging "${msg}":\n${this.tail()}`);
      if (Date.now() > deadline) throw new Error(`orchard did not log "${msg}" within ${timeoutMs / 1000} s:\n${this.tail()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  tail(n = 30): string {
    return this.logs.slice(-n).map((l) => JSON.stringify(l)).join('\n');
  }

  has(msg: string, where: (record: LogRecord) => boolean = () => true): boolean {
    return this.logs.some((l) => l.msg === msg && where(l));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.running) this.child.kill(signal);
    return this.exited;
  }

  exit(): Promise<number | null> {
    return this.exited;
  }
}
