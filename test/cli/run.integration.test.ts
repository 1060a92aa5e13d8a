import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { runName } from '../../src/jobs/name.ts';
import { orchard } from '../support/cli.ts';
import { freshNamespace, kubeConfig, stack } from '../support/kube.ts';
import { getJob } from '../support/spark-job.ts';

describe('orchard run (CLI)', () => {
  it('prints the SparkApplication the stage would run, with the flags applied, and refuses bad flags', async () => {
    const dry = await orchard('run', '--dry-run', '--name', 'featurize-try', '--limit', '10', '--image-size', '100', '--pca-components', '0');
    expect(dry.code, dry.stderr).toBe(0);
    const app = parse(dry.stdout);
    expect(app.metadata).toMatchObject({ name: 'featurize-try', namespace: 'orchard', annotations: { 'orchard.fruits.dev/outputs': '["s3a://fruits-orchard-prod/features/featurize-try"]' } });
    const args: string[] = app.spec.arguments;
    expect(args.slice(args.indexOf('--image-size'), args.indexOf('--image-size') + 2)).toEqual(['--image-size', '100']);
    expect(args.slice(args.indexOf('--limit'), args.indexOf('--limit') + 2)).toEqual(['--limit', '10']);
    expect(app.spec.image).toBe('123456789012.dkr.ecr.eu-west-1.amazonaws.com/orchard/resnet50-cpu:0.1.0');

    const scheduled = parse((await orchard('run', '--dry-run', '--name', 'nightly', '--schedule', '0 2 * * *')).stdout);
    expect(scheduled).toMatchObject({ kind: 'ScheduledSparkApplication', spec: { schedule: '0 2 * * *', concurrencyPolicy: 'Forbid' } });
    expect(scheduled.metadata.annotations).toEqual({ 'orchard.fruits.dev/outputs': '["s3a://fruits-orchard-prod/features/nightly/{run}"]' });
    expect(scheduled.spec.template.arguments).toContain('--incremental');
    expect((await orchard('run', '--dry-run', '--schedule', '0 2 * * *')).stderr).toMatch(/--schedule needs --name/);

    const bad = await orchard('run', '--dry-run', '--limit', 'ten');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--limit must be an integer >= 1, got "ten"/);
  });

  it('submits to the local stack with --dev', async () => {
    const kc = kubeConfig();
    const ns = await freshNamespace(kc, 'cli-run');
    const submitted = await orchard('run', '--dev', '--state', stack().stateDir, '-n', ns, '--name', 'featurize-dev', '--limit', '5');
    expect(submitted.code, submitted.stderr).toBe(0);
    expect(submitted.stdout).toBe(`sparkapplication.sparkoperator.k8s.io/featurize-dev submitted in ${ns}\n`);
    const job = (await getJob(kc, ns, 'featurize-dev'))!;
    expect(job.metadata.annotations!['orchard.fruits.dev/outputs']).toBe(`["s3a://${stack().s3.bucket}/features/featurize-dev"]`);
    expect((job as unknown as { spec: { hadoopConf: Record<string, string> } }).spec.hadoopConf['fs.s3a.endpoint']).toBe(stack().s3.endpoint);
  });

  it('names runs by UTC time, so each run is a new SparkApplication', () => {
    expect(runName(new Date('2026-11-24T07:05:09.123Z'))).toBe('featurize-20261124-070509');
  });
});
