import { Resolver } from 'node:dns/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { diffMachineState, machineState } from '../../../src/dev/node/machine.ts';
import { NODE_NETWORK } from '../../../src/dev/node/network.ts';
import { NODE_OWNER_FILE, readNodeState } from '../../../src/dev/node/node.ts';
import { down, up } from '../../../src/dev/stack.ts';
import { createLogger } from '../../../src/log.ts';
import { REPO_ROOT } from '../../../src/paths.ts';
import { getOk, leaveSharedNode, SHARED_NODE_DIR, withSharedNode } from '../../support/node-stage.ts';

const log = createLogger({ component: 'node-test' });

/**
 * A real node on this machine: `up` brings it up, `down` leaves the machine as `up` found it.
 * The node's own parts are proven by what they serve: a Ready node, a scheduled CoreDNS pod that
 * answers cluster names over the pod network, Services routed by kube-proxy. This is the shared
 * node, after every other file's jobs ran on it (vitest.config.ts orders the files): the machine
 * after its `down` is compared with the machine before the run's first node.
 */
describe('the local Kubernetes node', () => {
  const node = withSharedNode(log);

  it('registers one Ready node at the bridge address, with the pinned kubelet', async () => {
    const nodes = await getOk<{ items: { metadata: { name: string }; status: { addresses: { type: string; address: string }[]; conditions: { type: string; status: string }[]; nodeInfo: { kubeletVersion: string; containerRuntimeVersion: string } } }[] }>(node.kc, '/api/v1/nodes');
    expect(nodes.items).toHaveLength(1);
    const [registered] = nodes.items;
    expect(registered!.status.addresses).toContainEqual({ type: 'InternalIP', address: NODE_NETWORK.address });
    expect(registered!.status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(registered!.status.nodeInfo.kubeletVersion).toBe(node.state.versions.kubernetes);
    expect(registered!.status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\/1\.6\./);
  });

  it('serves cluster DNS from a pod on the pod network: Service names resolve to their ClusterIPs', async () => {
    const pods = await getOk<{ items: { status: { podIP?: string; phase: string } }[] }>(node.kc, '/api/v1/namespaces/kube-system/pods?labelSelector=k8s-app%3Dkube-dns');
    const podIp = pods.items[0]?.status.podIP;
    expect(podIp).toMatch(/^10\.244\.0\.\d+$/);
    const resolver = new Resolver({ timeout: 2000, tries: 3 });
    resolver.setServers([podIp!]);
    expect(await resolver.resolve4(`kubernetes.default.svc.${NODE_NETWORK.clusterDomain}`)).toEqual([NODE_NETWORK.kubernetesServiceIp]);
    expect(await resolver.resolve4(`kube-dns.kube-system.svc.${NODE_NETWORK.clusterDomain}`)).toEqual([NODE_NETWORK.dnsServiceIp]);
    // No `forward`: a name outside the cluster gets no answer from off the machine.
    await expect(resolver.resolve4('example.com')).rejects.toThrow();
  });

  it('records its host changes in the stack folder and claims the machine while it runs', async () => {
    const node = await readNodeState(SHARED_NODE_DIR);
    expect(Object.keys(node!.processes).sort()).toEqual(['containerd', 'kube-proxy', 'kube-scheduler', 'kubelet']);
    expect(existsSync(NODE_OWNER_FILE)).toBe(true);
    const second = join(REPO_ROOT, '.orchard', 'test-node-second');
    await expect(up({ stateDir: second, log, node: true })).rejects.toThrow(/already running on this machine, from .*test-node/);
    await down({ stateDir: second, log });
  });

  it('goes down leaving the machine as it found it: processes, interfaces, iptables, sysctls, mounts, cgroups, host folders', async () => {
    const before = inject('machineBeforeNode');
    const during = machineState();
    expect(during.interfaces).toContain(NODE_NETWORK.bridge);
    expect(during.processes.some((p) => p.startsWith('kubelet'))).toBe(true);
    expect(diffMachineState(before, during).length).toBeGreaterThan(0);
    await leaveSharedNode(log);
    expect(diffMachineState(before, machineState())).toEqual([]);
  }, 120_000);
});
