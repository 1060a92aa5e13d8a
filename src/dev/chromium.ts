import type { Logger } from '../log.ts';
import { aptInstall } from './apt.ts';

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
export function ensureChromium(log: Logger): Promise<string> {
  return aptInstall(['chromium'], CHROMIUM_PATH, log, INSTALL_HINT);
}
