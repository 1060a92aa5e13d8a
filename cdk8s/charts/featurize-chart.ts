import { Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import { FeaturizeJob } from '../constructs/featurize-job.ts';
import { stageFeaturizeProps, type StageConfig } from '../stages.ts';

/** The stage's feature-extraction run over Fruits-360. */
export class FeaturizeChart extends Chart {
  readonly job: FeaturizeJob;

  constructor(scope: Construct, id: string, stage: StageConfig, serviceAccount: string) {
    super(scope, id);
    this.job = new FeaturizeJob(this, 'featurize', stageFeaturizeProps(stage, serviceAccount));
  }
}
