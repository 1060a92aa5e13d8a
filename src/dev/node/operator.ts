import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { OrchardError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { SPARK_OPERATOR_VERSION } from '../versions.ts';
import type { BuiltImage } from '../images.ts';

/** Where the operator runs, as docs/deploying.md installs it. */
export const SPARK_OPERATOR_NAMESPACE = 'spark-operator';

export interface SparkOperatorInstall {
  readonly helm: string;
  readonly kubeconfig: string;
  /** The operator module's source: its chart is the one the kubeflow Helm repository publishes. */
  readonly source: string;
  readonly image: BuiltImage;
  readonly jobNamespaces: readonly string[];
  /**
   * The mutating webhook: on in the kubeflow chart, off by default in EMR on EKS's chart. orchard's
   * SparkApplications must run either way, so the node can run both.
   */
  readonly webhook: boolean;
  readonly log: Logger;
}

/**
 * The node's operator watches every namespace (`spark.jobNamespaces` `[""]`): tests run each
 * SparkApplication in a namespace of its own.
 */
export const EVERY_NAMESPACE: readonly string[] = [''];

/** `registry/repository:tag` as the chart's three image values. */
export function imageValues(ref: string): { registry: string; repository: string; tag: string } {
  const match = /^([^/]+)\/(.+):([^:/]+)$/.exec(ref);
  if (!match) throw new OrchardError(`image "${ref}" is not registry/repository:tag`, 'name the operator image with a registry host, a repository and a tag');
  return { registry: match[1]!, repository: match[2]!, tag: match[3]! };
}

/**
 * The chart values: those docs/deploying.md gives users (watch the job namespaces; orchard brings
 * the driver's service account and RBAC), the image built here, and requests that fit a 2-core node.
 */
export function sparkOperatorValues(options: Pick<SparkOperatorInstall, 'image' | 'jobNamespaces' | 'webhook'>): string[] {
  const image = imageValues(options.image.ref);
  return [
    `spark.jobNamespaces={${options.jobNamespaces.join(',')}}`,
    'spark.serviceAccount.create=false',
    'spark.rbac.create=false',
    `webhook.enable=${options.webhook}`,
    `image.registry=${image.registry}`,
    `image.repository=${image.repository}`,
    `image.tag=${image.tag}`,
    'image.pullPolicy=Never',
    'controller.resources.requests.cpu=50m',
    'controller.resources.requests.memory=128Mi',
    'webhook.resources.requests.cpu=20m',
    'webhook.resources.requests.memory=64Mi',
  ];
}

function run(command: string, args: readonly string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolveRun({ code: code ?? 1, output }));
  });
}

/** The operator's Helm chart in its module source: the one the kubeflow Helm repository publishes for the version. */
export function sparkOperatorChart(source: string): string {
  return join(source, 'charts', 'spark-operator-chart');
}

/** Installs (or upgrades) the operator from its own chart and waits until its pods are ready. */
export async function installSparkOperator(options: SparkOperatorInstall): Promise<void> {
  const args = [
    'upgrade',
    '--install',
    'spark-operator',
    sparkOperatorChart(options.source),
    '--kubeconfig',
    options.kubeconfig,
    '--namespace',
    SPARK_OPERATOR_NAMESPACE,
    '--create-namespace',
    ...sparkOperatorValues(options).flatMap((value) => ['--set', value]),
    '--wait',
    '--timeout',
    '5m',
  ];
  const result = await run(options.helm, args);
  if (result.code !== 0) {
    throw new OrchardError(`installing spark-operator ${SPARK_OPERATOR_VERSION} with its Helm chart failed`, `run \`kubectl -n ${SPARK_OPERATOR_NAMESPACE} get pods\` and describe the ones not Ready`, { helm: result.output.trim() });
  }
  options.log.info('installed spark-operator', { version: SPARK_OPERATOR_VERSION, webhook: options.webhook, namespaces: options.jobNamespaces });
}
