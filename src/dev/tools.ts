import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { OrchardError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { cacheRoot } from '../paths.ts';
import { aptInstall, type AptPackage } from './apt.ts';
import { BUILDAH } from './buildah.ts';
import { CHROMIUM } from './chromium.ts';
import { buildControllerBundle, CONTROLLER_BUNDLE } from './controller-bundle.ts';
import { DEBOOTSTRAP } from './debian-base.ts';
import { ensureHelm, helmPath } from './helm.ts';
import { copyJobImageModel, ensureImages, imageArchivePaths } from './images.ts';
import { LUA } from './lua.ts';
import { ensureNodeBinaries, nodeBinaries } from './node/binaries.ts';
import { ensureNodeImages, nodeImageArchivePaths } from './node/images.ts';
import { NODE_PACKAGES } from './node/packages.ts';
import { PROMETHEUS } from './prometheus.ts';
import { ensurePythonSetup, findPythonSetup, setupEnvPath, type PythonSetup } from './python.ts';
import { ensureS3Server, S3_SERVER, s3ServerPath } from './s3-server.ts';
import { controlPlaneBinaries, ensureControlPlaneBinaries } from './toolchain.ts';
import { COREDNS_VERSION, ETCD_VERSION, HELM_VERSION, KUBERNETES_VERSION, SPARK_OPERATOR_VERSION } from './versions.ts';

/** The command that installs every tool; `npm test` runs it as its first stage. */
export const SETUP_COMMAND = 'npm run setup';

/**
 * A tool that the local stack or a test uses. Installs run in lanes, in the order of TOOLS within
 * each: the Go builds in one; in the other the Debian packages, then the images (they need buildah,
 * debootstrap and the controller bundle, not the Go builds), then the job's venv and models, which
 * take the job image's int8 model rather than quantize it a second time. The two overlap, as the
 * Go builds keep both cores busy while package and pip installs wait on the network. The node's
 * images come last: they are built from the Go builds, on the Spark base.
 */
interface Tool {
  readonly what: string;
  readonly lane: 'go' | 'packages' | 'node images';
  /** Files whose presence shows the tool is installed; the first is the one `requireTool` returns. */
  readonly paths: () => readonly string[];
  /** How to install it; Debian packages have none here, since they are installed together, with one `apt-get update`. */
  readonly install?: (log: Logger) => Promise<unknown>;
  readonly apt?: AptPackage;
}

/**
 * The job's Python setup, given the job image's int8 model to adopt: the image quantized the same
 * fp32 model on the same photos with the same code, which is minutes of CPU on a cold machine.
 */
async function setupPythonFromJobImage(log: Logger): Promise<PythonSetup> {
  const dir = await mkdtemp(join(cacheRoot(), 'int8-from-image-'));
  try {
    const model = join(dir, 'resnet50-int8.onnx');
    const copied = await copyJobImageModel('int8', model);
    if (!copied) log.warn('the job image is not in orchard\'s image storage (only its archive is): the job\'s setup quantizes the int8 model itself');
    return await ensurePythonSetup(copied ? { adoptInt8: model } : {});
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const TOOLS = {
  'control plane': {
    what: `etcd ${ETCD_VERSION}, kube-apiserver, kube-controller-manager and kubectl ${KUBERNETES_VERSION} (built with Go)`,
    lane: 'go',
    paths: () => Object.values(controlPlaneBinaries()),
    install: ensureControlPlaneBinaries,
  },
  node: {
    what: `kubelet, kube-scheduler and kube-proxy ${KUBERNETES_VERSION}, CoreDNS ${COREDNS_VERSION}, a pause program and spark-operator ${SPARK_OPERATOR_VERSION} (built with Go)`,
    lane: 'go',
    paths: () => Object.values(nodeBinaries()),
    install: ensureNodeBinaries,
  },
  containerd: { what: 'containerd (Debian package containerd)', lane: 'packages', paths: () => [NODE_PACKAGES.containerd.binary], apt: NODE_PACKAGES.containerd },
  runc: { what: 'runc (Debian package runc)', lane: 'packages', paths: () => [NODE_PACKAGES.runc.binary], apt: NODE_PACKAGES.runc },
  'cni plugins': { what: 'the CNI plugins (Debian package containernetworking-plugins)', lane: 'packages', paths: () => [NODE_PACKAGES.cni.binary], apt: NODE_PACKAGES.cni },
  iptables: { what: 'iptables (Debian package iptables)', lane: 'packages', paths: () => [NODE_PACKAGES.iptables.binary], apt: NODE_PACKAGES.iptables },
  's3 server': { what: `${S3_SERVER.name} ${S3_SERVER.version} (built with Go)`, lane: 'go', paths: () => [s3ServerPath()], install: ensureS3Server },
  helm: { what: `helm ${HELM_VERSION} (built with Go)`, lane: 'go', paths: () => [helmPath()], install: ensureHelm },
  chromium: { what: 'Chromium (Debian package chromium)', lane: 'packages', paths: () => [CHROMIUM.binary], apt: CHROMIUM },
  lua: { what: 'Lua 5.1 (Debian package lua5.1)', lane: 'packages', paths: () => [LUA.binary], apt: LUA },
  prometheus: { what: 'Prometheus and promtool (Debian package prometheus)', lane: 'packages', paths: () => [PROMETHEUS.binary], apt: PROMETHEUS },
  buildah: { what: 'buildah (Debian package buildah)', lane: 'packages', paths: () => [BUILDAH.binary], apt: BUILDAH },
  debootstrap: { what: 'debootstrap (Debian package debootstrap)', lane: 'packages', paths: () => [DEBOOTSTRAP.binary], apt: DEBOOTSTRAP },
  // Rebuilt on every setup (about a second): a bundle older than the sources would test stale code.
  'controller bundle': { what: 'the controller bundle, dist/controller/controller.mjs (esbuild)', lane: 'packages', paths: () => [CONTROLLER_BUNDLE], install: buildControllerBundle },
  images: {
    what: 'the Spark base, job and controller images as OCI archives (buildah; src/dev/images.ts)',
    lane: 'packages',
    paths: imageArchivePaths,
    install: ensureImages,
  },
  python: {
    what: "the job's venv, S3A jars and test models (spark-images/setup.sh; the int8 model from the job image)",
    lane: 'packages',
    paths: () => (findPythonSetup() ? [setupEnvPath()] : []),
    install: setupPythonFromJobImage,
  },
  'node images': {
    what: "the node's images: pause and CoreDNS FROM scratch, the spark-operator on the Spark base, with the binaries built here (buildah)",
    lane: 'node images',
    paths: nodeImageArchivePaths,
    install: (log: Logger) => ensureNodeImages(nodeBinaries(), log),
  },
} as const satisfies Record<string, Tool>;

export type ToolName = keyof typeof TOOLS;

function installed(tool: Tool): boolean {
  const paths = tool.paths();
  return paths.length > 0 && paths.every((path) => existsSync(path));
}

/**
 * The path of an installed tool, without building or installing anything: tests call this, so a
 * missing tool fails the test at once with the command that installs it, instead of a hook
 * timing out behind a build.
 */
export function requireTool(name: ToolName): string {
  const tool: Tool = TOOLS[name];
  if (!installed(tool)) {
    throw new OrchardError(`${tool.what} is not installed: tests only find tools, the setup stage installs them`, `run \`${SETUP_COMMAND}\` (the first stage of \`npm test\`), then the test again`, {
      'looked for': tool.paths().join(', ') || 'setup.env and the paths it names',
    });
  }
  return tool.paths()[0]!;
}

/** What the setup found and did for one tool: warm (already installed) or cold, and how long it took. */
export interface ToolSetup {
  readonly name: ToolName;
  readonly what: string;
  readonly state: 'warm' | 'cold';
  readonly seconds: number;
}

/**
 * Installs every tool that is missing, and re-runs the Python setup, which checks its own caches
 * (a lock file that changed builds a new venv). `onState` hears each tool's state before any work.
 */
export async function setupTools(log: Logger, onState: (name: ToolName, state: 'warm' | 'cold') => void = () => {}): Promise<ToolSetup[]> {
  const names = Object.keys(TOOLS) as ToolName[];
  const states = new Map(names.map((name) => [name, installed(TOOLS[name]) ? ('warm' as const) : ('cold' as const)]));
  for (const name of names) onState(name, states.get(name)!);
  const results: ToolSetup[] = [];
  const timed = async (group: readonly ToolName[], work: () => Promise<unknown>) => {
    const started = Date.now();
    await work();
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    for (const name of group) results.push({ name, what: TOOLS[name].what, state: states.get(name)!, seconds });
  };
  const lane = async (which: Tool['lane']) => {
    const members = names.filter((name) => TOOLS[name].lane === which);
    const apt = members.filter((name) => (TOOLS[name] as Tool).apt);
    if (apt.length) await timed(apt, () => aptInstall(apt.map((name) => (TOOLS[name] as Tool).apt!), log));
    for (const name of members.filter((member) => !apt.includes(member))) await timed([name], () => (TOOLS[name] as Tool).install!(log));
  };
  // Both lanes run to their end before a failure is thrown, so none is left installing behind it.
  const failed = (await Promise.allSettled([lane('go'), lane('packages')])).find((lane) => lane.status === 'rejected');
  if (failed) throw failed.reason;
  await lane('node images');
  return names.map((name) => results.find((result) => result.name === name)!);
}

/** What spark-images/setup.sh prepared, found without running it (see `requireTool`). */
export function requirePythonSetup(): PythonSetup {
  requireTool('python');
  return findPythonSetup()!;
}
