import { KubeConfig } from '@kubernetes/client-node';
import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { OrchardError } from '../errors.ts';
import { defaultStateDir } from '../paths.ts';
import type { S3Settings } from '../s3/client.ts';

export interface ClusterOptions {
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly dev?: boolean;
  readonly state: string;
}

/** `--kubeconfig`, `--context` and `--dev`, shared by every command that talks to a cluster. */
export function clusterOptions(command: Command): Command {
  return command
    .option('--kubeconfig <file>', 'kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, or the in-cluster service account)')
    .option('--context <name>', 'kubeconfig context to use (default: the current one)')
    .option('--dev', 'use the local stack of `orchard dev up` (its API server and S3 server)')
    .option('--state <dir>', 'state folder of the local stack, with --dev (env ORCHARD_DEV_STATE)', defaultStateDir());
}

export interface Cluster {
  readonly kc: KubeConfig;
  /** S3 settings of the local stack with --dev; otherwise from the environment (see s3FromEnv). */
  readonly s3: S3Settings;
  /** The kubeconfig context's namespace, or the pod's own in a cluster. */
  readonly namespace: string;
}

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** Non-AWS S3 (the local stack, MinIO...) through ORCHARD_S3_ENDPOINT; on AWS the default credential chain (IRSA) applies. */
export function s3FromEnv(env: NodeJS.ProcessEnv = process.env): S3Settings {
  return {
    ...(env.ORCHARD_S3_ENDPOINT ? { endpoint: env.ORCHARD_S3_ENDPOINT } : {}),
    ...(env.AWS_REGION ? { region: env.AWS_REGION } : {}),
  };
}

export async function connect(options: ClusterOptions): Promise<Cluster> {
  if (options.dev) {
    // Loaded only with --dev: the controller's image has no local stack to load.
    const { kubeConfigFor, readState } = await import('../dev/stack.ts');
    const stateDir = resolve(options.state);
    const state = await readState(stateDir);
    if (!state) throw new OrchardError(`no local stack in ${stateDir}`, 'start one with `orchard dev up`');
    const { endpoint, region, accessKeyId, secretAccessKey } = state.s3;
    return { kc: kubeConfigFor(state), s3: { endpoint, region, accessKeyId, secretAccessKey }, namespace: 'default' };
  }
  const kc = new KubeConfig();
  try {
    if (options.kubeconfig) kc.loadFromFile(resolve(options.kubeconfig));
    else kc.loadFromDefault();
  } catch (error) {
    throw new OrchardError(`cannot load the kubeconfig: ${(error as Error).message}`, 'pass --kubeconfig <file>, set KUBECONFIG, or use --dev for the local stack', {}, { cause: error });
  }
  if (options.context) {
    if (!kc.getContextObject(options.context)) throw new OrchardError(`no context ${options.context} in the kubeconfig`, `pick one of: ${kc.getContexts().map((c) => c.name).join(', ')}`);
    kc.setCurrentContext(options.context);
  }
  if (!kc.getCurrentCluster()) throw new OrchardError('the kubeconfig names no cluster', 'pass --kubeconfig <file>, set KUBECONFIG, or use --dev for the local stack');
  const inCluster = existsSync(SERVICE_ACCOUNT_NAMESPACE) ? readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim() : undefined;
  const namespace = kc.getContextObject(kc.getCurrentContext())?.namespace ?? inCluster ?? 'default';
  return { kc, s3: s3FromEnv(), namespace };
}
