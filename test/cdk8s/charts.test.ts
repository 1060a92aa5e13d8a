import { Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { stageApp, synthStage } from '../../cdk8s/app.ts';
import { DEV_IMAGES, loadStage, stageProblems, validStage } from '../../cdk8s/stages.ts';
import { DEV_ENV, STAGE_NAMES, testStage } from './stages.ts';

describe.each(STAGE_NAMES)('stage %s', (name) => {
  it.each(stageApp(testStage(name)).files.map(({ file, chart }) => [file, chart] as const))('renders %s as in the snapshot', (_file, chart) => {
    expect(Testing.synth(chart)).toMatchSnapshot();
  });

  it('synthesizes the same bytes every time', () => {
    expect([...synthStage(testStage(name))]).toEqual([...synthStage(testStage(name))]);
  });

  it('puts every namespaced object in the stage namespace, with the recommended labels', () => {
    for (const { chart } of stageApp(testStage(name)).files) {
      for (const object of Testing.synth(chart) as { kind: string; metadata: { namespace?: string; labels?: Record<string, string> } }[]) {
        if (object.kind !== 'Namespace' && object.kind !== 'CustomResourceDefinition') expect(object.metadata.namespace, object.kind).toBe('orchard');
        expect(object.metadata.labels?.['app.kubernetes.io/name'], object.kind).toMatch(/^orchard/);
      }
    }
  });
});

describe('stage config', () => {
  it('names what the dev stage lacks and how to get it', () => {
    expect(() => loadStage('dev', {})).toThrow('stage dev needs ORCHARD_S3_ENDPOINT, ORCHARD_S3_BUCKET, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY');
  });

  it('runs the dev images the local node holds, named by `orchard dev env`, and the release tags without them', () => {
    const named = loadStage('dev', { ...DEV_ENV, ORCHARD_DEV_JOB_IMAGE: 'orchard/resnet50-cpu:0.1.0-0123456789abcdef', ORCHARD_DEV_CONTROLLER_IMAGE: 'orchard/controller:0.1.0-fedcba9876543210' });
    expect(named.images).toEqual({ job: 'orchard/resnet50-cpu:0.1.0-0123456789abcdef', controller: 'orchard/controller:0.1.0-fedcba9876543210' });
    expect(stageApp(named).featurize.job.application.toJson().spec.image).toBe('localhost:5000/orchard/resnet50-cpu:0.1.0-0123456789abcdef');
    expect(loadStage('dev', DEV_ENV).images).toEqual(DEV_IMAGES.images);
  });

  it('refuses an unknown stage, listing the known ones', () => {
    expect(() => loadStage('staging', DEV_ENV)).toThrow('unknown stage "staging"');
  });

  it('keeps prod on AWS: IRSA roles in its own account, its ECR registry, pinned tags, no custom endpoint', () => {
    const prod = testStage('prod');
    const broken = {
      ...prod,
      registry: 'docker.io',
      images: { ...prod.images, job: 'orchard/resnet50-cpu:latest' },
      roles: { job: 'arn:aws:iam::999999999999:role/other', controller: 'not-an-arn' },
      s3: { endpoint: 'http://127.0.0.1:9000', accessKeyId: 'k', secretAccessKey: 's' },
    };
    expect(stageProblems(broken)).toEqual([
      'stage prod: images.job "orchard/resnet50-cpu:latest" uses the mutable tag "latest": pin a version tag or digest in prod',
      'stage prod: s3 is set: prod reads S3 on AWS with IRSA credentials; remove the endpoint and keys',
      'stage prod: registry "docker.io" is not the account\'s ECR registry in eu-west-1: use 123456789012.dkr.ecr.eu-west-1.amazonaws.com',
      'stage prod: roles.job "arn:aws:iam::999999999999:role/other" is in account 999999999999, not the stage\'s 123456789012',
      'stage prod: roles.controller "not-an-arn" is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)',
    ]);
    expect(() => validStage(broken)).toThrow('stage prod: s3 is set');
  });

  it('checks region, bucket and namespace names', () => {
    const dev = testStage('dev');
    expect(stageProblems({ ...dev, region: 'mars-1', bucket: 'Bad_Bucket', namespace: 'Orchard' })).toEqual([
      'stage dev: region "mars-1" is not an AWS region name such as eu-west-1',
      'stage dev: bucket "Bad_Bucket" is not a valid S3 bucket name',
      'stage dev: namespace "Orchard" is not a DNS-1123 label',
    ]);
  });
});
