import type { KubeConfig } from '@kubernetes/client-node';
import { OUTPUTS_ANNOTATION } from '../../src/api/parquet-output.ts';
import { kubeRequest, statusMessage } from '../../src/kube/raw.ts';
import { sparkApplicationFor } from '../../src/spark/application.ts';
import { sparkApplicationsPath } from '../../src/api/spark-application.ts';
import type { SparkApplicationObject } from '../../src/api/spark-application.ts';

/** Creates the SparkApplication orchard's construct would, writing `outputs` (its own output by default). */
export async function createJob(kc: KubeConfig, namespace: string, name: string, output: string, annotation?: string): Promise<SparkApplicationObject> {
  const manifest = sparkApplicationFor({
    name,
    namespace,
    input: 's3a://orchard-dev/fruits-360/Training/',
    output,
    image: 'orchard/resnet50-cpu:0.1.0',
    serviceAccount: 'orchard-spark',
  }) as { metadata: { annotations: Record<string, string> } };
  if (annotation !== undefined) manifest.metadata.annotations[OUTPUTS_ANNOTATION] = annotation;
  const response = await kubeRequest(kc, 'POST', sparkApplicationsPath(namespace), manifest);
  if (response.status !== 201) throw new Error(`create SparkApplication ${namespace}/${name}: ${response.status} ${statusMessage(response)}`);
  return JSON.parse(response.body) as SparkApplicationObject;
}

export async function getJob(kc: KubeConfig, namespace: string, name: string): Promise<SparkApplicationObject | undefined> {
  const response = await kubeRequest(kc, 'GET', `${sparkApplicationsPath(namespace)}/${name}`);
  if (response.status === 404) return undefined;
  if (response.status !== 200) throw new Error(`get SparkApplication ${namespace}/${name}: ${response.status} ${statusMessage(response)}`);
  return JSON.parse(response.body) as SparkApplicationObject;
}

export async function deleteJob(kc: KubeConfig, namespace: string, name: string): Promise<void> {
  const response = await kubeRequest(kc, 'DELETE', `${sparkApplicationsPath(namespace)}/${name}`, { propagationPolicy: 'Background' });
  if (response.status !== 200 && response.status !== 202) throw new Error(`delete SparkApplication ${namespace}/${name}: ${response.status} ${statusMessage(response)}`);
}

/** Moves a job's status the way the Spark operator does, through the status subresource. */
export async function setJobState(kc: KubeConfig, namespace: string, name: string, state: string, options: { attempt?: number; errorMessage?: string } = {}): Promise<void> {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const attempt = options.attempt ?? 1;
  const status = {
    applicationState: { state, ...(options.errorMessage ? { errorMessage: options.errorMessage } : {}) },
    sparkApplicationId: `spark-${name}-${attempt}`,
    submissionID: `${name}-${attempt}`,
    submissionAttempts: attempt,
    executionAttempts: attempt,
    lastSubmissionAttemptTime: now,
    driverInfo: { podName: `${name}-driver` },
    ...(state === 'COMPLETED' || state === 'FAILED' ? { terminationTime: now } : {}),
  };
  const response = await kubeRequest(kc, 'PATCH', `${sparkApplicationsPath(namespace)}/${name}/status`, { status }, 'application/merge-patch+json');
  if (response.status !== 200) throw new Error(`set state of SparkApplication ${namespace}/${name}: ${response.status} ${statusMessage(response)}`);
}
