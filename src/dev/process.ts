import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { OrchardError } from '../errors.ts';

export interface Started {
  readonly pid: number;
  readonly log: string;
}

/**
 * Starts a long-running server in its own process group, detached from this process so that it
 * outlives the CLI call that started it, with stdout and stderr appended to `log`.
 */
export function startDetached(command: string, args: readonly string[], log: string, env: NodeJS.ProcessEnv = process.env, cwd?: string): Started {
  const fd = openSync(log, 'a');
  try {
    const child = spawn(command, args, { detached: true, stdio: ['ignore', fd, fd], env, cwd });
    if (child.pid === undefined) {
      throw new OrchardError(`could not start ${command}`, 'check that the binary exists and is executable', { log });
    }
    child.unref();
    return { pid: child.pid, log };
  } finally {
    closeSync(fd);
  }
}

/**
 * True when `pid` is alive and runs `executable`. Checking the executable guards against a pid
 * that the kernel reused for another program after ours exited.
 */
export function isRunning(pid: number, executable: string): boolean {
  if (isGone(pid)) return false;
  try {
    const exe = readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, '');
    if (exe === executable) return true;
    // Interpreted servers (java, python) show their interpreter as exe; match the command line.
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(executable);
  } catch {
    return false;
  }
}

/** True when the process is gone or a zombie (exited but not yet reaped by its parent). */
export function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    return /^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

/** SIGTERM to the process group, then SIGKILL after `graceMs`; resolves when the leader is gone. */
export async function stopProcess(pid: number, graceMs = 10_000): Promise<'stopped' | 'killed' | 'absent'> {
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
      return true;
    } catch {
      try {
        process.kill(pid, sig);
        return true;
      } catch {
        return false;
      }
    }
  };
  if (isGone(pid) || !signal('SIGTERM')) return 'absent';
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (isGone(pid)) return 'stopped';
    await sleep(100);
  }
  signal('SIGKILL');
  while (!isGone(pid)) await sleep(50);
  return 'killed';
}

/** A TCP port on loopback that nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('could not read the port of a probe socket'));
        return;
      }
      server.close(() => resolvePort(address.port));
    });
  });
}

export interface WaitOptions {
  readonly what: string;
  readonly timeoutMs: number;
  readonly log: string;
  readonly pid: number;
  readonly executable: string;
  readonly hint: string;
}

/**
 * Polls `probe` until it returns true. Fails early, with the end of the server's log, when the
 * process exits, and with a timeout error otherwise: a server that never came up must say why.
 */
export async function waitUntilReady(probe: () => Promise<boolean>, options: WaitOptions): Promise<number> {
  const start = Date.now();
  let delay = 50;
  while (Date.now() - start < options.timeoutMs) {
    if (await probe().catch(() => false)) return Date.now() - start;
    if (!isRunning(options.pid, options.executable)) {
      throw new OrchardError(`${options.what} exited before it became ready`, options.hint, {
        log: options.log,
        'log tail': `\n${tail(options.log)}`,
      });
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 500);
  }
  throw new OrchardError(`${options.what} did not become ready within ${Math.round(options.timeoutMs / 1000)} s`, options.hint, {
    log: options.log,
    'log tail': `\n${tail(options.log)}`,
  });
}

/** The last lines of a log file, for error messages. */
export function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log written)';
  }
}
