import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { debianSources, debootstrapArgs, parseDeb822Sources, parseSourcesList, sourcesListText } from '../../src/dev/debian-base.ts';

const DEB822 = `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main contrib
Enabled: no
`;

function etcApt(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'orchard-apt-'));
  mkdirSync(join(dir, 'sources.list.d'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

describe('the Debian base from the machine apt sources', () => {
  it('reads deb822 stanzas, one source per URI and suite, skipping deb-src and disabled ones', () => {
    expect(parseDeb822Sources(DEB822)).toEqual([
      { uri: 'http://deb.debian.org/debian', suite: 'bookworm', components: ['main'] },
      { uri: 'http://deb.debian.org/debian', suite: 'bookworm-updates', components: ['main'] },
    ]);
  });

  it('reads one-line entries with options and comments', () => {
    expect(parseSourcesList('# deb http://old bookworm main\ndeb [signed-by=/k.gpg] http://mirror/debian bookworm main contrib # local\ndeb-src http://mirror/debian bookworm main\n')).toEqual([
      { uri: 'http://mirror/debian', suite: 'bookworm', components: ['main', 'contrib'] },
    ]);
  });

  it("keeps the suite's own entries from the files apt reads, and bootstraps from the suite's mirror", () => {
    const dir = etcApt({
      'sources.list': 'deb http://mirror/debian-security bookworm-security main\n',
      'sources.list.d/debian.sources': DEB822,
      'sources.list.d/cloud.list': 'deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n',
      'sources.list.d/nodesource.sources.disabled-by-farm': 'Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: bookworm\nComponents: main\n',
    });
    const sources = debianSources('bookworm', dir);
    expect(sourcesListText(sources)).toBe('deb http://mirror/debian-security bookworm-security main\ndeb http://deb.debian.org/debian bookworm main\ndeb http://deb.debian.org/debian bookworm-updates main\n');
    expect(debootstrapArgs(sources, '/rootfs', 'bookworm')).toEqual(['--variant=minbase', '--include=ca-certificates', '--components=main', 'bookworm', '/rootfs', 'http://deb.debian.org/debian']);
  });

  it('refuses a machine with no source for the suite, saying what to add', () => {
    const dir = etcApt({ 'sources.list': 'deb http://deb.debian.org/debian trixie main\n' });
    expect(() => debianSources('bookworm', dir)).toThrow(/no apt source for Debian bookworm/);
  });
});
