import { loadStage, type StageConfig } from '../../cdk8s/stages.ts';

/** Fixed stand-ins for `orchard dev env`, so dev snapshots do not change with each stack's port and keys. */
export const DEV_ENV = {
  ORCHARD_S3_ENDPOINT: 'http://127.0.0.1:7070',
  ORCHARD_S3_BUCKET: 'orchard-dev',
  AWS_ACCESS_KEY_ID: 'orchard-test-key',
  AWS_SECRET_ACCESS_KEY: 'orchard-test-secret',
  AWS_REGION: 'us-east-1',
};

export function testStage(name: string): StageConfig {
  return loadStage(name, DEV_ENV);
}

export const STAGE_NAMES = ['dev', 'prod'] as const;
