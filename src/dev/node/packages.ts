import type { AptPackage } from '../apt.ts';

/**
 * The node's Debian packages: the container runtime (containerd 1.6 and runc), the CNI plugins
 * (bridge, host-local, portmap, loopback) and iptables for kube-proxy's Service rules.
 */
export const NODE_PACKAGES = {
  containerd: { name: 'containerd', binary: '/usr/bin/containerd' },
  runc: { name: 'runc', binary: '/usr/sbin/runc' },
  cni: { name: 'containernetworking-plugins', binary: '/usr/lib/cni/bridge' },
  iptables: { name: 'iptables', binary: '/usr/sbin/iptables' },
} as const satisfies Record<string, AptPackage>;
