/**
 * orchard's container images, built here with buildah from the project's own files and exported as
 * OCI archives that the local node imports (`ctr -n k8s.io images import <archive>`):
 *
 *   debian      debootstrap --variant=minbase bookworm from the machine's own apt mirror
 *   spark-base  spark-images/spark-base/Dockerfile: stands in for the EMR on EKS base        (archive)
 *   python      spark-images/python-build/Dockerfile: stands in for python:3.11-slim-bookworm
 *   calibration the Fruits-360 photos the int8 model is calibrated on, as an image
 *   job         spark-images/resnet50-cpu/Dockerfile, production's file, FROM the three above (archive)
 *   node        debian + the Node 20 that runs orchard: stands in for node:20-bookworm-slim
 *   controller  images/controller/Dockerfile FROM node, context dist/controller/              (archive)
 *
 * Each image is cached by a digest of all its inputs (Dockerfile, context files, build arguments,
 * the digests of the images it is built from, the buildah and debootstrap versions): any change
 * rebuilds that image and those built from it, nothing else. A build context is staged from the
 * listed files only, so nothing outside the digest can reach an image.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { cp, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { DEV_IMAGES } from '../../cdk8s/stages.ts';
import { OrchardError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { cacheRoot, REPO_ROOT, SHARED_DIR } from '../paths.ts';
import { MODEL_FILES, type Precision } from '../spark/application.ts';
import { BUD_FLAGS, buildah, BUILDAH, buildahDir, buildahRaw, buildDockerfile, copyOutOfImage, exportArchive, fromImage, imageExists, mustRun } from './buildah.ts';
import { CONTROLLER_BUNDLE } from './controller-bundle.ts';
import { DEBOOTSTRAP, debianSources, debootstrapArgs, LOCAL_CA_DIR, sourcesListText } from './debian-base.ts';
import { withLock } from './lock.ts';
import { SPARK_IMAGES_DIR } from './python.ts';

/** An image as the node imports it: the name pods reference, and the OCI archive that holds it under that name. */
export interface BuiltImage {
  readonly ref: string;
  readonly archive: string;
}

export interface OrchardImages {
  readonly sparkBase: BuiltImage;
  readonly job: BuiltImage;
  readonly controller: BuiltImage;
}

/** A file or folder copied into an image; a folder's contents land in `to`. */
export interface ImageFile {
  readonly from: string;
  readonly to: string;
  /** Octal permissions of what is copied, e.g. 0o755; by default the source's own. */
  readonly mode?: number;
}

/** A small image made of a few files, for example a static binary `FROM scratch`. */
export interface FilesImageSpec {
  /** What the files go on: nothing, or the Spark base (a program that runs spark-submit in its pod). @default 'scratch' */
  readonly base?: 'scratch' | 'spark-base';
  /** Short name: the archive is `<cache>/images/<name>-<digest>.tar`. */
  readonly name: string;
  /** The name inside the archive, which `ctr images import` gives the image, e.g. `localhost:5000/orchard/pause:3.10`. */
  readonly ref: string;
  readonly files: readonly ImageFile[];
  readonly entrypoint: readonly string[];
  /** `uid[:gid]` the container runs as. @default root */
  readonly user?: string;
}

/** Which weights the local job image's model gets (build_args.py): seeded random, as no download is possible here. */
const LOCAL_WEIGHTS = 'random';

/** The real photos the job image's int8 model is calibrated and checked on. */
export const CALIBRATION_DIR = join(SHARED_DIR, 'data', 'fruits-360', 'Training');

const JOB_DOCKERFILE = join(SPARK_IMAGES_DIR, 'resnet50-cpu', 'Dockerfile');
const CONTROLLER_DOCKERFILE = join(REPO_ROOT, 'images', 'controller', 'Dockerfile');

/** One image to have: how to make it, from what, and whether it is exported. */
interface ImagePlan {
  readonly name: string;
  /** sha256 of every input, the bases' digests included. */
  readonly digest: string;
  readonly bases: readonly ImagePlan[];
  /** Where the archive goes and the name inside it; absent for images that only other builds use. */
  readonly archive?: { readonly file: string; readonly name: string };
  readonly build: (ref: string, logFile: string) => Promise<void>;
}

/**
 * The name a dev image is imported under: its release tag plus its inputs' digest, so that a
 * rebuilt image gets a new name and the pods that reference it are replaced. With the tag alone,
 * a running Deployment would keep the image it started with.
 */
export function devImageRef(image: string, digest: string): string {
  return `${DEV_IMAGES.registry}/${image}-${short(digest)}`;
}

function short(digest: string): string {
  return digest.slice(0, 16);
}

/** The name in orchard's buildah storage; the digest as its tag keeps every version apart. */
function localRef(plan: ImagePlan): string {
  return `${localRepository(plan)}:${short(plan.digest)}`;
}

function localRepository(plan: ImagePlan): string {
  return `localhost/orchard-build/${plan.name}`;
}

/** The archive's digest covers the name inside it too: a renamed image gets a new archive. */
function archive(name: string, digest: string, archiveName: string): { readonly file: string; readonly name: string } {
  return { file: join(cacheRoot(), 'images', `${name}-${short(sha256([digest, archiveName]))}.tar`), name: archiveName };
}

function logFileOf(plan: ImagePlan): string {
  return join(cacheRoot(), 'logs', `image-${plan.name}-${short(plan.digest)}.log`);
}

function sha256(value: unknown): string {
  return createHash('sha256').update(typeof value === 'string' ? value : JSON.stringify(value)).digest('hex');
}

/** Bytecode caches appear beside the job's sources whenever the tests run; they are no input. */
const IGNORED = (name: string) => name === '__pycache__' || name.endsWith('.pyc');

/**
 * sha256 of files and folders: every file's path (relative to `root`), whether it is executable,
 * and its content, in a fixed order.
 */
function treeDigest(root: string, paths: readonly string[]): string {
  const hash = createHash('sha256');
  const visit = (relative: string) => {
    const path = join(root, relative);
    const stats = statSync(path);
    if (stats.isDirectory()) {
      for (const entry of readdirSync(path).filter((name) => !IGNORED(name)).sort()) visit(join(relative, entry));
      return;
    }
    hash.update(`${relative}\0${stats.mode & 0o111 ? 'x' : '-'}\0${stats.size}\0`);
    hash.update(readFileSync(path));
  };
  for (const path of paths) visit(path);
  return hash.digest('hex');
}

/** The versions of the build tools: a new buildah or debootstrap may build different images. */
function toolVersions(): string {
  const result = spawnSync('dpkg-query', ['-W', '-f', '${Package}=${Version}\\n', BUILDAH.name, DEBOOTSTRAP.name], { encoding: 'utf8' });
  const versions = result.stdout.trim().split('\n').filter((line) => /=.+/.test(line));
  if (result.status !== 0 || versions.length !== 2) {
    throw new OrchardError(`buildah and debootstrap are not both installed (dpkg-query found: ${versions.join(', ') || 'neither'})`, 'run `npm run setup`, which installs them with apt-get');
  }
  return versions.join(' ');
}

function debianPlan(tools: string): ImagePlan {
  const sources = debianSources();
  const sourcesList = sourcesListText(sources);
  const localCas = existsSync(LOCAL_CA_DIR) ? treeDigest(LOCAL_CA_DIR, ['.']) : 'none';
  const digest = sha256({ kind: 'debootstrap', tools, args: debootstrapArgs(sources, 'TARGET'), sourcesList, localCas });
  return {
    name: 'debian',
    digest,
    bases: [],
    build: async (ref, logFile) => {
      const rootfs = join(buildahDir(), 'rootfs', short(digest));
      await rm(rootfs, { recursive: true, force: true });
      await mkdir(rootfs, { recursive: true });
      try {
        await mustRun(DEBOOTSTRAP.binary, debootstrapArgs(sources, rootfs), logFile, 'debootstrap of the Debian base');
        // The image's apt reaches what the host's reaches (updates and security too); package lists are fetched per build.
        await writeFile(join(rootfs, 'etc', 'apt', 'sources.list'), sourcesList);
        // The images trust what the machine trusts, so that their builds download through its network
        // (a TLS proxy's CA, for one). These images run only on this machine; production bases never see it.
        if (existsSync(LOCAL_CA_DIR)) {
          await cp(LOCAL_CA_DIR, join(rootfs, LOCAL_CA_DIR), { recursive: true });
          await mustRun('chroot', [rootfs, 'update-ca-certificates'], logFile, "adding the machine's CAs to the Debian base");
        }
        for (const dir of ['var/lib/apt/lists', 'var/cache/apt/archives']) {
          for (const entry of await readdir(join(rootfs, dir))) if (entry !== 'partial' && entry !== 'lock') await rm(join(rootfs, dir, entry), { recursive: true, force: true });
        }
        const container = await fromImage('scratch', logFile);
        const mount = await buildah(['mount', container], logFile, 'mounting the Debian base');
        // cp -a keeps owners, modes, links and special files, which a copy into the image by buildah would reset to root.
        await mustRun('cp', ['-a', `${rootfs}/.`, mount], logFile, 'copying the Debian root filesystem into the image');
        await buildah(['umount', container], logFile, 'unmounting the Debian base');
        await buildah(['config', '--cmd', '["/bin/bash"]', '--env', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', container], logFile, 'configuring the Debian base');
        await buildah(['commit', '--quiet', '--rm', container, ref], logFile, 'committing the Debian base');
      } finally {
        await rm(rootfs, { recursive: true, force: true });
      }
    },
  };
}

interface DockerfileImage {
  readonly name: string;
  readonly dockerfile: string;
  /** The folder the listed context files are taken from. */
  readonly context: string;
  /** Files and folders (relative to `context`) that make up the build context; nothing else is sent. */
  readonly files: readonly string[];
  readonly args: Readonly<Record<string, string>>;
  readonly bases: readonly ImagePlan[];
  /**
   * A base used only as a stage that others copy from. buildah 1.28 leaves that stage's working
   * container behind (mounted) after every build; no other build uses this image, so its containers
   * are removed once the build is over.
   */
  readonly stageOnly?: ImagePlan;
  readonly archiveName?: (digest: string) => string;
}

async function removeContainersOf(imageName: string, logFile: string): Promise<void> {
  const listed = await buildah(['containers', '--noheading', '--notruncate', '--format', '{{.ContainerID}} {{.ImageName}}'], logFile, 'listing working containers');
  for (const [id, name] of listed.split('\n').filter(Boolean).map((line) => line.trim().split(/\s+/))) {
    if (name === imageName) await buildah(['rm', id!], logFile, `removing the working container ${id} of ${imageName}`);
  }
}

function dockerfilePlan(image: DockerfileImage, tools: string): ImagePlan {
  const digest = sha256({
    kind: 'dockerfile',
    tools,
    flags: BUD_FLAGS,
    dockerfile: readFileSync(image.dockerfile, 'utf8'),
    context: treeDigest(image.context, image.files),
    args: image.args,
    bases: image.bases.map((base) => base.digest),
  });
  return {
    name: image.name,
    digest,
    bases: image.bases,
    ...(image.archiveName ? { archive: archive(image.name, digest, image.archiveName(digest)) } : {}),
    build: async (ref, logFile) => {
      const staged = join(buildahDir(), 'contexts', `${image.name}-${short(digest)}`);
      await rm(staged, { recursive: true, force: true });
      await mkdir(staged, { recursive: true });
      try {
        for (const file of image.files) await cp(join(image.context, file), join(staged, file), { recursive: true, filter: (source) => !IGNORED(basename(source)) });
        await buildDockerfile({ ref, dockerfile: image.dockerfile, context: staged, buildArgs: image.args, logFile });
      } finally {
        await rm(staged, { recursive: true, force: true });
        if (image.stageOnly) await removeContainersOf(localRef(image.stageOnly), logFile);
      }
    },
  };
}

interface FilesImage {
  readonly name: string;
  /** Built on this image; `scratch` (nothing) when absent. */
  readonly base?: ImagePlan;
  readonly files: readonly ImageFile[];
  readonly entrypoint?: readonly string[];
  readonly user?: string;
  readonly archiveName?: string;
}

function filesPlan(image: FilesImage, tools: string): ImagePlan {
  const digest = sha256({
    kind: 'files',
    tools,
    base: image.base?.digest ?? 'scratch',
    files: image.files.map((file) => ({ to: file.to, mode: file.mode, content: treeDigest(file.from, ['.']) })),
    entrypoint: image.entrypoint,
    user: image.user,
  });
  return {
    name: image.name,
    digest,
    bases: image.base ? [image.base] : [],
    ...(image.archiveName ? { archive: archive(image.name, digest, image.archiveName) } : {}),
    build: async (ref, logFile) => {
      const container = await fromImage(image.base ? localRef(image.base) : 'scratch', logFile);
      for (const file of image.files) {
        await buildah(['copy', ...(file.mode === undefined ? [] : ['--chmod', file.mode.toString(8)]), container, file.from, file.to], logFile, `copying ${file.from} into ${image.name}`);
      }
      const config = [...(image.entrypoint ? ['--entrypoint', JSON.stringify(image.entrypoint)] : []), ...(image.user ? ['--user', image.user] : [])];
      if (config.length) await buildah(['config', ...config, container], logFile, `configuring ${image.name}`);
      await buildah(['commit', '--quiet', '--rm', container, ref], logFile, `committing ${image.name}`);
    },
  };
}

/** The job image's build arguments from resnet50-cpu/build_args.py, the script production's build.sh uses too. */
function jobBuildArgs(calibrationImage: string): Record<string, string> {
  const script = join(SPARK_IMAGES_DIR, 'resnet50-cpu', 'build_args.py');
  const result = spawnSync('python3', [script, '--weights', LOCAL_WEIGHTS, '--calibration-image', calibrationImage], { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new OrchardError(`${script} failed (exit ${result.status ?? result.error?.message})`, 'run it by hand to see why; it needs python3 and reads orchard_featurize/image_layout.json and versions.env', { stderr: result.stderr });
  }
  return Object.fromEntries(result.stdout.trim().split('\n').map((line) => line.replace(/^--build-arg=/, '').split(/=(.*)/s).slice(0, 2) as [string, string]));
}

/** What the images need before their digests can be taken; empty when everything is there. */
function missingInputs(): string[] {
  return [
    ...(existsSync(CONTROLLER_BUNDLE) ? [] : [`the controller bundle ${CONTROLLER_BUNDLE} (npm run build:controller)`]),
    ...(existsSync(CALIBRATION_DIR) ? [] : [`the calibration photos ${CALIBRATION_DIR} (the Fruits-360 sample in ../shared)`]),
    ...(existsSync(BUILDAH.binary) && existsSync(DEBOOTSTRAP.binary) ? [] : ['buildah and debootstrap (Debian packages)']),
  ];
}

/** Every image and how they depend on each other; computing it hashes the inputs and builds nothing. */
function plans(): { sparkBase: ImagePlan; job: ImagePlan; controller: ImagePlan } {
  const missing = missingInputs();
  if (missing.length) throw new OrchardError(`cannot build orchard's images without ${missing.join(', ')}`, 'run `npm run setup`, which makes them in order');
  if (!process.versions.node.startsWith('20.')) {
    throw new OrchardError(`the controller image's local base copies the Node that runs orchard, which is ${process.version}, not Node 20 (the production base's major)`, 'run orchard with Node 20');
  }
  const tools = toolVersions();
  const debian = debianPlan(tools);
  const onDebian = (name: string, folder: string, files: readonly string[], archiveName?: (digest: string) => string) =>
    dockerfilePlan({ name, dockerfile: join(folder, 'Dockerfile'), context: folder, files, args: { DEBIAN_IMAGE: localRef(debian) }, bases: [debian], ...(archiveName ? { archiveName } : {}) }, tools);
  const sparkBase = onDebian('spark-base', join(SPARK_IMAGES_DIR, 'spark-base'), ['entrypoint.sh', 'requirements.txt'], (digest) => `${DEV_IMAGES.registry}/orchard/spark-base:${short(digest)}`);
  const python = onDebian('python', join(SPARK_IMAGES_DIR, 'python-build'), []);
  const calibration = filesPlan({ name: 'calibration', files: [{ from: CALIBRATION_DIR, to: '/' }] }, tools);
  const job = dockerfilePlan(
    {
      name: 'resnet50-cpu',
      dockerfile: JOB_DOCKERFILE,
      context: SPARK_IMAGES_DIR,
      // What the Dockerfile copies; a file it copies but this list lacks fails the build, not the digest.
      files: ['requirements.txt', 'requirements-model.txt', 'featurize.py', 'orchard_featurize'],
      // The stand-in base is pip's PySpark, which has no S3A jars; EMR's has its own.
      args: { ...jobBuildArgs(localRef(calibration)), BASE_IMAGE: localRef(sparkBase), BUILD_IMAGE: localRef(python), ADD_S3A_JARS: 'true' },
      bases: [sparkBase, python, calibration],
      stageOnly: calibration,
      archiveName: (digest) => devImageRef(DEV_IMAGES.images.job, digest),
    },
    tools,
  );
  const node = filesPlan({ name: 'node', base: debian, files: [{ from: process.execPath, to: '/usr/local/bin/node', mode: 0o755 }] }, tools);
  const controllerDir = join(CONTROLLER_BUNDLE, '..');
  const controller = dockerfilePlan(
    {
      name: 'controller',
      dockerfile: CONTROLLER_DOCKERFILE,
      context: controllerDir,
      files: readdirSync(controllerDir).sort(),
      args: { NODE_IMAGE: localRef(node) },
      bases: [node],
      archiveName: (digest) => devImageRef(DEV_IMAGES.images.controller, digest),
    },
    tools,
  );
  return { sparkBase, job, controller };
}

function builtImage(plan: ImagePlan): BuiltImage {
  return { ref: plan.archive!.name, archive: plan.archive!.file };
}

/**
 * Where the images' archives are and what they are called, without building anything (tests find
 * them here); throws when an input is missing.
 */
export function imageArchives(): OrchardImages {
  const { sparkBase, job, controller } = plans();
  return { sparkBase: builtImage(sparkBase), job: builtImage(job), controller: builtImage(controller) };
}

/** The archives' paths, or none while an input is missing (setup has not made it yet). */
export function imageArchivePaths(): string[] {
  if (missingInputs().length) return [];
  return Object.values(imageArchives()).map((image) => image.archive);
}

/**
 * Has `plan` in orchard's storage: its bases first, then a build, unless the storage holds it
 * already. Memoized per call, and locked per image, so that concurrent callers build it once.
 */
function stored(plan: ImagePlan, log: Logger, memo: Map<ImagePlan, Promise<void>>): Promise<void> {
  if (!memo.has(plan)) {
    memo.set(
      plan,
      withLock(join(cacheRoot(), 'locks', `image-${plan.name}.lock`), log, async () => {
        const ref = localRef(plan);
        const logFile = logFileOf(plan);
        await mkdir(dirname(logFile), { recursive: true });
        if (await imageExists(ref, logFile)) return;
        await Promise.all(plan.bases.map((base) => stored(base, log, memo)));
        const started = Date.now();
        log.info(`building image ${plan.name}`, { ref, log: logFile });
        await plan.build(ref, logFile);
        log.info(`built image ${plan.name}`, { ref, seconds: seconds(started) });
      }),
    );
  }
  return memo.get(plan)!;
}

/**
 * Has `plan`'s archive: one that exists is enough (a warm run costs seconds); otherwise the image
 * is stored (built if need be) and exported. A base's export runs beside the builds on top of it.
 */
function exported(plan: ImagePlan, log: Logger, memo: Map<ImagePlan, Promise<void>>): Promise<BuiltImage> {
  const archive = plan.archive!;
  return withLock(join(cacheRoot(), 'locks', `archive-${plan.name}.lock`), log, async () => {
    if (!existsSync(archive.file)) {
      await stored(plan, log, memo);
      const started = Date.now();
      await exportArchive(localRef(plan), archive.file, archive.name, logFileOf(plan));
      await removeOlderArchives(plan);
      await removeOlderImages(plan, log);
      log.info(`exported image ${plan.name}`, { name: archive.name, archive: archive.file, mib: Math.round((await stat(archive.file)).size / 2 ** 20), seconds: seconds(started) });
    }
    return { ref: archive.name, archive: archive.file };
  });
}

/** An image's earlier archives are stale once its inputs changed; each holds hundreds of MiB. */
async function removeOlderArchives(plan: ImagePlan): Promise<void> {
  const dir = join(cacheRoot(), 'images');
  const current = basename(plan.archive!.file);
  for (const entry of await readdir(dir)) {
    if (entry !== current && new RegExp(`^${plan.name}-[0-9a-f]{16}\\.tar$`).test(entry)) await rm(join(dir, entry), { force: true });
  }
}

/**
 * Earlier builds of an image and of its bases are stale once their inputs changed: each holds
 * hundreds of MiB of layers in orchard's storage. Removing their names frees the layers only they
 * use; the layer cache of `--layers` stays. The image first, then its bases: an old base is still
 * the parent of old images built on it, and one held by another image's old build stays until that
 * image is built again.
 */
async function removeOlderImages(plan: ImagePlan, log: Logger): Promise<void> {
  const logFile = logFileOf(plan);
  const walk = (p: ImagePlan): ImagePlan[] => [p, ...p.bases.flatMap(walk)];
  for (const each of [...new Set(walk(plan))]) {
    const listed = await buildahRaw(['images', '--format', '{{.Name}}:{{.Tag}}', '--filter', `reference=${localRepository(each)}`], logFile);
    const older = listed.stdout.split('\n').map((line) => line.trim()).filter((ref) => ref && ref !== localRef(each));
    const removed: string[] = [];
    for (const ref of older) if ((await buildahRaw(['rmi', ref], logFile)).code === 0) removed.push(ref);
    if (removed.length) log.info(`removed older builds of image ${each.name}`, { removed, kept: older.filter((ref) => !removed.includes(ref)) });
  }
}

function seconds(since: number): number {
  return Math.round((Date.now() - since) / 100) / 10;
}

/** Builds (or finds) the Spark base, job and controller images and their archives. */
export async function ensureImages(log: Logger): Promise<OrchardImages> {
  const { sparkBase, job, controller } = plans();
  const memo = new Map<ImagePlan, Promise<void>>();
  const [base, built, controllerImage] = await Promise.all([exported(sparkBase, log, memo), exported(job, log, memo), exported(controller, log, memo)]);
  return { sparkBase: base, job: built, controller: controllerImage };
}

/**
 * Copies a model out of the job image that `ensureImages` built, to `target`; false when orchard's
 * storage no longer holds that build (its archive alone was kept).
 */
export async function copyJobImageModel(precision: Precision, target: string): Promise<boolean> {
  const { job } = plans();
  return copyOutOfImage(localRef(job), MODEL_FILES[precision], target, logFileOf(job));
}

/** A files image's plan: on scratch (a static binary and what it reads) or on the Spark base. */
function filesImagePlan(spec: FilesImageSpec): ImagePlan {
  const base = spec.base === 'spark-base' ? { base: plans().sparkBase } : {};
  return filesPlan({ name: spec.name, ...base, files: spec.files, entrypoint: spec.entrypoint, ...(spec.user ? { user: spec.user } : {}), archiveName: spec.ref }, toolVersions());
}

/** Where a files image's archive is and what it is called, without building anything. */
export function filesImageArchive(spec: FilesImageSpec): BuiltImage {
  return builtImage(filesImagePlan(spec));
}

/** Builds (or finds) a files image, its base first, cached by the digest of its files like the others. */
export function buildFilesImage(spec: FilesImageSpec, log: Logger): Promise<BuiltImage> {
  return exported(filesImagePlan(spec), log, new Map());
}
