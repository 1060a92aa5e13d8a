import { Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import { FeaturizeJob } from '../constructs/featurize-job.ts';
import type { StageConfig } from '../stages.ts';

/** The stage's feature-extraction run over Fruits-360. */
export class FeaturizeChart extends Chart {
  readonly job: FeaturizeJob;

  constructor(scope: Construct, id: string, stage: StageConfig, serviceAccount: string) {
    super(scope, id);
    const { featurize } = stage;
    this.job = new FeaturizeJob(this, 'featurize', {
      name: featurize.name,
      namespace: stage.namespace,
      input: `s3a://${stage.bucket}/${featurize.inputPrefix}`,
      output: `s3a://${stage.bucket}/${featurize.outputPrefix}`,
      image: `${stage.registry}/${stage.images.job}`,
      allowLatestTag: stage.kind === 'dev',
      serviceAccount,
      driver: featurize.driver,
      executor: featurize.executor,
      node: featurize.node,
      imageSize: featurize.imageSize,
      pcaComponents: featurize.pcaComponents,
      batchSize: featurize.batchSize,
      s3: {
        region: stage.region,
        ...(stage.s3 ? { endpoint: stage.s3.endpoint, staticCredentials: { accessKeyId: stage.s3.accessKeyId, secretAccessKey: stage.s3.secretAccessKey } } : {}),
      },
    });
  }
}
