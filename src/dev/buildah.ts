import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { cp, mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { OrchardError } from '../errors.ts';
import { cacheRoot } from '../paths.ts';
import type { AptPackage } from './apt.ts';
import { tail } from './process.ts';

/** Builds images without a daemon (Debian bookworm's 1.28: no ADD --checksum, no --build-context). */
export const BUILDAH: AptPackage = { name: 'buildah', binary: '/usr/bin/buildah' };

/** orchard's own image storage, apart from the machine's /var/lib/containers and from containerd's. */
export function buildahDir(): string {
  return join(cacheRoot(), 'buildah');
}

/**
 * overlay, not vfs: vfs stores every layer as a full copy of the filesystem below it, which for the
 * job image's layers is gigabytes and minutes of copying; as root on ext4 the kernel's overlayfs works.
 */
function storageArgs(): string[] {
  return ['--storage-driver', 'overlay', '--root', join(buildahDir(), 'storage'), '--runroot', join(buildahDir(), 'run')];
}

/**
 * How RUN steps and `buildah run` execute: chroot isolation needs no OCI runtime setup, user
 * namespace or CNI network of its own, and the host network reaches the package registries
 * (apt, PyPI, Maven Central) as the rest of setup does.
 */
const RUN_ARGS = ['--isolation', 'chroot', '--network', 'host'];

export interface CommandRun {
  readonly stdout: string;
  readonly code: number;
}

/** Runs a build step's command with its output appended to `logFile`; returns its stdout and exit code. */
export function runLogged(command: string, args: readonly string[], logFile: string): Promise<CommandRun> {
  return new Promise((resolveRun, reject) => {
    const out = createWriteStream(logFile, { flags: 'a' });
    out.write(`\n$ ${command} ${args.join(' ')}\n`);
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    child.on('error', reject);
    child.on('close', (code) => out.end(() => resolveRun({ stdout: Buffer.concat(chunks).toString('utf8').trim(), code: code ?? 1 })));
  });
}

/** As `runLogged`, failing with the end of the log when the command fails; returns its stdout. */
export async function mustRun(command: string, args: readonly string[], logFile: string, what: string): Promise<string> {
  const run = await runLogged(command, args, logFile);
  if (run.code !== 0) {
    throw new OrchardError(`${what} failed (${basename(command)} exited with ${run.code})`, 'read the build log; a registry or mirror that did not answer is worth a second run', {
      log: logFile,
      'log tail': `\n${tail(logFile, 25)}`,
    });
  }
  return run.stdout;
}

/** buildah with orchard's storage; see `runLogged`. */
export function buildahRaw(args: readonly string[], logFile: string): Promise<CommandRun> {
  return runLogged(BUILDAH.binary, [...storageArgs(), ...args], logFile);
}

/** buildah with orchard's storage; see `mustRun`. */
export function buildah(args: readonly string[], logFile: string, what: string): Promise<string> {
  return mustRun(BUILDAH.binary, [...storageArgs(), ...args], logFile, what);
}

/** True when orchard's storage holds an image by this name. */
export async function imageExists(ref: string, logFile: string): Promise<boolean> {
  return (await buildahRaw(['inspect', '--type', 'image', '--format', '{{.FromImageID}}', ref], logFile)).code === 0;
}

export interface BudOptions {
  readonly ref: string;
  readonly dockerfile: string;
  readonly context: string;
  readonly buildArgs: Readonly<Record<string, string>>;
  readonly logFile: string;
}

/**
 * How `buildah bud` builds a Dockerfile, part of every image's digest. --layers keeps each step, so
 * a later change rebuilds only from there. --format docker: in the OCI format buildah ignores SHELL
 * (it has no field for it), so RUN would use /bin/sh where docker uses the Dockerfile's bash with
 * pipefail; the archive is converted to OCI on export all the same.
 */
export const BUD_FLAGS: readonly string[] = ['--layers', '--pull-never', '--format', 'docker', ...RUN_ARGS];

/** `buildah bud` of one Dockerfile. */
export async function buildDockerfile(options: BudOptions): Promise<void> {
  const args = Object.entries(options.buildArgs).flatMap(([key, value]) => ['--build-arg', `${key}=${value}`]);
  await buildah(['bud', ...BUD_FLAGS, '-f', options.dockerfile, ...args, '-t', options.ref, options.context], options.logFile, `building ${options.ref} from ${options.dockerfile}`);
}

/**
 * Writes `ref` as an OCI archive whose one image is named `name`, the name `ctr images import`
 * gives it; written aside and renamed, so a reader never sees half an archive.
 */
export async function exportArchive(ref: string, archive: string, name: string, logFile: string): Promise<void> {
  await mkdir(dirname(archive), { recursive: true });
  const partial = `${archive}.partial`;
  await rm(partial, { force: true });
  await buildah(['push', '--quiet', ref, `oci-archive:${partial}:${name}`], logFile, `exporting ${ref} to ${archive}`);
  await rename(partial, archive);
}

/**
 * Copies one file out of an image in orchard's storage (a working container, mounted and removed
 * again); false when the storage does not hold the image.
 */
export async function copyOutOfImage(image: string, path: string, target: string, logFile: string): Promise<boolean> {
  if (!(await imageExists(image, logFile))) return false;
  const container = await fromImage(image, logFile);
  try {
    const root = await buildah(['mount', container], logFile, `mounting a working container of ${image}`);
    await cp(join(root, path), target);
  } finally {
    await buildahRaw(['rm', container], logFile);
  }
  return true;
}

/** A working container from an image (or `scratch`), as `buildah from` makes it; returns its id. */
export function fromImage(image: string, logFile: string): Promise<string> {
  return buildah(['from', '--pull-never', image], logFile, `starting a working container from ${image}`);
}

/**
 * Runs a command in a working container (chroot isolation, host network) and returns its stdout.
 * The host's hostname too: buildah would name the container by its id, which nothing resolves, and
 * the JVM's InetAddress.getLocalHost fails on it.
 */
export function runIn(container: string, command: readonly string[], logFile: string, user?: string): Promise<string> {
  return buildah(['run', ...RUN_ARGS, '--uts', 'host', ...(user ? ['--user', user] : []), container, '--', ...command], logFile, `running ${command.join(' ')}`);
}
