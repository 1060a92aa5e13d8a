import { describe, expect, it } from 'vitest';
import { JOB_LABEL, OUTPUTS_ANNOTATION } from '../../src/api/parquet-output.ts';
import { outputsOf, scheduleOf, type SparkApplicationObject } from '../../src/api/spark-application.ts';

const schedule: SparkApplicationObject = {
  apiVersion: 'sparkoperator.k8s.io/v1beta2',
  kind: 'ScheduledSparkApplication',
  metadata: { name: 'nightly', namespace: 'jobs', uid: 'uid-schedule', resourceVersion: '1', labels: { [JOB_LABEL]: 'nightly' }, annotations: { [OUTPUTS_ANNOTATION]: '["s3a://fruits/features/nightly/{run}"]' } },
};

/** A run as spark-operator v2.5.2 creates it: the schedule's labels plus its own, an owner reference, no annotations. */
function run(name: string, owner: { uid: string } = { uid: 'uid-schedule' }, annotations?: Record<string, string>): SparkApplicationObject {
  return {
    apiVersion: 'sparkoperator.k8s.io/v1beta2',
    kind: 'SparkApplication',
    metadata: {
      name,
      namespace: 'jobs',
      uid: `uid-${name}`,
      resourceVersion: '2',
      labels: { [JOB_LABEL]: 'nightly', 'sparkoperator.k8s.io/scheduled-app-name': 'nightly' },
      ...(annotations ? { annotations } : {}),
      ownerReferences: [{ apiVersion: 'sparkoperator.k8s.io/v1beta2', kind: 'ScheduledSparkApplication', name: 'nightly', uid: owner.uid, blockOwnerDeletion: true }],
    },
  };
}

describe('outputsOf: the outputs of a run', () => {
  it('reads a scheduled run\'s outputs from the schedule that owns it, with {run} as the run\'s name', () => {
    const first = run('nightly-1764820800000000000');
    expect(scheduleOf(first)).toEqual({ name: 'nightly', uid: 'uid-schedule' });
    expect(outputsOf(first, schedule)).toEqual({ ok: true, uris: ['s3a://fruits/features/nightly/nightly-1764820800000000000/'] });
    expect(outputsOf(run('nightly-1764907200000000000'), schedule)).toEqual({ ok: true, uris: ['s3a://fruits/features/nightly/nightly-1764907200000000000/'] });
  });

  it("prefers the run's own annotation, and resolves {run} in a one-shot job's too", () => {
    expect(outputsOf(run('r1', undefined, { [OUTPUTS_ANNOTATION]: '["s3a://fruits/own/"]' }), schedule)).toEqual({ ok: true, uris: ['s3a://fruits/own/'] });
    const oneShot: SparkApplicationObject = { metadata: { name: 'featurize-1', uid: 'u', resourceVersion: '1', annotations: { [OUTPUTS_ANNOTATION]: '["s3a://fruits/f/{run}"]' } } };
    expect(scheduleOf(oneShot)).toBeUndefined();
    expect(outputsOf(oneShot)).toEqual({ ok: true, uris: ['s3a://fruits/f/featurize-1/'] });
  });

  it('names the schedule when it is gone, was replaced (another uid) or declares no outputs', () => {
    expect(outputsOf(run('r1'))).toEqual({ ok: false, error: expect.stringContaining('a run of ScheduledSparkApplication nightly (uid uid-schedule), which no longer exists') });
    expect(outputsOf(run('r1', { uid: 'uid-old' }), schedule)).toMatchObject({ ok: false, error: expect.stringContaining('(uid uid-old), which no longer exists') });
    const bare = { ...schedule, metadata: { ...schedule.metadata, annotations: {} } };
    expect(outputsOf(run('r1'), bare)).toMatchObject({ ok: false, error: expect.stringContaining(`ScheduledSparkApplication nightly, which has no annotation ${OUTPUTS_ANNOTATION}`) });
    const garbled = { ...schedule, metadata: { ...schedule.metadata, annotations: { [OUTPUTS_ANNOTATION]: '["s3a://fruits/{run}/x"]' } } };
    expect(outputsOf(run('r1'), garbled)).toMatchObject({ ok: false, error: expect.stringContaining("ScheduledSparkApplication nightly's annotation") });
  });
});
