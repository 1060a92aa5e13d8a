import { Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { FeaturizeJob } from '../../cdk8s/constructs/featurize-job.ts';
import { OUTPUTS_ANNOTATION } from '../../src/api/parquet-output.ts';
import { sparkApplicationFor } from '../../src/spark/application.ts';
import { scheduledFeaturizeProblems, scheduledSparkApplicationFor, type ScheduledFeaturizeProps } from '../../src/spark/scheduled-application.ts';
import { FEATURIZE_PROPS } from '../support/featurize-props.ts';

const SCHEDULED: ScheduledFeaturizeProps = { ...FEATURIZE_PROPS, name: 'nightly', output: 's3a://fruits/features/nightly/{run}', schedule: { cron: '0 2 * * *' } };

interface Scheduled {
  kind: string;
  metadata: { name: string; labels: Record<string, string>; annotations: Record<string, string> };
  spec: { template: { arguments: string[] } & Record<string, unknown> } & Record<string, unknown>;
}

describe('scheduledSparkApplicationFor', () => {
  it('templates exactly the SparkApplication of the same props, incremental by default, and forbids overlapping runs', () => {
    const scheduled = scheduledSparkApplicationFor(SCHEDULED) as unknown as Scheduled;
    const oneShot = sparkApplicationFor({ ...SCHEDULED, incremental: true }) as unknown as Scheduled;
    expect(scheduled.spec.template).toEqual(oneShot.spec);
    expect(scheduled.metadata).toEqual(oneShot.metadata);
    expect(scheduled.spec).toMatchObject({ schedule: '0 2 * * *', timeZone: 'UTC', concurrencyPolicy: 'Forbid', successfulRunHistoryLimit: 3, failedRunHistoryLimit: 3 });
    expect(scheduled.spec.template.arguments).toContain('--incremental');
    expect(scheduled.metadata.annotations[OUTPUTS_ANNOTATION]).toBe('["s3a://fruits/features/nightly/{run}"]');
    const full = scheduledSparkApplicationFor({ ...SCHEDULED, incremental: false, schedule: { cron: '@daily', successfulRunHistoryLimit: 7 } }) as unknown as Scheduled;
    expect(full.spec.template.arguments).not.toContain('--incremental');
    expect(full.spec).toMatchObject({ schedule: '@daily', successfulRunHistoryLimit: 7 });
  });

  it('passes --refit-pca, which needs PCA and no given model', () => {
    expect((scheduledSparkApplicationFor({ ...SCHEDULED, refitPca: true }) as unknown as Scheduled).spec.template.arguments.slice(-2)).toEqual(['--incremental', '--refit-pca']);
    expect(() => sparkApplicationFor({ ...FEATURIZE_PROPS, refitPca: true, pcaComponents: 0 })).toThrow('refitPca fits a new PCA model of pcaComponents: set pcaComponents > 0 and drop pcaModel');
  });

  it('refuses a schedule whose runs would overwrite each other, outgrow the name limit, or misread the cron', () => {
    expect(scheduledFeaturizeProblems({ ...SCHEDULED, name: 'featurize-fruits-360-x', output: 's3a://fruits/features/nightly', schedule: { cron: '0 2 * *', timeZone: 'UTC', failedRunHistoryLimit: -1 } })).toEqual([
      'scheduled featurize job "featurize-fruits-360-x": name must be at most 20 characters: the operator names each run <name>-<19-digit start time>, and a run\'s name is held to 40',
      'scheduled featurize job "featurize-fruits-360-x": output "s3a://fruits/features/nightly" does not end in {run}, so every run would overwrite the last: write it as s3a://fruits/features/nightly/{run}',
      'scheduled featurize job "featurize-fruits-360-x": schedule "0 2 * *" is not five cron fields (minute hour day-of-month month day-of-week) or a descriptor such as @daily',
      'scheduled featurize job "featurize-fruits-360-x": schedule.failedRunHistoryLimit must be an integer >= 0, got -1',
    ]);
    expect(scheduledFeaturizeProblems({ ...SCHEDULED, schedule: { cron: 'CRON_TZ=Europe/Paris 0 2 * * *' } })).toEqual(['scheduled featurize job "nightly": schedule "CRON_TZ=Europe/Paris 0 2 * * *" carries its own zone: set schedule.timeZone instead']);
  });

  it('is what the construct renders for a job with a schedule, beside the PodMonitor of its runs', () => {
    const chart = Testing.chart();
    new FeaturizeJob(chart, 'job', SCHEDULED);
    const objects = Testing.synth(chart) as Scheduled[];
    expect(objects.map((o) => o.kind)).toEqual(['ScheduledSparkApplication', 'PodMonitor']);
    expect(objects[0]).toEqual(scheduledSparkApplicationFor(SCHEDULED));
  });
});
