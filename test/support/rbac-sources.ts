import { stageApp } from '../../cdk8s/app.ts';
import { defaultValues } from '../../cdk8s/helm/values.ts';
import type { Manifest } from '../../src/api/manifest.ts';
import { requireTool } from '../../src/dev/tools.ts';
import { STAGE_NAMES, testStage } from '../cdk8s/stages.ts';
import { template } from './helm.ts';

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
