import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OrchardError } from '../errors.ts';
import type { AptPackage } from './apt.ts';

/** Makes the Debian root filesystem that every local image starts from. */
export const DEBOOTSTRAP: AptPackage = { name: 'debootstrap', binary: '/usr/sbin/debootstrap' };

/** The release of the local images: the job's and controller's production bases are bookworm too. */
export const DEBIAN_SUITE = 'bookworm';

/** One `deb` source of the machine's apt configuration. */
export interface AptSource {
  readonly uri: string;
  readonly suite: string;
  readonly components: readonly string[];
}

/** The `deb` entries of one-line sources.list text. */
export function parseSourcesList(text: string): AptSource[] {
  return text
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter((line) => line.startsWith('deb '))
    .map((line) => line.slice(4).replace(/^\[[^\]]*\]\s*/, '').split(/\s+/))
    .filter((words) => words.length >= 3)
    .map(([uri, suite, ...components]) => ({ uri: uri!, suite: suite!, components }));
}

/** The `deb` entries of deb822 .sources text (stanzas separated by blank lines; `Enabled: no` skips one). */
export function parseDeb822Sources(text: string): AptSource[] {
  return text
    .split(/\n\s*\n/)
    .map((stanza) => {
      const fields = new Map<string, string>();
      for (const line of stanza.split('\n')) {
        const match = /^([\w-]+):\s*(.*)$/.exec(line);
        if (match && !line.startsWith('#')) fields.set(match[1]!.toLowerCase(), match[2]!.trim());
      }
      return fields;
    })
    .filter((fields) => (fields.get('types') ?? '').split(/\s+/).includes('deb') && fields.get('enabled')?.toLowerCase() !== 'no')
    .flatMap((fields) => {
      const words = (name: string) => (fields.get(name) ?? '').split(/\s+/).filter(Boolean);
      return words('uris').flatMap((uri) => words('suites').map((suite) => ({ uri, suite, components: words('components') })));
    });
}

/**
 * The machine's Debian sources for `suite` and its -updates and -security suites, read from
 * /etc/apt/sources.list and sources.list.d (files that apt itself would read: *.list and *.sources).
 */
export function debianSources(suite = DEBIAN_SUITE, etcApt = '/etc/apt'): AptSource[] {
  const files = [join(etcApt, 'sources.list'), ...(existsSync(join(etcApt, 'sources.list.d')) ? readdirSync(join(etcApt, 'sources.list.d')).sort().map((name) => join(etcApt, 'sources.list.d', name)) : [])];
  const sources = files
    .filter((file) => existsSync(file))
    .flatMap((file) => (file.endsWith('.sources') ? parseDeb822Sources(readFileSync(file, 'utf8')) : file.endsWith('.list') ? parseSourcesList(readFileSync(file, 'utf8')) : []));
  const ours = sources.filter((source) => source.suite === suite || source.suite.startsWith(`${suite}-`));
  if (!ours.some((source) => source.suite === suite)) {
    throw new OrchardError(`no apt source for Debian ${suite} in ${etcApt}/sources.list or sources.list.d: the local images are bootstrapped from the machine's own mirror`, `add the mirror the machine uses, e.g. "deb http://deb.debian.org/debian ${suite} main" in ${etcApt}/sources.list`);
  }
  return ours;
}

/** The sources.list the image gets: the same mirror, so `apt-get install` in a build reaches what the host reaches. */
export function sourcesListText(sources: readonly AptSource[]): string {
  return sources.map((source) => `deb ${source.uri} ${source.suite} ${source.components.join(' ')}\n`).join('');
}

/**
 * The certificate authorities this machine adds to Debian's (update-ca-certificates reads them from
 * here). Where the network reaches PyPI and Maven Central through a TLS proxy, its CA is one of them,
 * and a build that does not trust it cannot download anything.
 */
export const LOCAL_CA_DIR = '/usr/local/share/ca-certificates';

/**
 * debootstrap's command line for a minbase root filesystem from the suite's own mirror entry:
 * essential packages and apt only, the smallest Debian that can install the rest, plus
 * ca-certificates, so that the machine's own CAs can be added before any build downloads.
 */
export function debootstrapArgs(sources: readonly AptSource[], target: string, suite = DEBIAN_SUITE): string[] {
  const main = sources.find((source) => source.suite === suite)!;
  return ['--variant=minbase', '--include=ca-certificates', `--components=${main.components.join(',')}`, suite, target, main.uri];
}
