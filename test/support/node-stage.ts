import { join } from 'node:path';
import { stageApp } from '../../cdk8s/app.ts';
import { loadStage, validStage, type StageConfig } from '../../cdk8s/stages.ts';
import type { Manifest } from '../../src/api/manifest.ts';
import type { FeaturizeSchedule } from '../../src/spark/scheduled-application.ts';
import { down, stackEnv, up, type StackState } from '../../src/dev/stack.ts';
import type { Logger } from '../../src/log.ts';
import { SHARED_DIR } from '../../src/paths.ts';
import { s3Client } from '../../src/s3/client.ts';
import { uploadTree } from '../../src/s3/upload.ts';

/** A fresh node stack in `stateDir` (whatever was left there is taken down first), with the Fruits-360 sample in its bucket. */
export async function nodeStackWithSample(stateDir: string, log: Logger): Promise<StackState> {
  await down({ stateDir, log });
  const { state } = await up({ stateDir, log, node: true });
  const client = s3Client(state.s3);
  try {
    await uploadTree(client, join(SHARED_DIR, 'data', 'fruits-360', 'Training'), state.s3.bucket, 'fruits-360/Training');
  } finally {
    client.destroy();
  }
  return state;
}

/** The dev stage as `npm start` applies it, pointed at this stack's S3, for one small job: no retry, so a failure shows at once. */
export function devStage(state: StackState, featurize: { name: string; limit: number; inputPrefix?: string; schedule?: FeaturizeSchedule }): StageConfig {
  const base = loadStage('dev', { ...process.env, ...stackEnv(state) });
  return validStage({ ...base, featurize: { ...base.featurize, ...featurize, outputPrefix: `features/${featurize.name}`, retries: 0 } });
}

/** Every object of a stage, in the order its files apply them. */
export function stageManifests(stage: StageConfig): Manifest[] {
  return stageApp(stage).files.flatMap(({ chart }) => chart.toJson() as Manifest[]);
}
