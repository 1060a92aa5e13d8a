import { Construct } from 'constructs';
import { Application, type ApplicationProps } from '../imports/argoproj.io.ts';
import type { SyncAutomation } from '../gitops.ts';
import { SYNC_WAVE_ANNOTATION } from '../sync-waves.ts';
import { platformLabels } from './labels.ts';

/** Argo CD reads Applications from its own namespace only, unless apps-in-any-namespace is set up. */
export const ARGOCD_NAMESPACE = 'argocd';

/** The in-cluster API server, as Argo CD registers the cluster it runs in. */
export const IN_CLUSTER = 'https://kubernetes.default.svc';

/**
 * A failed sync is retried 5 times, 10 s, 20 s, 40 s, 80 s then 160 s apart (capped at 3 min): about
 * five minutes, long enough for the platform's CRD and namespace to land when both Applications are
 * created at once, short enough that a real error surfaces while someone still watches the rollout.
 */
export const SYNC_RETRY = { limit: 5, backoff: { duration: '10s', factor: 2, maxDuration: '3m' } } as const;

export const APPLICATION_SYNC_OPTIONS = [
  // Objects removed from Git go only once the rest of the revision is applied and healthy.
  'PruneLast=true',
  // Two Applications claiming one object (two stages aimed at the same namespace) fail the sync
  // instead of taking turns overwriting it.
  'FailOnSharedResource=true',
] as const;

export interface ArgocdApplicationProps {
  /** The Application's name in the Argo CD namespace. */
  readonly name: string;
  /** The Argo CD AppProject. */
  readonly project: string;
  /** Where the manifests are: repository, revision, folder and, optionally, which files of it. */
  readonly source: {
    readonly repoUrl: string;
    readonly targetRevision: string;
    readonly path: string;
    /** A glob of file names in `path` (`{a.yaml,b.yaml}` for several); every file when unset. */
    readonly include?: string;
  };
  /** The namespace the manifests' namespaced objects go to, on the in-cluster server. */
  readonly destinationNamespace: string;
  /** The Application's own wave, for the app of apps that syncs it. */
  readonly wave: number;
  readonly automation: SyncAutomation;
}

/** The Application's props from orchard's: the one mapping, pure, so tests can read it directly. */
export function argocdApplicationProps(props: ArgocdApplicationProps): ApplicationProps {
  const { automation, source } = props;
  return {
    metadata: {
      name: props.name,
      namespace: ARGOCD_NAMESPACE,
      labels: platformLabels('gitops'),
      annotations: { [SYNC_WAVE_ANNOTATION]: String(props.wave) },
    },
    spec: {
      project: props.project,
      source: {
        repoUrl: source.repoUrl,
        targetRevision: source.targetRevision,
        path: source.path,
        directory: { recurse: false, ...(source.include ? { include: source.include } : {}) },
      },
      destination: { server: IN_CLUSTER, namespace: props.destinationNamespace },
      syncPolicy: {
        ...(automation.automated ? { automated: { prune: automation.prune, selfHeal: automation.selfHeal } } : {}),
        syncOptions: [...APPLICATION_SYNC_OPTIONS],
        retry: { limit: SYNC_RETRY.limit, backoff: { ...SYNC_RETRY.backoff } },
      },
    },
  };
}

/**
 * One Argo CD Application. No ignoreDifferences: Argo CD compares only the fields Git sets, and no
 * one else writes those. The Spark operator (v2.5.2) writes a SparkApplication's status, and its
 * webhook fills spec defaults only where a field is absent (orchard sets every one of them);
 * orchard's controller writes its own ParquetOutputs; the API server's defaults land in fields Git
 * leaves out (test/cdk8s/gitops.test.ts applies the stage and reads every field back).
 * No resources finalizer: deleting the Application leaves what it
 * deployed running (the SparkApplications own the ParquetOutputs that record datasets); removing
 * objects is the job of a Git change and prune.
 */
export class ArgocdApplication extends Construct {
  readonly application: Application;

  constructor(scope: Construct, id: string, props: ArgocdApplicationProps) {
    super(scope, id);
    this.application = new Application(this, 'application', argocdApplicationProps(props));
  }
}
