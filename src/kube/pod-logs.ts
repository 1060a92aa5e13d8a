import type { KubeConfig } from '@kubernetes/client-node';
import { kubeRequest, statusMessage } from './raw.ts';

/**
 * A pod's log as the kubelet keeps it, through the API server (`kubectl logs`). Undefined when
 * the pod or its log is gone: a log is kept for the record, never a reason to fail a run.
 */
export async function podLog(kc: KubeConfig, namespace: string, pod: string, container?: string): Promise<string | undefined> {
  const query = container ? `?container=${encodeURIComponent(container)}` : '';
  // The log comes back as plain text, though the API server refuses `Accept: text/plain` (406).
  const response = await kubeRequest(kc, 'GET', `/api/v1/namespaces/${namespace}/pods/${pod}/log${query}`).catch(() => undefined);
  return response?.status === 200 ? response.body : undefined;
}

/** The logs of every pod a label selector picks, each headed by its pod's name. */
export async function selectedPodLogs(kc: KubeConfig, namespace: string, selector: string): Promise<string> {
  const response = await kubeRequest(kc, 'GET', `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(selector)}`);
  if (response.status !== 200) return `(no pods listed for ${selector}: ${statusMessage(response)})\n`;
  const names = (JSON.parse(response.body) as { items: { metadata: { name: string } }[] }).items.map((pod) => pod.metadata.name).sort();
  const logs = await Promise.all(names.map(async (name) => `==> pod ${namespace}/${name} <==\n${(await podLog(kc, namespace, name)) ?? '(no log)\n'}`));
  return logs.join('');
}
