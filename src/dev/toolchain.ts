import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OrchardError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { cacheRoot, REPO_ROOT } from '../paths.ts';
import { withLock } from './lock.ts';
import { tail } from './process.ts';
import { ETCD_VERSION, GO_MINIMUM, KUBERNETES_VERSION } from './versions.ts';

export interface ControlPlaneBinaries {
  readonly etcd: string;
  readonly kubeApiserver: string;
  readonly kubeControllerManager: string;
  readonly kubectl: string;
}

/** A set of Go commands built from one wrapper module under src/dev/go/, installed together. */
export interface GoBundle {
  readonly name: string;
  readonly version: string;
  readonly module: string;
  readonly commands: Readonly<Record<string, string>>;
  readonly ldflags: string;
  /** Extra environment of the build, e.g. CGO_ENABLED=0 for a binary that runs in an image with no libc. */
  readonly env?: NodeJS.ProcessEnv;
}

function versionLdflags(version: string): string {
  const [major, minor] = version.replace(/^v/, '').split('.');
  // Without these, /version and `kubectl version` report v0.0.0 and clients warn about skew.
  return ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']
    .flatMap((pkg) => [`-X ${pkg}.gitVersion=${version}`, `-X ${pkg}.gitMajor=${major}`, `-X ${pkg}.gitMinor=${minor}`, `-X ${pkg}.gitTreeState=clean`])
    .join(' ');
}

const BUNDLES: readonly [GoBundle, GoBundle] = [
  {
    name: 'etcd',
    version: ETCD_VERSION,
    module: 'etcd',
    commands: { etcd: 'go.etcd.io/etcd/server/v3' },
    ldflags: '-s -w',
  },
  {
    name: 'kubernetes',
    version: KUBERNETES_VERSION,
    module: 'kubernetes',
    commands: {
      'kube-apiserver': 'k8s.io/kubernetes/cmd/kube-apiserver',
      'kube-controller-manager': 'k8s.io/kubernetes/cmd/kube-controller-manager',
      kubectl: 'k8s.io/kubernetes/cmd/kubectl',
      kubelet: 'k8s.io/kubernetes/cmd/kubelet',
      'kube-scheduler': 'k8s.io/kubernetes/cmd/kube-scheduler',
      'kube-proxy': 'k8s.io/kubernetes/cmd/kube-proxy',
    },
    ldflags: `-s -w ${versionLdflags(KUBERNETES_VERSION)}`,
  },
];

/** The Go environment for builds: module downloads cached beside the binaries, not in ~/go. */
export function goEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GOMODCACHE: process.env.GOMODCACHE || join(cacheRoot(), 'go', 'mod'),
    GOFLAGS: '-mod=readonly -buildvcs=false',
    GOTOOLCHAIN: 'local',
  };
}

/** Fails with instructions when Go is missing or older than the wrapper modules need. */
export function checkGo(): string {
  const result = spawnSync('go', ['env', 'GOVERSION'], { encoding: 'utf8' });
  if (result.error || result.status !== 0) {
    throw new OrchardError(
      'Go is not installed: the local control plane (kube-apiserver, etcd) is built from source with Go',
      `install Go ${GO_MINIMUM} or newer (https://go.dev/doc/install) and put it on PATH`,
    );
  }
  const version = result.stdout.trim().replace(/^go/, '');
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const [needMajor = 0, needMinor = 0] = GO_MINIMUM.split('.').map(Number);
  if (major < needMajor || (major === needMajor && minor < needMinor)) {
    throw new OrchardError(`Go ${version} is too old to build Kubernetes ${KUBERNETES_VERSION}`, `install Go ${GO_MINIMUM} or newer`);
  }
  return version;
}

/**
 * The folder a bundle installs into: its version plus a digest of the wrapper module, so that
 * editing go.mod (a new replace, a bumped dependency) builds anew instead of reusing stale binaries.
 */
export function bundleDir(bundle: GoBundle): string {
  const moduleDir = join(REPO_ROOT, 'src', 'dev', 'go', bundle.module);
  const digest = createHash('sha256');
  for (const file of ['go.mod', 'go.sum']) digest.update(readFileSync(join(moduleDir, file)));
  digest.update(bundle.ldflags);
  return join(cacheRoot(), 'bin', `${bundle.name}-${bundle.version}-${digest.digest('hex').slice(0, 12)}`);
}

function installed(bundle: GoBundle, dir: string): boolean {
  return Object.keys(bundle.commands).every((cmd) => existsSync(join(dir, cmd)));
}

/** One `go` command with the build environment, its output appended to the build log. */
function runGo(args: readonly string[], cwd: string, logFile: string, env: NodeJS.ProcessEnv = {}): Promise<void> {
  return new Promise((resolveRun, reject) => {
    const out = createWriteStream(logFile, { flags: 'a' });
    out.write(`\n$ go ${args.join(' ')}\n`);
    const child = spawn('go', args, { cwd, env: { ...goEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    child.on('error', reject);
    child.on('close', (code) => {
      out.end(() => (code === 0 ? resolveRun() : reject(new Error(`go exited with ${code}`))));
    });
  });
}

/** A Go build step: `what` names it in logs and errors, `args` and `env` go to `go`. */
export interface GoStep {
  readonly what: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Work before the command, such as copying a module's source out of the read-only module cache. */
  readonly prepare?: () => Promise<void>;
}

/**
 * Runs the steps once for `dir`: under a lock (tests and a developer may both ask), into a staging
 * folder that is renamed into place only when every step succeeded, so a broken build leaves no
 * half-installed folder that would later pass for a cached one.
 */
export async function installOnce(dir: string, name: string, log: Logger, isInstalled: () => boolean, steps: (staging: string) => readonly GoStep[]): Promise<void> {
  if (isInstalled()) return;
  checkGo();
  await withLock(`${dir}.lock`, log, async () => {
    if (isInstalled()) return;
    const logs = join(cacheRoot(), 'logs');
    await mkdir(logs, { recursive: true });
    const logFile = join(logs, `build-${name}.log`);
    await writeFile(logFile, '');
    const staging = `${dir}.partial`;
    await rm(staging, { recursive: true, force: true });
    await mkdir(staging, { recursive: true });
    for (const step of steps(staging)) {
      const started = Date.now();
      log.info(`building ${step.what} with Go (cold builds take minutes; cached afterwards)`, { log: logFile });
      try {
        await step.prepare?.();
        await runGo(step.args, step.cwd, logFile, step.env);
      } catch (error) {
        throw new OrchardError(`building ${step.what} failed`, 'read the build log; a network error means the Go module proxy was unreachable, so run the command again', {
          log: logFile,
          'log tail': `\n${tail(logFile)}`,
        }, { cause: error });
      }
      log.info(`built ${step.what}`, { seconds: Math.round((Date.now() - started) / 100) / 10 });
    }
    await rm(dir, { recursive: true, force: true });
    await rename(staging, dir);
  });
}

/** Builds the bundle's commands once per version and wrapper module; returns the folder that holds them. */
export async function installGoBundle(bundle: GoBundle, log: Logger): Promise<string> {
  const dir = bundleDir(bundle);
  const moduleDir = join(REPO_ROOT, 'src', 'dev', 'go', bundle.module);
  await installOnce(dir, `${bundle.name}-${bundle.version}`, log, () => installed(bundle, dir), (staging) =>
    Object.entries(bundle.commands).map(([cmd, pkg]) => ({
      what: `${cmd} ${bundle.version}`,
      // -pgo=off: the profiles in the release tree would only slow a cold build down.
      args: ['build', '-trimpath', '-pgo=off', '-ldflags', bundle.ldflags, '-o', join(staging, cmd), pkg],
      cwd: moduleDir,
      env: bundle.env,
    })),
  );
  return dir;
}

/** Where a command of the pinned Kubernetes release is once built (the node's kubelet, kube-scheduler, kube-proxy). */
export function kubernetesBinary(command: 'kubelet' | 'kube-scheduler' | 'kube-proxy'): string {
  return join(bundleDir(BUNDLES[1]), command);
}

/** Where the control plane's binaries are once built; nothing is built or checked here. */
export function controlPlaneBinaries(): ControlPlaneBinaries {
  const [etcd, kubernetes] = BUNDLES.map(bundleDir) as [string, string];
  return {
    etcd: join(etcd, 'etcd'),
    kubeApiserver: join(kubernetes, 'kube-apiserver'),
    kubeControllerManager: join(kubernetes, 'kube-controller-manager'),
    kubectl: join(kubernetes, 'kubectl'),
  };
}

/** Builds (once per version) and returns the paths of etcd, kube-apiserver, kube-controller-manager and kubectl. */
export async function ensureControlPlaneBinaries(log: Logger): Promise<ControlPlaneBinaries> {
  for (const bundle of BUNDLES) await installGoBundle(bundle, log);
  return controlPlaneBinaries();
}
