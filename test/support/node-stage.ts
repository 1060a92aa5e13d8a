import { join } from 'node:path';
import { stageApp } from '../../cdk8s/app.ts';
import { loadStage, validStage, type StageConfig } from '../../cdk8s/stages.ts';
import type { Manifest } from '../../src/api/manifest.ts';
import type { FeaturizeSchedule } from '../../src/spark/scheduled-application.ts';
import type { KubeConfig } from '@kubernetes/client-node';
import { beforeAll, expect } from 'vitest';
import { down, kubeConfigFor, stackEnv, up, type StackState } from '../../src/dev/stack.ts';
import { requireTool } from '../../src/dev/tools.ts';
import { kubeRequest } from '../../src/kube/raw.ts';
import type { Logger } from '../../src/log.ts';
import { REPO_ROOT, SHARED_DIR } from '../../src/paths.ts';
import { s3Client } from '../../src/s3/client.ts';
import { uploadTree } from '../../src/s3/upload.ts';

/**
 * The node the node tests share: bringing one up and down takes minutes, and each test's jobs are
 * named apart. The first file that needs it brings it up (or reuses it, with the Fruits-360 sample
 * in its bucket); the machine-state test takes it down last, and the node project's global setup
 * (test/node-global-setup.ts) makes sure it goes. A test that needs a node of its own (the demo)
 * takes it down first with `leaveSharedNode`.
 */
export const SHARED_NODE_DIR = join(REPO_ROOT, '.orchard', 'test-node');

export async function sharedNodeStack(log: Logger): Promise<StackState> {
  const { state, reused } = await up({ stateDir: SHARED_NODE_DIR, log, node: true });
  log.info(reused ? 'reusing the shared test node' : 'started the shared test node', { stateDir: SHARED_NODE_DIR });
  const client = s3Client(state.s3);
  try {
    // Skips what an earlier file uploaded already.
    await uploadTree(client, join(SHARED_DIR, 'data', 'fruits-360', 'Training'), state.s3.bucket, 'fruits-360/Training');
  } finally {
    client.destroy();
  }
  return state;
}

/**
 * The shared node for a describe block: its state and an API client once the block's `beforeAll`
 * has run (the tools it needs are found, never built).
 */
export function withSharedNode(log: Logger): { readonly state: StackState; readonly kc: KubeConfig } {
  const node = {} as { state: StackState; kc: KubeConfig };
  beforeAll(async () => {
    for (const tool of ['node', 'node images', 'images', 'helm'] as const) requireTool(tool);
    node.state = await sharedNodeStack(log);
    node.kc = kubeConfigFor(node.state);
  }, 600_000);
  return node;
}

/** A GET that must answer 200, parsed. */
export async function getOk<T>(kc: KubeConfig, path: string): Promise<T> {
  const response = await kubeRequest(kc, 'GET', path);
  expect(response.status, response.body).toBe(200);
  return JSON.parse(response.body) as T;
}

export async function leaveSharedNode(log: Logger): Promise<void> {
  await down({ stateDir: SHARED_NODE_DIR, log });
}

/**
 * The dev stage as `npm start` applies it, pointed at this stack's S3, for one small job: no retry
 * unless asked, so a failure shows at once.
 */
export function devStage(state: StackState, featurize: { name: string; limit: number; inputPrefix?: string; schedule?: FeaturizeSchedule } & Pick<StageConfig['featurize'], 'retries' | 's3Retries'>): StageConfig {
  const base = loadStage('dev', { ...process.env, ...stackEnv(state) });
  return validStage({ ...base, featurize: { ...base.featurize, retries: 0, ...featurize, outputPrefix: `features/${featurize.name}` } });
}

/** Every object of a stage, in the order its files apply them. */
export function stageManifests(stage: StageConfig): Manifest[] {
  return stageApp(stage).files.flatMap(({ chart }) => chart.toJson() as Manifest[]);
}
