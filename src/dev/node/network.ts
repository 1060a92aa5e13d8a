import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { OrchardError } from '../../errors.ts';

/**
 * The node's addresses. Pods cannot reach the host's 127.0.0.1, so the node has a bridge of its
 * own whose address is the API server's, the kubelet's node IP, the pods' gateway and the S3
 * server's: one address that pods and the host both reach. Nothing routes or NATs it elsewhere.
 */
export const NODE_NETWORK = {
  bridge: 'orchard0',
  address: '10.244.0.1',
  prefixLength: 24,
  podCidr: '10.244.0.0/24',
  /** EKS's default Service range and DNS address, so manifests see the addresses they would there. */
  serviceCidr: '10.100.0.0/16',
  kubernetesServiceIp: '10.100.0.1',
  dnsServiceIp: '10.100.0.10',
  clusterDomain: 'cluster.local',
} as const;

/** The filter chain that keeps pod traffic on the bridge; jumped to first from FORWARD. */
const FORWARD_CHAIN = 'ORCHARD-NODE-FORWARD';

/**
 * Host sysctls the node changes: forwarding for Service traffic between pods, and the three the
 * kubelet sets at start. `down` writes back what `up` found.
 */
export const NODE_SYSCTLS = ['net/ipv4/ip_forward', 'vm/overcommit_memory', 'kernel/panic', 'kernel/panic_on_oops'] as const;

export type Sysctls = Readonly<Record<(typeof NODE_SYSCTLS)[number], string>>;

export function readSysctls(): Sysctls {
  return Object.fromEntries(NODE_SYSCTLS.map((key) => [key, readFileSync(`/proc/sys/${key}`, 'utf8').trim()])) as Sysctls;
}

export function writeSysctls(values: Partial<Sysctls>): void {
  for (const [key, value] of Object.entries(values)) writeFileSync(`/proc/sys/${key}`, value);
}

/** Runs a host networking command; `allowFail` for removals of what may already be gone. */
export function host(command: string, args: readonly string[], allowFail = false): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (!allowFail && (result.error || result.status !== 0)) {
    throw new OrchardError(`\`${command} ${args.join(' ')}\` failed`, 'the local node changes host networking and needs root (CAP_NET_ADMIN): run as root, or read the error', {
      error: (result.stderr || result.error?.message || '').trim(),
    });
  }
  return result.stdout ?? '';
}

function bridgeExists(): boolean {
  return spawnSync('ip', ['link', 'show', NODE_NETWORK.bridge], { stdio: 'ignore' }).status === 0;
}

function chainExists(): boolean {
  return spawnSync('iptables', ['-w', '-S', FORWARD_CHAIN], { stdio: 'ignore' }).status === 0;
}

/** The bridge with the node's address, forwarding on, and FORWARD rules that keep pod traffic on the bridge. */
export function networkUp(): void {
  if (!bridgeExists()) {
    host('ip', ['link', 'add', NODE_NETWORK.bridge, 'type', 'bridge']);
    host('ip', ['addr', 'add', `${NODE_NETWORK.address}/${NODE_NETWORK.prefixLength}`, 'dev', NODE_NETWORK.bridge]);
  }
  host('ip', ['link', 'set', NODE_NETWORK.bridge, 'up']);
  // The host reaches Services (the driver's UI) through kube-proxy's DNAT; a Service address that
  // has no rule yet goes to the bridge and dies there, never out of the machine's default route.
  host('ip', ['route', 'replace', NODE_NETWORK.serviceCidr, 'dev', NODE_NETWORK.bridge]);
  if (!chainExists()) {
    host('iptables', ['-w', '-N', FORWARD_CHAIN]);
    host('iptables', ['-w', '-A', FORWARD_CHAIN, '-i', NODE_NETWORK.bridge, '!', '-o', NODE_NETWORK.bridge, '-j', 'DROP', '-m', 'comment', '--comment', 'orchard node: pod traffic stays on the bridge']);
    host('iptables', ['-w', '-A', FORWARD_CHAIN, '!', '-i', NODE_NETWORK.bridge, '-o', NODE_NETWORK.bridge, '-j', 'DROP', '-m', 'comment', '--comment', 'orchard node: nothing else enters the bridge']);
    host('iptables', ['-w', '-I', 'FORWARD', '1', '-j', FORWARD_CHAIN]);
  }
  writeSysctls({ 'net/ipv4/ip_forward': '1' });
}

/** Removes what `networkUp` added (the caller restores the sysctls it recorded). */
export function networkDown(): void {
  if (chainExists()) {
    host('iptables', ['-w', '-D', 'FORWARD', '-j', FORWARD_CHAIN], true);
    host('iptables', ['-w', '-F', FORWARD_CHAIN]);
    host('iptables', ['-w', '-X', FORWARD_CHAIN]);
  }
  if (bridgeExists()) host('ip', ['link', 'del', NODE_NETWORK.bridge]);
}
