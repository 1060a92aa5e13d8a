import { join } from 'node:path';
import { stringify } from 'yaml';
import { NODE_NETWORK } from './network.ts';

/** The node's name in the API, as EKS names a node after its host. */
export const NODE_NAME = 'orchard-node';

/** The kubelet's cgroup parent in every v1 hierarchy: pods never land beside the machine's own processes. */
export const KUBELET_CGROUP_ROOT = '/orchard-node';

/** Debian's containernetworking-plugins install the CNI binaries here. */
export const CNI_BIN_DIR = '/usr/lib/cni';

/** Where each node component keeps its files, all under the stack's state folder. */
export interface NodePaths {
  readonly root: string;
  readonly containerdConfig: string;
  readonly containerdRoot: string;
  readonly containerdState: string;
  readonly containerdSocket: string;
  readonly cniConfDir: string;
  readonly cniDataDir: string;
  readonly kubeletRoot: string;
  readonly kubeletConfig: string;
  readonly kubeletPodLogs: string;
  readonly resolvConf: string;
  readonly kubeProxyConfig: string;
}

export function nodePaths(stateDir: string): NodePaths {
  const root = join(stateDir, 'node');
  return {
    root,
    containerdConfig: join(root, 'containerd', 'config.toml'),
    containerdRoot: join(root, 'containerd', 'root'),
    containerdState: join(root, 'containerd', 'state'),
    containerdSocket: join(root, 'containerd', 'containerd.sock'),
    cniConfDir: join(root, 'cni', 'net.d'),
    cniDataDir: join(root, 'cni', 'ipam'),
    kubeletRoot: join(root, 'kubelet'),
    kubeletConfig: join(root, 'kubelet.yaml'),
    kubeletPodLogs: join(root, 'pod-logs'),
    resolvConf: join(root, 'resolv.conf'),
    kubeProxyConfig: join(root, 'kube-proxy.yaml'),
  };
}

/**
 * containerd 1.6 (Debian's), run with its own root, state and socket. `restrict_oom_score_adj`:
 * these VMs drop CAP_SYS_RESOURCE, so runc cannot set a negative oom_score_adj and every sandbox
 * would fail with "can't get final child's PID from pipe: EOF".
 */
export function containerdConfig(paths: NodePaths, pauseImage: string): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return [
    'version = 2',
    `root = ${JSON.stringify(paths.containerdRoot)}`,
    `state = ${JSON.stringify(paths.containerdState)}`,
    'disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp"]',
    '[grpc]',
    `  address = ${JSON.stringify(paths.containerdSocket)}`,
    `[${cri}]`,
    `  sandbox_image = ${JSON.stringify(pauseImage)}`,
    '  restrict_oom_score_adj = true',
    '  disable_apparmor = true',
    // Pod network namespaces under the state folder rather than /run/netns, which other tools own.
    '  netns_mounts_under_state_dir = true',
    `[${cri}.containerd]`,
    '  snapshotter = "overlayfs"',
    '  default_runtime_name = "runc"',
    `[${cri}.containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    `[${cri}.containerd.runtimes.runc.options]`,
    '  SystemdCgroup = false',
    `[${cri}.cni]`,
    `  bin_dir = ${JSON.stringify(CNI_BIN_DIR)}`,
    `  conf_dir = ${JSON.stringify(paths.cniConfDir)}`,
    '',
  ].join('\n');
}

/** The pod network: the node's bridge, addresses from its /24, and no masquerade (nothing leaves the machine). */
export function cniConfig(paths: NodePaths): string {
  return `${JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'orchard',
      plugins: [
        {
          type: 'bridge',
          bridge: NODE_NETWORK.bridge,
          isGateway: true,
          ipMasq: false,
          // A pod that reaches itself through its own Service (the Spark driver does) needs hairpin.
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: NODE_NETWORK.podCidr, gateway: NODE_NETWORK.address }]],
            // A route to Services only, no default route: pods reach the node and each other, nothing beyond.
            routes: [{ dst: NODE_NETWORK.serviceCidr }],
            dataDir: paths.cniDataDir,
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  )}\n`;
}

export interface KubeletPorts {
  readonly kubelet: number;
  readonly healthz: number;
}

/**
 * Kubernetes 1.35 refuses cgroup v1 unless `failCgroupV1` is false; these machines run cgroup v1
 * (hybrid), so the node says so explicitly. The resolv.conf is empty: cluster DNS answers cluster
 * names and nothing is forwarded off the machine.
 */
export function kubeletConfig(paths: NodePaths, caCert: string, ports: KubeletPorts): string {
  return stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: NODE_NETWORK.address,
    port: ports.kubelet,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: ports.healthz,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: caCert } },
    authorization: { mode: 'Webhook' },
    cgroupDriver: 'cgroupfs',
    cgroupRoot: KUBELET_CGROUP_ROOT,
    failCgroupV1: false,
    failSwapOn: false,
    clusterDNS: [NODE_NETWORK.dnsServiceIp],
    clusterDomain: NODE_NETWORK.clusterDomain,
    resolvConf: paths.resolvConf,
    containerRuntimeEndpoint: `unix://${paths.containerdSocket}`,
    podCIDR: NODE_NETWORK.podCidr,
    podLogsDir: paths.kubeletPodLogs,
    serializeImagePulls: false,
    // The images are imported, never pulled, so image GC would only delete what cannot come back.
    imageGCHighThresholdPercent: 100,
    evictionHard: { 'memory.available': '200Mi', 'nodefs.available': '2%', 'imagefs.available': '2%' },
    protectKernelDefaults: false,
  });
}

export interface KubeProxyPorts {
  readonly healthz: number;
  readonly metrics: number;
}

/** iptables mode; conntrack settings zeroed so kube-proxy leaves the kernel's alone. */
export function kubeProxyConfig(kubeconfig: string, ports: KubeProxyPorts): string {
  return stringify({
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig },
    mode: 'iptables',
    clusterCIDR: NODE_NETWORK.podCidr,
    hostnameOverride: NODE_NAME,
    bindAddress: NODE_NETWORK.address,
    healthzBindAddress: `127.0.0.1:${ports.healthz}`,
    metricsBindAddress: `127.0.0.1:${ports.metrics}`,
    nodePortAddresses: [`${NODE_NETWORK.address}/32`],
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
  });
}
