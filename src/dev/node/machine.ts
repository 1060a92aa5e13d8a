import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { cacheRoot } from '../../paths.ts';
import { NODE_SYSCTLS } from './network.ts';

/** The cgroup v1 hierarchies and the v2 mount the kubelet may write to. */
export const CGROUP_ROOT = '/sys/fs/cgroup';

/**
 * Host paths the kubelet, containerd's CNI and kube-proxy write outside the stack's state folder,
 * whatever their configuration says (upstream defaults that have no flag).
 */
export const HOST_PATHS = ['/var/lib/kubelet', '/var/log/containers', '/var/log/pods', '/var/lib/cni', '/run/netns', '/etc/cni', '/opt/cni'] as const;

/** Programs of the node; one left running after `down` is a leak, whoever started it. */
const NODE_PROGRAMS = new Set(['containerd', 'containerd-shim-runc-v2', 'runc', 'kubelet', 'kube-proxy', 'kube-scheduler', 'coredns', 'pause', 'spark-operator']);

/** What the node may change on the host, read without changing anything; two snapshots compare with `diffMachineState`. */
export interface MachineState {
  readonly interfaces: readonly string[];
  readonly iptables: readonly string[];
  readonly sysctls: Readonly<Record<string, string>>;
  readonly mounts: readonly string[];
  readonly cgroups: readonly string[];
  readonly hostPaths: readonly string[];
  readonly processes: readonly string[];
}

function lines(command: string, args: readonly string[]): string[] {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.split('\n').filter(Boolean) : [`${command} failed: ${result.stderr || result.error?.message}`];
}

export type IptablesCommand = 'iptables' | 'ip6tables';

/** `-A` rules and chain declarations per table, as `-t <table> <rest>`; builtin chains' declarations are left out. */
export function iptablesEntries(command: IptablesCommand): string[] {
  const dump = spawnSync(`${command}-save`, [], { encoding: 'utf8' });
  if (dump.status !== 0) return [];
  let table = '';
  const entries: string[] = [];
  for (const line of dump.stdout.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1);
    else if (line.startsWith(':')) {
      const chain = line.slice(1).split(' ')[0]!;
      if (chain !== chain.toUpperCase() || /^(INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING)$/.test(chain)) continue;
      entries.push(`${table} :${chain}`);
    } else if (line.startsWith('-A ')) entries.push(`${table} ${line}`);
  }
  return entries;
}

function listing(dir: string, onlyFolders = false): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => !onlyFolders || entry.isDirectory())
    .map((entry) => join(dir, entry.name));
}

function processes(): string[] {
  const found = new Set<string>();
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const program = basename(readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, ''));
      if (NODE_PROGRAMS.has(program)) found.add(`${program} (pid ${pid})`);
    } catch {
      // A process that exited while we listed, or a kernel thread: neither can leak.
    }
  }
  return [...found].sort();
}

export function machineState(): MachineState {
  const sysctlKeys = [...NODE_SYSCTLS, 'net/bridge/bridge-nf-call-iptables', 'net/bridge/bridge-nf-call-ip6tables'];
  return {
    interfaces: lines('ip', ['-o', 'link', 'show']).map((line) => line.split(':')[1]!.trim().replace(/@.*/, '')).sort(),
    iptables: (['iptables', 'ip6tables'] as const).flatMap((command) => iptablesEntries(command).map((entry) => `${command} ${entry}`)),
    sysctls: Object.fromEntries(sysctlKeys.filter((key) => existsSync(`/proc/sys/${key}`)).map((key) => [key, readFileSync(`/proc/sys/${key}`, 'utf8').trim()])),
    // Image builds mount layers under the cache while they run; the node never mounts there.
    mounts: readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(' ')[4]!)
      .filter((mount) => !mount.startsWith(`${cacheRoot()}/`))
      .sort(),
    cgroups: listing(CGROUP_ROOT, true).flatMap((hierarchy) => listing(hierarchy, true)).sort(),
    hostPaths: HOST_PATHS.flatMap((path) => (existsSync(path) ? [path, ...listing(path)] : [])).sort(),
    processes: processes(),
  };
}

/** One line per difference, naming the field and what was added or removed; empty when equal. */
export function diffMachineState(before: MachineState, after: MachineState): string[] {
  const differences: string[] = [];
  for (const field of ['interfaces', 'iptables', 'mounts', 'cgroups', 'hostPaths', 'processes'] as const) {
    const was = new Set(before[field]);
    const is = new Set(after[field]);
    for (const item of is) if (!was.has(item)) differences.push(`${field}: + ${item}`);
    for (const item of was) if (!is.has(item)) differences.push(`${field}: - ${item}`);
  }
  for (const key of new Set([...Object.keys(before.sysctls), ...Object.keys(after.sysctls)])) {
    if (before.sysctls[key] !== after.sysctls[key]) differences.push(`sysctls: ${key} ${before.sysctls[key]} -> ${after.sysctls[key]}`);
  }
  return differences;
}
