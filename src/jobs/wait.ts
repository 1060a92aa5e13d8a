import type { KubeConfig } from '@kubernetes/client-node';
import { API_VERSION, PLURAL, type ParquetOutput } from '../api/parquet-output.ts';
import { COMPLETED, sparkApplicationsPath, type SparkApplicationObject } from '../api/spark-application.ts';
import { OrchardError } from '../errors.ts';
import { kubeRequest, statusMessage } from '../kube/raw.ts';

export interface JobOutcome {
  readonly job: SparkApplicationObject;
  readonly outputs: readonly ParquetOutput[];
}

const FINAL_PHASES = new Set(['Recorded', 'Incomplete', 'Failed']);

/**
 * Polls a SparkApplication until it ends and the controller has recorded its outputs in a final
 * phase; calls `onChange` whenever the job's state or an output's phase changes.
 */
export async function waitForJob(
  kc: KubeConfig,
  namespace: string,
  name: string,
  options: { timeoutMs: number; onChange?: (outcome: JobOutcome) => void; signal?: AbortSignal },
): Promise<JobOutcome> {
  const deadline = Date.now() + options.timeoutMs;
  let seen = '';
  for (;;) {
    const jobResponse = await kubeRequest(kc, 'GET', `${sparkApplicationsPath(namespace)}/${name}`);
    if (jobResponse.status === 404) throw new OrchardError(`SparkApplication ${namespace}/${name} was deleted while waiting for it`, 'check who deleted it: `kubectl get events -n ' + namespace + '`');
    if (jobResponse.status !== 200) throw new OrchardError(`reading SparkApplication ${namespace}/${name} answered ${jobResponse.status}: ${statusMessage(jobResponse)}`);
    const job = JSON.parse(jobResponse.body) as SparkApplicationObject;
    const query = new URLSearchParams({ labelSelector: `orchard.fruits.dev/spark-application=${name}` });
    const outputsResponse = await kubeRequest(kc, 'GET', `/apis/${API_VERSION}/namespaces/${namespace}/${PLURAL}?${query}`);
    const outputs = outputsResponse.status === 200 ? (JSON.parse(outputsResponse.body) as { items: ParquetOutput[] }).items.filter((o) => o.spec.source.uid === job.metadata.uid) : [];
    const state = job.status?.applicationState?.state ?? '';
    const key = `${state}|${outputs.map((o) => o.status?.phase ?? '').join(',')}`;
    const outcome = { job, outputs };
    if (key !== seen) {
      seen = key;
      options.onChange?.(outcome);
    }
    // SUBMISSION_FAILED is not the end: the operator retries the submission, then ends FAILED.
    const ended = state === COMPLETED || state === 'FAILED';
    if (ended && outputs.length > 0 && outputs.every((o) => FINAL_PHASES.has(o.status?.phase ?? ''))) return outcome;
    if (Date.now() > deadline) {
      throw new OrchardError(
        `SparkApplication ${namespace}/${name} is ${state || 'not started'} after ${Math.round(options.timeoutMs / 1000)} s${ended ? ' and its outputs are not recorded yet' : ''}`,
        ended ? 'check that the orchard controller runs (`kubectl logs deploy/orchard-controller`)' : 'check the Spark operator and the driver: `kubectl describe sparkapplication ' + name + '`',
      );
    }
    if (options.signal?.aborted) throw new OrchardError(`stopped waiting for ${namespace}/${name}`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
}
