import { ApiObject, Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import { parquetOutputCrd } from '../../src/api/parquet-output.ts';

/** orchard's own CRD, from its one definition. The third-party CRDs come with their operators. */
export class CrdsChart extends Chart {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    const crd = parquetOutputCrd();
    new ApiObject(this, 'parquetoutputs', { ...crd, metadata: { ...crd.metadata } });
  }
}
