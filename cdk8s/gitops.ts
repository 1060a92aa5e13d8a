/**
 * How Argo CD deploys a stage: the "rendered manifests" pattern. `dist/` is build output, so CI runs
 * `orchard synth --stage <stage> --out <path>` in a checkout of a deploy branch and commits the
 * result; Argo CD reads plain YAML from there. Its repo server then needs no Node toolchain or
 * plugin sidecar, the commit shows the exact objects a change deploys, and what Argo CD applies is
 * byte for byte what the tests dry-ran.
 */
import { isDnsLabel } from '../src/api/names.ts';

/**
 * The folder of `orchard synth --out` that holds the Applications (and the argocd-cm patch): beside
 * the stages, not inside one, since `kubectl apply -f <out>/<stage>/` targets the workload namespace
 * and Applications live in Argo CD's.
 */
export const ARGOCD_DIR = 'argocd';

/** The two Applications of a stage. */
export type StageApplication = 'platform' | 'jobs';

export interface SyncAutomation {
  /** Argo CD syncs each new revision by itself; otherwise a person presses Sync. */
  readonly automated: boolean;
  /** Automated sync deletes live objects that the revision no longer holds. */
  readonly prune: boolean;
  /** Automated sync reverts changes made in the cluster, and re-creates deleted objects, without a new revision. */
  readonly selfHeal: boolean;
}

export interface GitopsConfig {
  /** The Git repository holding the rendered manifests: `https://host/org/repo(.git)`, `ssh://...` or `git@host:org/repo.git`, without credentials. */
  readonly repoUrl: string;
  /** The branch, tag or commit Argo CD deploys. */
  readonly targetRevision: string;
  /**
   * The folder of that revision that `orchard synth --out` wrote: it holds `<stage>/` (the stage's
   * files) and `argocd/` (the Applications). `.` for the repository's root.
   */
  readonly path: string;
  /**
   * The Argo CD AppProject of the Applications. A project other than `default` must allow the
   * repository, the stage's namespace and `argocd` on the in-cluster server, and the cluster-scoped
   * kinds CustomResourceDefinition and Namespace.
   * @default "default"
   */
  readonly project?: string;
  /** The platform Application: CRDs, namespace, RBAC, network policies, controller, monitoring. */
  readonly platform: SyncAutomation;
  /** The jobs Application: the feature-extraction SparkApplication (or ScheduledSparkApplication) and its PodMonitor. */
  readonly jobs: SyncAutomation;
}

export const DEFAULT_PROJECT = 'default';

/**
 * The platform converges on Git: a removed grant or policy must disappear from the cluster, and a
 * hand edit to RBAC or a network policy must not survive. The CRD and the namespace opt out of
 * pruning on their own (sync-waves.ts).
 */
export const PLATFORM_AUTOMATION: SyncAutomation = { automated: true, prune: true, selfHeal: true };

/**
 * A commit that changes the job is the request to run it (the operator resubmits a SparkApplication
 * whose spec changed; a ScheduledSparkApplication's next runs take the new template), so sync is
 * automated. No prune: deleting a SparkApplication or a ScheduledSparkApplication deletes, through
 * their owner references, the ParquetOutputs that record its datasets. No self-heal: a finished run
 * deleted by hand or by its time to live would be re-created, starting an unasked full ResNet50 pass.
 */
export const JOBS_AUTOMATION: SyncAutomation = { automated: true, prune: false, selfHeal: false };

const HTTPS_URL = /^https:\/\/[a-z0-9.-]+(:\d+)?\/[\w.~/-]+$/i;
const SSH_URL = /^ssh:\/\/[\w.-]+@[a-z0-9.-]+(:\d+)?\/[\w.~/-]+$/i;
const SCP_URL = /^[\w.-]+@[a-z0-9.-]+:[\w.~-][\w.~/-]*$/i;
const CREDENTIALS = /^https?:\/\/[^/@]+@/i;
/** git check-ref-format, without the rules no deploy branch name comes near. */
const GIT_REF = /^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*@\{)[^\s~^:?*[\\]+(?<![./]|\.lock)$/;

/** Every problem with a stage's gitops section; `at(field)` names the stage and the field. */
export function gitopsProblems(gitops: GitopsConfig, at: (field: string) => string): string[] {
  const problems: string[] = [];
  const { repoUrl, targetRevision, path } = gitops;
  if (CREDENTIALS.test(repoUrl)) {
    problems.push(`${at('gitops.repoUrl')} "${repoUrl.replace(/\/\/[^/@]+@/, '//***@')}" holds credentials: remove them and give Argo CD a repository Secret instead`);
  } else if (repoUrl.startsWith('http://')) {
    problems.push(`${at('gitops.repoUrl')} "${repoUrl}" uses plain http: what Argo CD deploys could be altered on the way; use https:// or ssh://`);
  } else if (![HTTPS_URL, SSH_URL, SCP_URL].some((shape) => shape.test(repoUrl))) {
    problems.push(`${at('gitops.repoUrl')} "${repoUrl}" is not a Git repository URL: use https://host/org/repo.git, ssh://git@host/org/repo.git or git@host:org/repo.git`);
  }
  if (targetRevision === 'HEAD' || !GIT_REF.test(targetRevision)) {
    problems.push(`${at('gitops.targetRevision')} "${targetRevision}" is not a branch, tag or commit: name the deploy branch CI commits the rendered manifests to, for example deploy`);
  }
  if (path !== '.' && (path.startsWith('/') || path.endsWith('/') || path.split('/').some((part) => part === '' || part === '.' || part === '..') || /\s/.test(path))) {
    problems.push(`${at('gitops.path')} "${path}" must be a relative folder inside the repository without . or .. parts (or "." for its root), for example dist`);
  }
  const project = gitops.project ?? DEFAULT_PROJECT;
  if (!isDnsLabel(project)) problems.push(`${at('gitops.project')} "${project}" is not an Argo CD AppProject name (a DNS-1123 label)`);
  for (const app of ['platform', 'jobs'] as const) {
    const { automated, prune, selfHeal } = gitops[app];
    const manualOnly = [prune && 'prune', selfHeal && 'selfHeal'].filter(Boolean);
    if (!automated && manualOnly.length > 0) {
      problems.push(`${at(`gitops.${app}`)} sets ${manualOnly.join(' and ')} without automated: Argo CD applies them only to automated syncs; set automated: true or drop them`);
    }
  }
  return problems;
}
