import type { FeaturizeProps } from '../../src/spark/application.ts';

/** A production-like feature job: the manifest the cdk8s construct renders for a cluster. */
export const FEATURIZE_PROPS: FeaturizeProps = {
  name: 'featurize-test',
  namespace: 'orchard',
  input: 's3a://fruits/fruits-360/Training/',
  output: 's3a://fruits/features/run-1/',
  image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/orchard/resnet50-cpu:0.1.0',
  serviceAccount: 'orchard-spark',
};
