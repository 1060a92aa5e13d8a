import { ImagePullPolicy } from 'cdk8s-plus-27';
import { describe, expect, it } from 'vitest';
import { LEASE_NAME } from '../../../src/api/controller.ts';
import { helmPath } from '../../../src/dev/helm.ts';
import { imageArchives } from '../../../src/dev/images.ts';
import { kubeConfigFor } from '../../../src/dev/stack.ts';
import { requireTool } from '../../../src/dev/tools.ts';
import { kubeRequest } from '../../../src/kube/raw.ts';
import { createLogger } from '../../../src/log.ts';
import { CHART, helm, valuesFile, valuesWith } from '../../support/helm.ts';
import { eventually } from '../../support/kube.ts';
import { sharedNodeStack } from '../../support/node-stage.ts';

const log = createLogger({ component: 'chart-node-test' });
/** Its own namespace: the dev stage's controller runs in `orchard` on the same node, and each watches only its own. */
const NAMESPACE = 'orchard-helm';
const CREDENTIALS = 'orchard-s3';

interface Pod {
  metadata: { name: string };
  spec: { securityContext?: Record<string, unknown>; containers: { name: string; image: string; securityContext?: Record<string, unknown> }[] };
  status: { conditions?: { type: string; status: string }[] };
}

/**
 * `helm install` of charts/orchard, as the README's EKS steps run it, with the controller image
 * built here: the chart's own Deployment must become Ready on a real kubelet, under the
 * `restricted` Pod Security profile, with one of its pods leading.
 */
describe('the Helm chart on the local Kubernetes node', () => {
  it('installs the controller: both replicas become Ready in a restricted namespace, and one holds the Lease', async () => {
    for (const tool of ['node', 'node images', 'images', 'helm'] as const) requireTool(tool);
    const state = await sharedNodeStack(log);
    const kc = kubeConfigFor(state);
    const namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } };
    const created = await kubeRequest(kc, 'POST', '/api/v1/namespaces', namespace);
    expect([201, 409], created.body).toContain(created.status);
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: CREDENTIALS }, stringData: { AWS_ACCESS_KEY_ID: state.s3.accessKeyId, AWS_SECRET_ACCESS_KEY: state.s3.secretAccessKey } };
    const stored = await kubeRequest(kc, 'POST', `/api/v1/namespaces/${NAMESPACE}/secrets`, secret);
    expect([201, 409], stored.body).toContain(stored.status);

    // The image the node imported, under the name the chart's repository and tag make.
    const ref = imageArchives().controller.ref;
    const colon = ref.lastIndexOf(':');
    const values = valuesWith({
      image: { repository: ref.slice(0, colon), tag: ref.slice(colon + 1), pullPolicy: ImagePullPolicy.NEVER },
      aws: { region: state.s3.region },
      s3: { endpoint: state.s3.endpoint, credentialsSecret: CREDENTIALS },
    });
    const install = await helm(helmPath(), ['upgrade', '--install', 'orchard', CHART, '--namespace', NAMESPACE, '--kubeconfig', state.kubeconfig, '-f', await valuesFile(values), '--wait', '--timeout', '5m']);
    expect(install.code, install.stderr).toBe(0);
    try {
      const deployment = await kubeRequest(kc, 'GET', `/apis/apps/v1/namespaces/${NAMESPACE}/deployments/orchard-controller`);
      const status = (JSON.parse(deployment.body) as { spec: { replicas: number }; status: { readyReplicas?: number } });
      expect(status.status.readyReplicas).toBe(status.spec.replicas);
      expect(status.spec.replicas).toBe(2);
      const pods = (JSON.parse((await kubeRequest(kc, 'GET', `/api/v1/namespaces/${NAMESPACE}/pods?labelSelector=${encodeURIComponent('app.kubernetes.io/name=orchard-controller')}`)).body) as { items: Pod[] }).items;
      expect(pods.map((pod) => pod.spec.containers[0]!.image)).toEqual([ref, ref]);
      for (const pod of pods) {
        expect(pod.status.conditions?.find((c) => c.type === 'Ready')?.status, pod.metadata.name).toBe('True');
        expect(pod.spec.containers[0]!.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, runAsNonRoot: true });
      }
      // Readiness does not wait for leadership: a standby is Ready too. The Lease shows one leads.
      const holder = await eventually(async () => {
        const lease = await kubeRequest(kc, 'GET', `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases/${LEASE_NAME}`);
        return lease.status === 200 ? (JSON.parse(lease.body) as { spec: { holderIdentity?: string } }).spec.holderIdentity : undefined;
      }, 60_000, 'a controller pod holding the Lease');
      expect(pods.some((pod) => holder.startsWith(pod.metadata.name)), `Lease holder ${holder}`).toBe(true);
    } finally {
      const uninstall = await helm(helmPath(), ['uninstall', 'orchard', '--namespace', NAMESPACE, '--kubeconfig', state.kubeconfig, '--wait']);
      expect(uninstall.code, uninstall.stderr).toBe(0);
    }
  }, 600_000);
});
