import { describe, expect, it } from 'vitest';
import { OUTPUTS_ANNOTATION } from '../../src/api/parquet-output.ts';
import type { SparkApplicationObject } from '../../src/api/spark-application.ts';
import { cachedFields } from '../../src/controller/controller.ts';
import { jobView, outputsOf } from '../../src/api/spark-application.ts';

describe('the cache of watched SparkApplications', () => {
  const app = {
    apiVersion: 'sparkoperator.k8s.io/v1beta2',
    kind: 'SparkApplication',
    metadata: {
      name: 'featurize-1',
      namespace: 'jobs',
      uid: 'u-1',
      resourceVersion: '42',
      generation: 3,
      labels: { 'orchard.fruits.dev/job': 'featurize-1' },
      annotations: { [OUTPUTS_ANNOTATION]: '["s3a://fruits/features/run-1"]', 'kubectl.kubernetes.io/last-applied-configuration': '{"spec":{}}', team: 'vision' },
      managedFields: [{ manager: 'kubectl', fieldsV1: {} }],
    },
    spec: { sparkConf: { 'spark.executor.cores': '2' }, driver: { cores: 1 } },
    status: { applicationState: { state: 'COMPLETED' }, submissionAttempts: 1 },
  } as unknown as SparkApplicationObject;

  it('keeps what the controller reads, and drops the spec, managedFields and kubectl last-applied copy', () => {
    const kept = cachedFields(app) as SparkApplicationObject & { spec?: unknown; metadata: { managedFields?: unknown } };
    expect(kept.spec).toBeUndefined();
    expect(kept.metadata.managedFields).toBeUndefined();
    expect(kept.metadata.annotations).toEqual({ [OUTPUTS_ANNOTATION]: '["s3a://fruits/features/run-1"]', team: 'vision' });
    expect(kept.metadata).toMatchObject({ name: 'featurize-1', namespace: 'jobs', uid: 'u-1', resourceVersion: '42', generation: 3, labels: app.metadata.labels });
    expect(kept.status).toEqual(app.status);
    // Everything the reconciler derives from the object is the same from the kept fields.
    expect(jobView(kept)).toEqual(jobView(app));
    expect(outputsOf(kept)).toEqual(outputsOf(app));
  });
});
