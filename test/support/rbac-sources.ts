import { stageApp } from '../../cdk8s/app.ts';
import { defaultValues } from '../../cdk8s/helm/values.ts';
import type { Manifest } from '../../src/api/manifest.ts';
import { nodeBinaries } from '../../src/dev/node/binaries.ts';
import { EVERY_NAMESPACE, sparkOperatorChart, sparkOperatorValues } from '../../src/dev/node/operator.ts';
import { requireTool } from '../../src/dev/tools.ts';
import { STAGE_NAMES, testStage } from '../cdk8s/stages.ts';
import { documents, helm, template } from './helm.ts';

/**
 * One way orchard's RBAC reaches a cluster, rendered for a given namespace. Every source is
 * applied and checked against the same grant table, so two renderings of the same construct
 * cannot drift apart unnoticed. A chart rendered by another tool is one more entry whose `render`
 * returns the parsed objects of, for example, `helm template charts/orchard --namespace NS`.
 */
export interface RbacSource {
  readonly name: string;
  render(namespace: string): Promise<readonly Manifest[]>;
}

/** The kinds that decide who may do what: everything else a source renders is left out. */
export const IDENTITY_KINDS: ReadonlySet<string> = new Set(['Namespace', 'ServiceAccount', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding']);

function platformChart(stage: string): RbacSource {
  return {
    name: `cdk8s platform chart, stage ${stage}`,
    render: async (namespace) => stageApp({ ...testStage(stage), namespace }).platform.toJson() as Manifest[],
  };
}

/** The Helm chart with its default values: it installs the controller's identity, not the driver's. */
const helmChart: RbacSource = {
  name: 'Helm chart charts/orchard, default values',
  render: async (namespace) => template(requireTool('helm'), defaultValues(), namespace),
};

export const RBAC_SOURCES: readonly RbacSource[] = [...STAGE_NAMES.map(platformChart), helmChart];

/**
 * The spark-operator's identities as orchard installs its chart: upstream's v2.5.2 chart from the
 * operator's module source, rendered by `helm template` with the values of `sparkOperatorValues`
 * (the ones installSparkOperator passes, and docs/deploying.md gives users). orchard's own
 * manifests bind nothing to the operator's accounts, so the chart is the whole of their RBAC.
 */
export interface OperatorInstall {
  readonly name: string;
  /** spark.jobNamespaces EVERY_NAMESPACE, as the node installs it: the chart then grants the job-namespace rules in every namespace. */
  readonly everyNamespace: boolean;
  readonly webhook: boolean;
  /** The chart's objects for a release in `operatorNamespace` that runs jobs in `jobNamespace`. */
  render(release: string, operatorNamespace: string, jobNamespace: string): Promise<readonly Manifest[]>;
}

/** The image is a value like any other, but no RBAC rule depends on it. */
const UNUSED_IMAGE = { ref: 'registry.invalid/orchard/spark-operator:rbac', archive: '' };

function operatorInstall(name: string, everyNamespace: boolean, webhook: boolean): OperatorInstall {
  return {
    name,
    everyNamespace,
    webhook,
    render: async (release, operatorNamespace, jobNamespace) => {
      requireTool('node');
      const values = sparkOperatorValues({ image: UNUSED_IMAGE, jobNamespaces: everyNamespace ? EVERY_NAMESPACE : [jobNamespace], webhook });
      const args = ['template', release, sparkOperatorChart(nodeBinaries().sparkOperatorSource), '--namespace', operatorNamespace, ...values.flatMap((value) => ['--set', value])];
      const result = await helm(requireTool('helm'), args);
      if (result.code !== 0) throw new Error(`helm template of the spark-operator chart failed (exit ${result.code}): ${result.stderr}`);
      return documents(result.stdout);
    },
  };
}

export const OPERATOR_INSTALLS: readonly OperatorInstall[] = [
  // docs/deploying.md: the kubeflow chart's default, the webhook on.
  operatorInstall('as docs/deploying.md installs it: the job namespace only, webhook on', false, true),
  // EMR on EKS's chart leaves the webhook off, and orchard's jobs run either way.
  operatorInstall('as docs/deploying.md installs it: the job namespace only, webhook off', false, false),
  // src/dev/node/node.ts: every namespace, since each node test runs its job in a namespace of its own.
  operatorInstall('as the dev node installs it: every namespace, webhook on', true, true),
];
