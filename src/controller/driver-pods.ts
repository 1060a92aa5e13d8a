import type { KubeObject } from '../api/manifest.ts';
import { SPARK_CONTAINER } from '../api/spark-application.ts';
import { jobErrorFrom } from './job-error.ts';

/**
 * Driver pods, watched for one thing: the words of a failed attempt. When a SparkApplication's
 * restartPolicy runs it again, spark-operator v2.5.2 deletes the failed driver pod in the same
 * reconcile that leaves FAILING (controller.go, reconcileFailingSparkApplication), often within
 * milliseconds, and resets the status; the driver's termination message, where the job says why
 * it failed, goes with the pod. A watch sees the pod's last state before it goes.
 */

/** The labels spark-operator v2.5.2 sets on the pods it launches (pkg/common/spark.go). */
export const SPARK_ROLE_LABEL = 'spark-role';
export const SPARK_APP_NAME_LABEL = 'sparkoperator.k8s.io/app-name';
export const DRIVER_POD_SELECTOR = `${SPARK_ROLE_LABEL}=driver`;

export function podsPath(namespace?: string): string {
  return namespace ? `/api/v1/namespaces/${namespace}/pods` : '/api/v1/pods';
}

/** What the cache keeps of a driver pod: its application and how its driver container ended. */
export interface DriverPod extends KubeObject {
  readonly metadata: KubeObject['metadata'] & { readonly labels?: Readonly<Record<string, string>> };
  readonly status?: { readonly containerStatuses?: readonly { readonly name: string; readonly state?: { readonly terminated?: { readonly exitCode: number; readonly message?: string } } }[] };
}

/** The informer's transform: a pod spec and most of its status are never read here. */
export function driverPodFields(pod: DriverPod): DriverPod {
  const { name, namespace, uid, resourceVersion, labels } = pod.metadata;
  const driver = pod.status?.containerStatuses?.find((c) => c.name === SPARK_CONTAINER.driver);
  return {
    apiVersion: pod.apiVersion,
    kind: pod.kind,
    metadata: { name, namespace, uid, resourceVersion, labels: { [SPARK_APP_NAME_LABEL]: labels?.[SPARK_APP_NAME_LABEL] ?? '' } },
    ...(driver ? { status: { containerStatuses: [{ name: driver.name, ...(driver.state ? { state: driver.state } : {}) }] } } : {}),
  };
}

/** The failure a driver pod holds: its application's key and the job's own error; undefined while it runs or when it succeeded. */
export function failedDriver(pod: DriverPod): { readonly job: string; readonly error: string | undefined } | undefined {
  const app = pod.metadata.labels?.[SPARK_APP_NAME_LABEL];
  const terminated = pod.status?.containerStatuses?.find((c) => c.name === SPARK_CONTAINER.driver)?.state?.terminated;
  if (!app || !terminated || terminated.exitCode === 0) return undefined;
  return { job: `${pod.metadata.namespace ?? 'default'}/${app}`, error: jobErrorFrom(terminated.message) };
}

/**
 * The last failed driver of each job, kept after its pod is deleted: what a reconcile that runs
 * after the retry's clean-up still needs to say why the attempt failed. One entry per job that
 * ever failed; `forget` drops it with the job.
 */
export class FailedDrivers {
  private readonly last = new Map<string, string | undefined>();

  /** Takes a pod's last state (added, updated or deleted); returns the job it concerns when that job's failure changed. */
  observe(pod: DriverPod): string | undefined {
    const failed = failedDriver(pod);
    if (!failed || (this.last.has(failed.job) && this.last.get(failed.job) === failed.error)) return undefined;
    this.last.set(failed.job, failed.error);
    return failed.job;
  }

  /** The job's own words for its last failed driver, if one was seen. */
  errorOf(job: string): string | undefined {
    return this.last.get(job);
  }

  forget(job: string): void {
    this.last.delete(job);
  }
}
