import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { OrchardError } from '../../errors.ts';
import { applyAll } from '../../kube/apply.ts';
import { kubeRequest } from '../../kube/raw.ts';
import type { Logger } from '../../log.ts';
import { freePort, isRunning, startDetached, stopProcess, waitUntilReady } from '../process.ts';
import { KUBERNETES_VERSION } from '../versions.ts';
import type { BuiltImage } from '../images.ts';
import type { NodeBinaries } from './binaries.ts';
import { CNI_BIN_DIR, cniConfig, containerdConfig, KUBELET_CGROUP_ROOT, kubeletConfig, kubeProxyConfig, NODE_NAME, nodePaths, type NodePaths } from './config.ts';
import { corednsManifests } from './coredns.ts';
import { cgroupPids, createCgroupRoot, recordBaseline, removeCgroupRoot, restoreBaseline, unmountUnder, type HostBaseline } from './host-state.ts';
import { EVERY_NAMESPACE, installSparkOperator } from './operator.ts';
import { NODE_PACKAGES } from './packages.ts';
import { NODE_NETWORK, networkDown, networkUp, readSysctls, writeSysctls, type Sysctls } from './network.ts';

export interface NodeProcess {
  readonly pid: number;
  readonly executable: string;
  readonly log: string;
}

type NodeProcessName = 'containerd' | 'kube-scheduler' | 'kubelet' | 'kube-proxy';

/** Dependents first: nothing may start a pod once containerd is going. */
const STOP_ORDER: readonly NodeProcessName[] = ['kube-proxy', 'kubelet', 'kube-scheduler', 'containerd'];

/** What the node needs of the host, and what it found there before it changed anything. */
export interface NodeState {
  readonly paths: NodePaths;
  readonly processes: Partial<Record<NodeProcessName, NodeProcess>>;
  readonly sysctls: Sysctls;
  readonly baseline: HostBaseline;
}


const READY_TIMEOUT_MS = 120_000;

function which(program: string): string | undefined {
  const result = spawnSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

/**
 * Everything the node needs from the machine, checked before anything changes: a machine that
 * cannot run it gets one message naming each missing part, never a fallback.
 */
export function nodePreflight(): void {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root: the node creates a bridge, iptables rules and cgroups (run as root)');
  for (const pkg of Object.values(NODE_PACKAGES)) if (!existsSync(pkg.binary)) missing.push(`${pkg.binary} (Debian package ${pkg.name}; \`npm run setup\` installs it)`);
  for (const plugin of ['bridge', 'host-local', 'portmap', 'loopback']) if (!existsSync(join(CNI_BIN_DIR, plugin))) missing.push(`the CNI plugin ${plugin} in ${CNI_BIN_DIR} (Debian package ${NODE_PACKAGES.cni.name})`);
  for (const program of ['ip', 'umount']) if (!which(program)) missing.push(`${program} (Debian packages iproute2, mount)`);
  if (!existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables')) missing.push('the kernel\'s br_netfilter (Services between pods on one bridge need it): modprobe br_netfilter');
  if (!existsSync('/sys/fs/cgroup/pids') && !existsSync('/sys/fs/cgroup/cgroup.controllers')) missing.push('a cgroup filesystem at /sys/fs/cgroup');
  if (missing.length > 0) {
    throw new OrchardError(`this machine cannot run the local Kubernetes node: ${missing.length} part(s) missing`, 'install or enable each missing part, then run the command again', { missing: `\n  - ${missing.join('\n  - ')}` });
  }
}

function nodeStatePath(stateDir: string): string {
  return join(stateDir, 'node', 'node.json');
}

/** The node's state, written as soon as it changes the host, so that `down` can undo a half-started node. */
export async function writeNodeState(state: NodeState): Promise<void> {
  await mkdir(state.paths.root, { recursive: true });
  await writeFile(join(state.paths.root, 'node.json'), `${JSON.stringify(state, null, 2)}\n`);
}

export async function readNodeState(stateDir: string): Promise<NodeState | undefined> {
  const path = nodeStatePath(stateDir);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as NodeState) : undefined;
}

/**
 * One node per machine: its bridge, address and chains are the machine's. This file names the
 * state folder of the node that owns them, so a second `up` can tell a running node (refused)
 * from the leftovers of a crashed one (torn down first).
 */
export const NODE_OWNER_FILE = '/run/orchard-node.json';

function nodeAlive(node: NodeState): boolean {
  return Object.values(node.processes).some((record) => record && isRunning(record.pid, record.executable));
}

/** Repairs what a node that died without `down` left on the host; refuses when a node still runs. */
async function claimHost(stateDir: string, log: Logger): Promise<void> {
  if (existsSync(NODE_OWNER_FILE)) {
    const owner = (JSON.parse(readFileSync(NODE_OWNER_FILE, 'utf8')) as { stateDir: string }).stateDir;
    const previous = await readNodeState(owner);
    if (previous && nodeAlive(previous)) {
      throw new OrchardError(`a local Kubernetes node is already running on this machine, from ${owner}`, `stop it first with \`orchard dev down --state ${owner}\` (one node per machine: it owns the bridge ${NODE_NETWORK.bridge})`);
    }
    if (previous) {
      log.warn('tearing down what a node that did not stop cleanly left on this machine', { stateDir: owner });
      await stopNode(previous, log);
    }
  }
  await writeFile(NODE_OWNER_FILE, `${JSON.stringify({ stateDir })}\n`);
}

/** Records what the host looks like, then brings up the node's network; the API server binds to its address next. */
export async function prepareNodeHost(stateDir: string, log: Logger): Promise<Pick<NodeState, 'paths' | 'sysctls' | 'baseline'>> {
  nodePreflight();
  await claimHost(stateDir, log);
  const sysctls = readSysctls();
  const baseline = recordBaseline();
  networkUp();
  return { paths: nodePaths(stateDir), sysctls, baseline };
}

function ctr(paths: NodePaths, args: readonly string[]): Promise<string> {
  return new Promise((resolveRun, reject) => {
    const child = spawn('ctr', ['--address', paths.containerdSocket, '--namespace', 'k8s.io', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolveRun(stdout);
      else reject(new OrchardError(`\`ctr ${args.join(' ')}\` failed`, 'read containerd\'s log', { error: stderr.trim(), log: join(paths.root, 'containerd.log') }));
    });
  });
}

/**
 * Imports into the node's containerd each image it does not hold under its name yet, unpacked: a
 * container's first start would otherwise unpack it (10 s for the job image's driver).
 */
export async function importImages(paths: NodePaths, images: readonly BuiltImage[], log: Logger): Promise<void> {
  const present = new Set((await ctr(paths, ['images', 'list', '-q'])).split('\n'));
  for (const image of images) {
    if (present.has(image.ref)) continue;
    await ctr(paths, ['images', 'import', image.archive]);
    log.info('imported an image into the node', { image: image.ref });
  }
}

async function nodeReady(kc: KubeConfig): Promise<boolean> {
  const response = await kubeRequest(kc, 'GET', `/api/v1/nodes/${NODE_NAME}`);
  if (response.status !== 200) return false;
  const node = JSON.parse(response.body) as { status?: { conditions?: { type: string; status: string }[] } };
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

async function deploymentAvailable(kc: KubeConfig, namespace: string, name: string): Promise<boolean> {
  const response = await kubeRequest(kc, 'GET', `/apis/apps/v1/namespaces/${namespace}/deployments/${name}`);
  if (response.status !== 200) return false;
  const status = (JSON.parse(response.body) as { status?: { availableReplicas?: number } }).status;
  return (status?.availableReplicas ?? 0) > 0;
}

export interface StartNodeOptions {
  readonly kubeconfig: string;
  readonly caCert: string;
  readonly binaries: NodeBinaries;
  /** Every image the node's pods use: its own (pause, CoreDNS, the operator) before its first pod, the workloads' beside the start. */
  readonly images: { readonly pause: BuiltImage; readonly coredns: BuiltImage; readonly sparkOperator: BuiltImage } & Readonly<Record<string, BuiltImage>>;
  readonly helm: string;
  readonly host: Pick<NodeState, 'paths' | 'sysctls' | 'baseline'>;
  readonly log: Logger;
  /** Called with each started process, so a failure later still stops it. */
  readonly onProcess: (state: NodeState) => Promise<void>;
  readonly timings: Record<string, number>;
}

/**
 * containerd, the node's own images, kube-scheduler, the kubelet and kube-proxy, cluster DNS and the
 * operator, with the workloads' images imported beside them. The control plane must be up and
 * bound to the node's address.
 */
export async function startNode(options: StartNodeOptions): Promise<NodeState> {
  const { paths } = options.host;
  const processes: Partial<Record<NodeProcessName, NodeProcess>> = {};
  const state = (): NodeState => ({ ...options.host, processes: { ...processes } });
  const launch = async (name: NodeProcessName, executable: string, args: string[]) => {
    const started = startDetached(executable, args, join(paths.root, `${name}.log`));
    processes[name] = { pid: started.pid, executable, log: started.log };
    await options.onProcess(state());
    return started;
  };
  const timed = async (stage: string, work: () => Promise<unknown>) => {
    const started = Date.now();
    await work();
    options.timings[stage] = Math.round((Date.now() - started) / 100) / 10;
  };

  createCgroupRoot(KUBELET_CGROUP_ROOT);
  for (const dir of [paths.cniConfDir, paths.cniDataDir, paths.kubeletRoot, paths.kubeletPodLogs, join(paths.containerdSocket, '..')]) await mkdir(dir, { recursive: true });
  await writeFile(paths.containerdConfig, containerdConfig(paths, options.images.pause.ref));
  await writeFile(join(paths.cniConfDir, '10-orchard.conflist'), cniConfig(paths));
  await writeFile(paths.resolvConf, '');

  await timed('containerd', async () => {
    const containerd = await launch('containerd', NODE_PACKAGES.containerd.binary, ['--config', paths.containerdConfig]);
    await waitUntilReady(async () => spawnSync('ctr', ['--address', paths.containerdSocket, 'version'], { stdio: 'ignore' }).status === 0, {
      what: 'containerd',
      timeoutMs: READY_TIMEOUT_MS,
      log: containerd.log,
      pid: containerd.pid,
      executable: NODE_PACKAGES.containerd.binary,
      hint: 'read its log; "timeout waiting for boltdb" means another containerd holds the same root',
    });
  });

  const { pause, coredns, sparkOperator, ...workloads } = options.images;
  await timed('images', () => importImages(paths, [pause, coredns, sparkOperator], options.log));
  // The workloads' images (the job's, 1.4 GB, takes 27 s) are imported while the kubelet, cluster
  // DNS and the operator start, which need none of them; `up` ends once they are in.
  const importingWorkloads = importImages(paths, Object.values(workloads), options.log);
  // Awaited at the end; if a step before fails, its error is the one to report, not this one's.
  importingWorkloads.catch(() => undefined);

  const kc = new KubeConfig();
  kc.loadFromFile(options.kubeconfig);
  await timed('kubelet', async () => {
    const [schedulerPort, kubeletPort, healthzPort, proxyHealthz, proxyMetrics] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    await launch('kube-scheduler', options.binaries.kubeScheduler, [
      `--kubeconfig=${options.kubeconfig}`,
      `--authentication-kubeconfig=${options.kubeconfig}`,
      `--authorization-kubeconfig=${options.kubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${schedulerPort}`,
      '--leader-elect=false',
      '--v=1',
    ]);
    await writeFile(paths.kubeletConfig, kubeletConfig(paths, options.caCert, { kubelet: kubeletPort, healthz: healthzPort }));
    const kubelet = await launch('kubelet', options.binaries.kubelet, [
      `--config=${paths.kubeletConfig}`,
      `--kubeconfig=${options.kubeconfig}`,
      `--root-dir=${paths.kubeletRoot}`,
      `--cert-dir=${join(paths.kubeletRoot, 'pki')}`,
      `--hostname-override=${NODE_NAME}`,
      `--node-ip=${NODE_NETWORK.address}`,
      '--v=1',
    ]);
    await writeFile(paths.kubeProxyConfig, kubeProxyConfig(options.kubeconfig, { healthz: proxyHealthz, metrics: proxyMetrics }));
    await launch('kube-proxy', options.binaries.kubeProxy, [`--config=${paths.kubeProxyConfig}`, '--v=1']);
    await waitUntilReady(() => nodeReady(kc), {
      what: `the kubelet ${KUBERNETES_VERSION} (node ${NODE_NAME} Ready)`,
      timeoutMs: READY_TIMEOUT_MS,
      log: kubelet.log,
      pid: kubelet.pid,
      executable: options.binaries.kubelet,
      hint: 'read the kubelet log for the first error (E lines); containerd\'s log is beside it',
    });
  });

  await timed('cluster DNS', async () => {
    await applyAll(kc, corednsManifests(options.images.coredns.ref));
    const started = Date.now();
    while (!(await deploymentAvailable(kc, 'kube-system', 'coredns'))) {
      if (Date.now() - started > READY_TIMEOUT_MS) {
        throw new OrchardError('cluster DNS (CoreDNS) did not become available', 'run `kubectl -n kube-system describe pods -l k8s-app=kube-dns` and read the events', { kubelet: join(paths.root, 'kubelet.log') });
      }
      await sleep(500);
    }
  });
  await timed('spark-operator', () =>
    installSparkOperator({
      helm: options.helm,
      kubeconfig: options.kubeconfig,
      source: options.binaries.sparkOperatorSource,
      image: options.images.sparkOperator,
      jobNamespaces: EVERY_NAMESPACE,
      webhook: true,
      log: options.log,
    }),
  );
  await timed('workload images', () => importingWorkloads);
  return state();
}

/** Kills what runs in the kubelet's cgroup root (containers, shims' children) until nothing is left. */
async function killPods(): Promise<void> {
  for (let round = 0; round < 50; round += 1) {
    const pids = cgroupPids(KUBELET_CGROUP_ROOT);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await sleep(100);
  }
}

/** containerd's shims outlive it (they are reparented to init): find ours by the socket they were given. */
function shimPids(socket: string): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(socket);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/**
 * Stops the node's processes and its pods, and puts back what it changed on the host: mounts,
 * cgroups, iptables, host folders, the bridge and the sysctls. Safe to call on a half-started or
 * crashed node.
 */
export async function stopNode(node: NodeState, log: Logger): Promise<void> {
  await stopNodeProcesses(node, log);
  restoreNodeHost(node);
}

/** The node's processes and pods; the host keeps the bridge until `restoreNodeHost`. */
export async function stopNodeProcesses(node: NodeState, log: Logger): Promise<void> {
  for (const name of STOP_ORDER) {
    const record = node.processes[name];
    if (name === 'containerd') await killPods();
    if (record && isRunning(record.pid, record.executable)) {
      const how = await stopProcess(record.pid);
      log.info(`stopped ${name}`, { pid: record.pid, how });
    }
  }
  for (const pid of shimPids(node.paths.containerdSocket)) await stopProcess(pid, 2_000);
}

/**
 * Puts back what the node changed on the host, its processes gone. The API server listens on the
 * bridge's address and, as it stops, deletes its lease through it: with the bridge gone first, it
 * waited 10 s for that call and was killed.
 */
export function restoreNodeHost(node: NodeState): void {
  unmountUnder(node.paths.root);
  removeCgroupRoot(KUBELET_CGROUP_ROOT);
  restoreBaseline(node.baseline);
  networkDown();
  writeSysctls(node.sysctls);
  rmSync(NODE_OWNER_FILE, { force: true });
}
