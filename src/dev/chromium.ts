import type { AptPackage } from './apt.ts';

/**
 * A headless-capable Chromium for rendering reports in tests, from Debian's `chromium` package.
 * Playwright's own browser download is not used: it fetches from a CDN at run time, while apt goes
 * through the machine's configured mirror and cache and keeps the browser patched with the rest
 * of the system.
 */
export const CHROMIUM: AptPackage = {
  name: 'chromium',
  binary: '/usr/bin/chromium',
  hint: 'install it as root: apt-get update && apt-get install -y --no-install-recommends chromium (Debian 12 and later; on Ubuntu the package is a snap, so install Chromium from another source that provides /usr/bin/chromium)',
};
