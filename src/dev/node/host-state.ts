import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { host } from './network.ts';
import { CGROUP_ROOT, HOST_PATHS, iptablesEntries, type IptablesCommand } from './machine.ts';

/**
 * What the node's components change on the host beyond its own bridge and chain: the kubelet's
 * and kube-proxy's iptables chains, the kubelet's folders outside its root dir, CNI's network
 * namespaces. Recorded before `up` and put back by `down`, so a crash can be repaired by the next
 * `down` (or `up`, which first tears down what a dead node left).
 */
export interface HostBaseline {
  readonly iptables: Readonly<Record<IptablesCommand, readonly string[]>>;
  readonly hostPaths: readonly string[];
}

const IPTABLES: readonly IptablesCommand[] = ['iptables', 'ip6tables'];

function hostPathEntries(): string[] {
  return HOST_PATHS.flatMap((path) => (existsSync(path) ? [path, ...readdirSync(path).map((name) => join(path, name))] : []));
}

export function recordBaseline(): HostBaseline {
  return { iptables: { iptables: iptablesEntries('iptables'), ip6tables: iptablesEntries('ip6tables') }, hostPaths: hostPathEntries() };
}

/** Splits an iptables-save rule into arguments; comments are the only quoted parts. */
export function ruleArguments(rule: string): string[] {
  const args: string[] = [];
  for (const match of rule.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)) args.push(match[1] !== undefined ? match[1].replace(/\\(.)/g, '$1') : match[2]!);
  return args;
}

/** Deletes every rule, then every chain, that was not there at the baseline. */
function restoreIptables(baseline: HostBaseline): void {
  for (const command of IPTABLES) {
    const before = new Set(baseline.iptables[command]);
    const added = iptablesEntries(command).filter((entry) => !before.has(entry));
    for (const entry of added.filter((e) => / -A /.test(e))) {
      const [table, , ...rest] = ruleArguments(entry);
      host(command, ['-w', '-t', table!, '-D', ...rest], true);
    }
    for (const entry of added.filter((e) => / :/.test(e))) {
      const [table, chain] = entry.split(' ');
      host(command, ['-w', '-t', table!, '-F', chain!.slice(1)], true);
    }
    for (const entry of added.filter((e) => / :/.test(e))) {
      const [table, chain] = entry.split(' ');
      host(command, ['-w', '-t', table!, '-X', chain!.slice(1)], true);
    }
  }
}

/** Mount points under `prefix`, deepest first, as /proc/self/mountinfo lists them. */
function mountsUnder(prefix: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' ')[4]!.replace(/\\040/g, ' '))
    .filter((mount) => mount === prefix || mount.startsWith(`${prefix}/`))
    .sort((a, b) => b.length - a.length);
}

/** Unmounts everything under `prefix` (volumes, rootfs overlays, network namespaces), deepest first. */
export function unmountUnder(prefix: string): void {
  for (let pass = 0; pass < 3; pass += 1) {
    const mounts = mountsUnder(prefix);
    if (mounts.length === 0) return;
    for (const mount of mounts) host('umount', ['-l', mount], true);
  }
}

/** Removes what the node's components created in the host paths since the baseline. */
function restoreHostPaths(baseline: HostBaseline): void {
  const before = new Set(baseline.hostPaths);
  for (const path of hostPathEntries().filter((entry) => !before.has(entry)).sort((a, b) => b.length - a.length)) {
    unmountUnder(path);
    rmSync(path, { recursive: true, force: true });
  }
}

export function restoreBaseline(baseline: HostBaseline): void {
  restoreIptables(baseline);
  restoreHostPaths(baseline);
}

function hierarchies(): string[] {
  return readdirSync(CGROUP_ROOT, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => join(CGROUP_ROOT, entry.name));
}

/**
 * The kubelet's cgroup root must exist in every v1 hierarchy before it starts ("cgroup has some
 * missing paths"), and a new cpuset is empty until its cpus and mems are copied from the parent.
 */
export function createCgroupRoot(root: string): void {
  for (const hierarchy of hierarchies()) {
    const dir = join(hierarchy, root);
    mkdirSync(dir, { recursive: true });
    for (const file of ['cpuset.cpus', 'cpuset.mems']) {
      if (existsSync(join(hierarchy, file)) && readFileSync(join(dir, file), 'utf8').trim() === '') copyFileSync(join(hierarchy, file), join(dir, file));
    }
  }
}

/** Pids still in the cgroup root (any hierarchy that lists them). */
export function cgroupPids(root: string): number[] {
  const pids = new Set<number>();
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) pids.add(Number(pid));
    for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) walk(join(dir, entry.name));
  };
  walk(join(CGROUP_ROOT, 'pids', root));
  return [...pids];
}

/** Removes the cgroup root's tree, deepest first; a cgroup with processes left in it stays (and shows in the machine state). */
export function removeCgroupRoot(root: string): void {
  const remove = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) remove(join(dir, entry.name));
    try {
      rmdirSync(dir);
    } catch {
      // Busy: reported by the machine-state comparison rather than thrown mid-teardown.
    }
  };
  for (const hierarchy of hierarchies()) remove(join(hierarchy, root));
}
