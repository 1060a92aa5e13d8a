import type { KubeConfig } from '@kubernetes/client-node';
import { API_VERSION, PLURAL, type ParquetOutput } from '../../src/api/parquet-output.ts';
import { kubeRequest, statusMessage } from '../../src/kube/raw.ts';

export interface RecordedOutput extends ParquetOutput {
  readonly metadata: ParquetOutput['metadata'] & {
    readonly ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
    readonly creationTimestamp?: string;
  };
}

export async function listOutputs(kc: KubeConfig, namespace: string): Promise<RecordedOutput[]> {
  const response = await kubeRequest(kc, 'GET', `/apis/${API_VERSION}/namespaces/${namespace}/${PLURAL}`);
  if (response.status !== 200) throw new Error(`list ParquetOutputs in ${namespace}: ${response.status} ${statusMessage(response)}`);
  return (JSON.parse(response.body) as { items: RecordedOutput[] }).items;
}

/** The outputs of one job (by SparkApplication name), or undefined while there are fewer than `count`. */
export async function outputsOf(kc: KubeConfig, namespace: string, job: string, count = 1): Promise<RecordedOutput[] | undefined> {
  const items = (await listOutputs(kc, namespace)).filter((o) => o.spec.source.name === job);
  return items.length >= count ? items : undefined;
}

export interface KubeEvent {
  readonly reason: string;
  readonly type: string;
  readonly message: string;
  readonly involvedObject: { kind: string; name: string; uid: string };
}

export async function eventsFor(kc: KubeConfig, namespace: string, name: string): Promise<KubeEvent[]> {
  const query = new URLSearchParams({ fieldSelector: `involvedObject.name=${name}` });
  const response = await kubeRequest(kc, 'GET', `/api/v1/namespaces/${namespace}/events?${query}`);
  if (response.status !== 200) throw new Error(`list events in ${namespace}: ${response.status} ${statusMessage(response)}`);
  return (JSON.parse(response.body) as { items: KubeEvent[] }).items;
}
