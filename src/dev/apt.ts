import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OrchardError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { cacheRoot } from '../paths.ts';
import { withLock } from './lock.ts';
import { tail } from './process.ts';

/**
 * Installs Debian packages for a tool the tests need, unless `binary` (a file the packages
 * provide) already exists, and returns `binary`. Runs only as root on a machine with apt-get;
 * otherwise the error says how to install by hand (`hint`, by default the apt-get command line).
 * apt goes through the machine's configured mirror and cache, which a download at run time would not.
 */
export async function aptInstall(packages: readonly string[], binary: string, log: Logger, hint = `install it as root: apt-get update && apt-get install -y --no-install-recommends ${packages.join(' ')}`): Promise<string> {
  if (existsSync(binary)) return binary;
  const what = packages.join(' ');
  if (process.getuid?.() !== 0) {
    throw new OrchardError(`${what} is not installed (no ${binary}), and installing it needs root`, hint, { path: binary });
  }
  if (!existsSync('/usr/bin/apt-get')) {
    throw new OrchardError(`${what} is not installed (no ${binary}) and this machine has no apt-get to install it with`, hint, { path: binary });
  }
  // One lock for every package, not one per package: dpkg's own lock is machine-wide, so two
  // vitest workers installing different packages at once would fail just the same.
  await withLock(join(cacheRoot(), 'locks', 'apt-install.lock'), log, async () => {
    if (existsSync(binary)) return;
    const logs = join(cacheRoot(), 'logs');
    await mkdir(logs, { recursive: true });
    const logFile = join(logs, `apt-${packages.join('-')}.log`);
    await writeFile(logFile, '');
    const started = Date.now();
    log.info(`installing ${what} with apt-get (once per machine)`, { log: logFile });
    await apt(['update'], logFile, log, hint);
    await apt(['install', '-y', '--no-install-recommends', ...packages], logFile, log, hint);
    if (!existsSync(binary)) {
      throw new OrchardError(`apt-get installed ${what} but ${binary} does not exist`, 'read the apt log: the package may have a different layout on this distribution', { log: logFile });
    }
    log.info(`installed ${what}`, { path: binary, seconds: seconds(started) });
  });
  return binary;
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
