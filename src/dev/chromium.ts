import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OrchardError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { cacheRoot } from '../paths.ts';
import { withLock } from './lock.ts';
import { tail } from './process.ts';

/** Where Debian's `chromium` package puts the browser. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

const INSTALL_HINT =
  'install it as root: apt-get update && apt-get install -y --no-install-recommends chromium (Debian 12 and later; on Ubuntu the package is a snap, so install Chromium from another source that provides /usr/bin/chromium)';

/**
 * The path of a headless-capable Chromium for rendering reports in tests, installing Debian's
 * `chromium` package when it is missing and this process is root. Playwright's own browser
 * download is not used: it fetches from a CDN at run time, while apt goes through the machine's
 * configured mirror and cache and keeps the browser patched with the rest of the system.
 */
export async function ensureChromium(log: Logger): Promise<string> {
  if (existsSync(CHROMIUM_PATH)) return CHROMIUM_PATH;
  if (process.getuid?.() !== 0) {
    throw new OrchardError(`Chromium is not installed (no ${CHROMIUM_PATH}), and installing it needs root`, INSTALL_HINT, { path: CHROMIUM_PATH });
  }
  if (!existsSync('/usr/bin/apt-get')) {
    throw new OrchardError(`Chromium is not installed (no ${CHROMIUM_PATH}) and this machine has no apt-get to install it with`, INSTALL_HINT, { path: CHROMIUM_PATH });
  }
  // Two vitest workers may ask at once, and a second apt-get would fail on dpkg's lock.
  await withLock(join(cacheRoot(), 'locks', 'chromium-install.lock'), log, async () => {
    if (existsSync(CHROMIUM_PATH)) return;
    const logs = join(cacheRoot(), 'logs');
    await mkdir(logs, { recursive: true });
    const logFile = join(logs, 'apt-chromium.log');
    await writeFile(logFile, '');
    const started = Date.now();
    log.info('installing Chromium with apt-get (once per machine; takes a minute or two)', { log: logFile });
    await apt(['update'], logFile, log);
    await apt(['install', '-y', '--no-install-recommends', 'chromium'], logFile, log);
    if (!existsSync(CHROMIUM_PATH)) {
      throw new OrchardError(`apt-get installed chromium but ${CHROMIUM_PATH} does not exist`, 'read the apt log: the package may have a different layout on this distribution', {
        log: logFile,
      });
    }
    log.info('installed Chromium', { path: CHROMIUM_PATH, seconds: seconds(started) });
  });
  return CHROMIUM_PATH;
}

function apt(args: readonly string[], logFile: string, log: Logger): Promise<void> {
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
          new OrchardError(`apt-get ${args.join(' ')} exited with ${code}`, `read the apt log; an unreachable mirror is worth a second run, otherwise ${INSTALL_HINT}`, {
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
