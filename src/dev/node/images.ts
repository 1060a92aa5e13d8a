import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { OrchardError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { cacheRoot } from '../../paths.ts';
import { withLock } from '../lock.ts';
import { COREDNS_VERSION } from '../versions.ts';
import type { NodeBinaries } from './binaries.ts';
import type { NodeImage } from './node.ts';

/** An image that holds one static binary and nothing else. */
interface ScratchImage {
  readonly ref: string;
  readonly binary: string;
  readonly user: string;
}

function scratchImages(binaries: Pick<NodeBinaries, 'pause' | 'coredns'>): { pause: ScratchImage; coredns: ScratchImage } {
  return {
    // 65535: the uid of the upstream pause image.
    pause: { ref: 'docker.io/orchard/pause:v1', binary: binaries.pause, user: '65535:65535' },
    coredns: { ref: `docker.io/orchard/coredns:${COREDNS_VERSION}`, binary: binaries.coredns, user: '65532:65532' },
  };
}

function archivePath(image: ScratchImage): string {
  // Before the binary is built there is no archive to find: name one that cannot exist yet.
  const binary = existsSync(image.binary) ? readFileSync(image.binary) : 'not built';
  const digest = createHash('sha256').update(image.ref).update(image.user).update(binary).digest('hex').slice(0, 12);
  return join(cacheRoot(), 'images', `${image.ref.split('/').pop()!.replace(':', '-')}-${digest}.tar`);
}

/** Where the node's own images are once built; nothing is built here. */
export function nodeImageArchives(binaries: Pick<NodeBinaries, 'pause' | 'coredns'>): { pause: NodeImage; coredns: NodeImage } {
  const images = scratchImages(binaries);
  return {
    pause: { ref: images.pause.ref, archive: archivePath(images.pause) },
    coredns: { ref: images.coredns.ref, archive: archivePath(images.coredns) },
  };
}

function buildah(storage: string, args: readonly string[]): string {
  const result = spawnSync('buildah', ['--root', join(storage, 'root'), '--runroot', join(storage, 'run'), '--storage-driver', 'vfs', ...args], { encoding: 'utf8' });
  if (result.error || result.status !== 0) {
    throw new OrchardError(`\`buildah ${args.join(' ')}\` failed`, 'install buildah (Debian package buildah; `npm run setup` installs it) and read the error', {
      error: (result.stderr || result.error?.message || '').trim(),
    });
  }
  return result.stdout.trim();
}

/**
 * The pause and CoreDNS images, `FROM scratch` with the static binaries built here (the upstream
 * images cannot be pulled), as OCI archives named for what the node's pods reference.
 */
export async function ensureNodeImages(binaries: Pick<NodeBinaries, 'pause' | 'coredns'>, log: Logger): Promise<{ pause: NodeImage; coredns: NodeImage }> {
  const archives = nodeImageArchives(binaries);
  for (const [name, image] of Object.entries(scratchImages(binaries)) as [keyof typeof archives, ScratchImage][]) {
    const archive = archives[name].archive;
    if (existsSync(archive)) continue;
    await mkdir(join(cacheRoot(), 'images'), { recursive: true });
    await withLock(`${archive}.lock`, log, async () => {
      if (existsSync(archive)) return;
      const storage = join(cacheRoot(), 'images', `.buildah-${name}`);
      await rm(storage, { recursive: true, force: true });
      const container = buildah(storage, ['from', 'scratch']);
      buildah(storage, ['copy', container, image.binary, `/${name}`]);
      buildah(storage, ['config', '--entrypoint', JSON.stringify([`/${name}`]), '--user', image.user, container]);
      buildah(storage, ['commit', '--quiet', container, image.ref]);
      buildah(storage, ['push', image.ref, `oci-archive:${archive}.partial:${image.ref}`]);
      await rename(`${archive}.partial`, archive);
      await rm(storage, { recursive: true, force: true });
      log.info('built a node image', { image: image.ref, archive });
    });
  }
  return archives;
}
