import type { KubeConfig } from '@kubernetes/client-node';
import { OUTPUTS_ANNOTATION } from '../../src/api/parquet-output.ts';
import { kubeRequest, statusMessage } from '../../src/kube/raw.ts';
import { sparkApplicationFor } from '../../src/spark/application.ts';
import { RUN_PLACEHOLDER } from '../../src/api/run-output.ts';
import { scheduledSparkApplicationsPath, sparkApplicationsPath, SPARK_GROUP_VERSION } from '../../src/api/spark-application.ts';
import { scheduledSparkApplicationFor } from '../../src/spark/scheduled-application.ts';
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

/** Creates the ScheduledSparkApplication orchard's construct would, writing each run under `root`/{run}. */
export async function createSchedule(kc: KubeConfig, namespace: string, name: string, root: string): Promise<SparkApplicationObject> {
  const manifest = scheduledSparkApplicationFor({
    name,
    namespace,
    input: 's3a://orchard-dev/fruits-360/Training/',
    output: `${root.replace(/\/+$/, '')}/${RUN_PLACEHOLDER}`,
    image: 'orchard/resnet50-cpu:0.1.0',
    serviceAccount: 'orchard-spark',
    schedule: { cron: '* * * * *' },
  });
  const response = await kubeRequest(kc, 'POST', scheduledSparkApplicationsPath(namespace), manifest);
  if (response.status !== 201) throw new Error(`create ScheduledSparkApplication ${namespace}/${name}: ${response.status} ${statusMessage(response)}`);
  return JSON.parse(response.body) as SparkApplicationObject;
}

/**
 * Creates a run of a schedule as spark-operator v2.5.2 does (scheduledsparkapplication/controller.go,
 * createSparkApplication): named <schedule>-<UnixNano>, the schedule's labels plus the
 * scheduled-app-name label, an owner reference to the schedule, the template as spec, and no annotations.
 */
export async function createScheduledRun(kc: KubeConfig, schedule: SparkApplicationObject, startedAt: Date): Promise<SparkApplicationObject> {
  const run = scheduledRun(schedule, startedAt);
  const { namespace } = schedule.metadata;
  const response = await kubeRequest(kc, 'POST', sparkApplicationsPath(namespace!), run);
  if (response.status !== 201) throw new Error(`create SparkApplication ${namespace}/${run.metadata.name}: ${response.status} ${statusMessage(response)}`);
  return JSON.parse(response.body) as SparkApplicationObject;
}

/** The run of a schedule that createScheduledRun creates, for a caller that sends it itself. */
export function scheduledRun(schedule: SparkApplicationObject, startedAt: Date) {
  const { name, namespace, uid, labels } = schedule.metadata;
  return {
    apiVersion: SPARK_GROUP_VERSION,
    kind: 'SparkApplication',
    metadata: {
      name: `${name}-${BigInt(startedAt.getTime()) * 1_000_000n}`,
      namespace,
      labels: { 'sparkoperator.k8s.io/scheduled-app-name': name, ...labels },
      ownerReferences: [{ apiVersion: SPARK_GROUP_VERSION, kind: 'ScheduledSparkApplication', name, uid, blockOwnerDeletion: true }],
    },
    spec: (schedule as unknown as { spec: { template: unknown } }).spec.template,
  };
}
