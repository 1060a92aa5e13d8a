import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OrchardError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { cacheRoot } from '../paths.ts';
import { withLock } from './lock.ts';
import { tail } from './process.ts';

/** A Debian package a tool comes from, and a file it provides that shows it is installed. */
export interface AptPackage {
  readonly name: string;
  readonly binary: string;
  /** How to install it by hand where orchard cannot (not root, no apt-get); by default the apt-get command line. */
  readonly hint?: string;
}

function installHint(packages: readonly AptPackage[]): string {
  const own = packages.map((p) => p.hint).filter(Boolean);
  return own.length ? own.join('; ') : `install as root: apt-get update && apt-get install -y --no-install-recommends ${packages.map((p) => p.name).join(' ')}`;
}

/**
 * Installs the packages whose binary is missing, in one apt-get call (one `apt-get update` for
 * all). Runs only as root on a machine with apt-get; otherwise the error says how to install by
 * hand. apt goes through the machine's configured mirror and cache, which a download at run time
 * would not.
 */
export async function aptInstall(packages: readonly AptPackage[], log: Logger): Promise<void> {
  const missing = () => packages.filter((p) => !existsSync(p.binary));
  if (missing().length === 0) return;
  const what = missing().map((p) => p.name).join(' ');
  const hint = installHint(missing());
  if (process.getuid?.() !== 0) {
    throw new OrchardError(`${what} not installed (no ${missing().map((p) => p.binary).join(', ')}), and installing needs root`, hint);
  }
  if (!existsSync('/usr/bin/apt-get')) {
    throw new OrchardError(`${what} not installed (no ${missing().map((p) => p.binary).join(', ')}) and this machine has no apt-get to install with`, hint);
  }
  // One lock for every package: dpkg's own lock is machine-wide, so two installs at once would fail just the same.
  await withLock(join(cacheRoot(), 'locks', 'apt-install.lock'), log, async () => {
    const wanted = missing();
    if (wanted.length === 0) return;
    const names = wanted.map((p) => p.name);
    const logs = join(cacheRoot(), 'logs');
    await mkdir(logs, { recursive: true });
    const logFile = join(logs, `apt-${names.join('-')}.log`);
    await writeFile(logFile, '');
    const started = Date.now();
    log.info(`installing ${names.join(' ')} with apt-get (once per machine)`, { log: logFile });
    await apt(['update'], logFile, log, hint);
    await apt(['install', '-y', '--no-install-recommends', ...names], logFile, log, hint);
    const absent = wanted.filter((p) => !existsSync(p.binary));
    if (absent.length) {
      throw new OrchardError(`apt-get installed ${names.join(' ')} but ${absent.map((p) => p.binary).join(', ')} does not exist`, 'read the apt log: the package may have a different layout on this distribution', { log: logFile });
    }
    log.info(`installed ${names.join(' ')}`, { seconds: seconds(started) });
  });
}

function apt(args: readonly string[], logFile: string, log: Logger, hint: string): Promise<void> {
  const started = Date.now();
  return new Promise((resolveRun, reject) => {
    const out = createWriteStream(logFile, { flags: 'a' });
    out.write(`\n$ apt-get ${args.join(' ')}\n`);
    // noninteractive: a package that asks a debconf question would otherwise wait for a terminal forever.
    const child = spawn('apt-get', args, { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    child.on('error', reject);
    child.on('close', (code) =>
      out.end(() => {
        if (code === 0) {
          log.info(`apt-get ${args[0]} done`, { seconds: seconds(started) });
          resolveRun();
          return;
        }
        reject(
          new OrchardError(`apt-get ${args.join(' ')} exited with ${code}`, `read the apt log; an unreachable mirror is worth a second run, otherwise ${hint}`, {
            log: logFile,
            'log tail': `\n${tail(logFile)}`,
          }),
        );
      }),
    );
  });
}

function seconds(since: number): number {
  return Math.round((Date.now() - since) / 100) / 10;
}
