/**
 * The order in which Argo CD applies a stage's objects, and the per-object sync options, set in one
 * place over the synthesized charts (`annotateForArgoCd`), keyed by kind. Argo CD applies a wave and
 * waits for it to be healthy before the next; lower waves go first. `kubectl apply` ignores both
 * annotations, so the same files serve both ways of deploying.
 */
import { ApiObject, type Chart } from 'cdk8s';

export const SYNC_WAVE_ANNOTATION = 'argocd.argoproj.io/sync-wave';
export const SYNC_OPTIONS_ANNOTATION = 'argocd.argoproj.io/sync-options';

/** Every kind not listed below: workloads, monitoring, jobs. */
export const DEFAULT_SYNC_WAVE = 0;

export const SYNC_WAVES: Readonly<Record<string, number>> = {
  // A custom resource cannot be applied before the API server serves its kind.
  CustomResourceDefinition: -3,
  // Every namespaced object of the stage lives in it, and Argo CD is not asked to create it
  // (no CreateNamespace): the platform chart's Namespace carries the Pod Security labels.
  Namespace: -2,
  // Identities and grants before the pods that run as them, and the network policies with them,
  // so that no pod of the namespace ever runs without its default deny.
  ServiceAccount: -1,
  Role: -1,
  RoleBinding: -1,
  NetworkPolicy: -1,
};

/**
 * Deleting the ParquetOutput CRD or the stage's namespace deletes every ParquetOutput, the record of
 * the datasets written, which Git does not hold: Argo CD never prunes them and keeps them when the
 * Application is deleted.
 */
const KEEP = ['Prune=false', 'Delete=false'];

export const RESOURCE_SYNC_OPTIONS: Readonly<Record<string, readonly string[]>> = {
  // Client-side apply stores the whole object in the last-applied annotation, which the API server
  // caps at 256 KiB: the Spark operator's SparkApplication CRD is 434 KB as JSON and cannot be
  // applied that way. orchard's CRD is 4 KB today; server-side apply keeps it clear of that cliff
  // as its schema grows, and lets the API server own the defaults it writes.
  CustomResourceDefinition: ['ServerSideApply=true', ...KEEP],
  Namespace: KEEP,
};

export function syncWaveOf(kind: string): number {
  return SYNC_WAVES[kind] ?? DEFAULT_SYNC_WAVE;
}

/** Writes the wave (and, for the kinds above, the sync options) on every object of the chart. */
export function annotateForArgoCd(chart: Chart): void {
  for (const object of chart.node.findAll().filter(ApiObject.isApiObject)) {
    object.metadata.addAnnotation(SYNC_WAVE_ANNOTATION, String(syncWaveOf(object.kind)));
    const options = RESOURCE_SYNC_OPTIONS[object.kind];
    if (options) object.metadata.addAnnotation(SYNC_OPTIONS_ANNOTATION, options.join(','));
  }
}
