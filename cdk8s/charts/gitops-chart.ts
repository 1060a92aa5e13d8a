import { posix } from 'node:path';
import { Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import { ARGOCD_NAMESPACE, ArgocdApplication } from '../constructs/argocd-application.ts';
import { ARGOCD_DIR, DEFAULT_PROJECT, type GitopsConfig, type StageApplication } from '../gitops.ts';
import type { StageConfig } from '../stages.ts';

export interface GitopsChartProps {
  readonly stage: StageConfig;
  readonly gitops: GitopsConfig;
  /** The stage's files (as `orchard synth` names them under `<stage>/`) that each Application syncs. */
  readonly files: Readonly<Record<StageApplication, readonly string[]>>;
  /** The Applications' own file under `argocd/`, which the root Application syncs. */
  readonly applicationsFile: string;
}

/** An Argo CD directory include: one file by name, several as a brace glob. */
function include(files: readonly string[]): string {
  return files.length === 1 ? files[0]! : `{${files.join(',')}}`;
}

/**
 * The stage's Argo CD Applications, as an app of apps. The root syncs this chart's own file, so it
 * manages itself and its two children after one `kubectl apply`; its children's waves put the
 * platform before the jobs that need its namespace, service account and CRDs.
 */
export class GitopsChart extends Chart {
  readonly root: ArgocdApplication;
  readonly platform: ArgocdApplication;
  readonly jobs: ArgocdApplication;

  constructor(scope: Construct, id: string, props: GitopsChartProps) {
    super(scope, id);
    const { stage, gitops } = props;
    const project = gitops.project ?? DEFAULT_PROJECT;
    const source = (folder: string, files: readonly string[]) => ({
      repoUrl: gitops.repoUrl,
      targetRevision: gitops.targetRevision,
      path: posix.join(gitops.path, folder),
      include: include(files),
    });

    this.root = new ArgocdApplication(this, 'root', {
      name: `orchard-${stage.name}`,
      project,
      source: source(ARGOCD_DIR, [props.applicationsFile]),
      destinationNamespace: ARGOCD_NAMESPACE,
      // It syncs itself as well: its own change lands before its children's.
      wave: -1,
      // The children are configuration: a child dropped from Git goes, a hand edit is reverted.
      // Neither touches what the children deployed, since they carry no resources finalizer.
      automation: { automated: true, prune: true, selfHeal: true },
    });
    this.platform = new ArgocdApplication(this, 'platform', {
      name: `orchard-${stage.name}-platform`,
      project,
      source: source(stage.name, props.files.platform),
      destinationNamespace: stage.namespace,
      wave: 0,
      automation: gitops.platform,
    });
    this.jobs = new ArgocdApplication(this, 'jobs', {
      name: `orchard-${stage.name}-jobs`,
      project,
      source: source(stage.name, props.files.jobs),
      destinationNamespace: stage.namespace,
      wave: 1,
      automation: gitops.jobs,
    });
  }
}
