import type { Command } from 'commander';
import { stringify } from 'yaml';
import { SPARK_SERVICE_ACCOUNT } from '../../cdk8s/constructs/spark-job-identity.ts';
import { loadStage, stageFeaturizeProps, STAGES } from '../../cdk8s/stages.ts';
import type { Manifest } from '../api/manifest.ts';
import { readState, stackEnv } from '../dev/stack.ts';
import { OrchardError } from '../errors.ts';
import { applyAll } from '../kube/apply.ts';
import { RUN_PLACEHOLDER } from '../api/run-output.ts';
import { APPLICATION_NAME_LIMIT, DEFAULTS, PRECISIONS, sparkApplicationFor, type FeaturizeProps } from '../spark/application.ts';
import { RUN_NAME_SUFFIX_LENGTH, scheduledSparkApplicationFor } from '../spark/scheduled-application.ts';
import { clusterOptions, connect, type ClusterOptions } from './cluster.ts';
import { EXIT, runCommand, UsageError } from './exit.ts';
import { integerFlag } from './flags.ts';
import { precisionFlag } from './precision-flag.ts';
import { runName } from '../jobs/name.ts';
import { waitForJob } from '../jobs/wait.ts';
import { outputsTable } from './outputs.ts';
import { resolve } from 'node:path';

interface RunFlags extends ClusterOptions {
  readonly stage: string;
  readonly name?: string;
  readonly namespace?: string;
  readonly input?: string;
  readonly output?: string;
  readonly imageSize?: string;
  readonly precision?: string;
  readonly pcaComponents?: string;
  readonly limit?: string;
  readonly retries?: string;
  readonly schedule?: string;
  readonly incremental?: boolean;
  readonly refitPca?: boolean;
  readonly dryRun?: boolean;
  readonly wait?: boolean;
  readonly timeout: string;
}

function optionalInteger(flag: string, value: string | undefined, min: number): number | undefined {
  return value === undefined ? undefined : integerFlag(flag, value, min);
}

export function registerRun(program: Command): void {
  clusterOptions(
    program
      .command('run')
      .description("submit one feature-extraction job (a SparkApplication built like the stage's), or a schedule of them, to the current cluster")
      .option('--stage <name>', `stage whose image, bucket, sizing and S3 settings the job takes: ${Object.keys(STAGES).join(', ')} (--dev implies dev)`, 'prod')
      .option('--name <name>', 'SparkApplication name (default: featurize-<UTC time>)')
      .option('-n, --namespace <ns>', "namespace (default: the stage's)")
      .option('--input <uri>', "s3a:// folder of images, one subfolder per label (default: the stage's Fruits-360 input)")
      .option('--output <uri>', `s3a:// folder to write the Parquet dataset to; a last segment ${RUN_PLACEHOLDER} names each run's folder (default: s3a://<bucket>/features/<name>/, with --schedule s3a://<bucket>/features/<name>/${RUN_PLACEHOLDER})`)
      .option('--image-size <px>', 'input size of ResNet50 (default 224)')
      .option('--precision <p>', `model precision: ${PRECISIONS.join(' or ')} (default ${DEFAULTS.precision})`)
      .option('--pca-components <k>', 'PCA components, 0 for none (default 50)')
      .option('--limit <n>', 'featurize only the first N images')
      .option('--retries <n>', 'retries after a failed run (default 2)')
      .option('--schedule <cron>', 'submit a ScheduledSparkApplication that starts a run on this cron schedule (UTC), each run incremental; needs --name')
      .option('--incremental', 'featurize only images new or changed since the newest complete dataset of the job (always on with --schedule)')
      .option('--refit-pca', "with --incremental, fit PCA anew instead of reusing the parent dataset's model")
      .option('--dry-run', 'print the SparkApplication as YAML instead of submitting it')
      .option('--wait', 'wait until the job ends and its outputs are recorded; exit 1 unless all are Recorded')
      .option('--timeout <s>', 'with --wait, give up after this many seconds', '3600'),
  ).action((flags: RunFlags) =>
    runCommand(async () => {
      let env: NodeJS.ProcessEnv = process.env;
      if (flags.dev) {
        const state = await readState(resolve(flags.state));
        if (!state) throw new OrchardError(`no local stack in ${resolve(flags.state)}`, 'start one with `orchard dev up`');
        env = { ...process.env, ...stackEnv(state) };
      }
      if (flags.schedule !== undefined && !flags.name) throw new UsageError('--schedule needs --name', `name the schedule (at most ${APPLICATION_NAME_LIMIT - RUN_NAME_SUFFIX_LENGTH} characters): it stays, and the operator names each run <name>-<start time>`);
      if (flags.schedule !== undefined && flags.wait) throw new UsageError('--wait cannot wait for a schedule', 'drop --wait, then follow the runs with `orchard outputs -l orchard.fruits.dev/job=<name>`');
      const base = loadStage(flags.dev ? 'dev' : flags.stage, env);
      const name = flags.name ?? runName();
      // The stage's own schedule is the stage's job, deployed by synth; `orchard run` schedules only when asked.
      const { schedule: _stageSchedule, ...props } = stageFeaturizeProps(base, SPARK_SERVICE_ACCOUNT);
      const imageSize = optionalInteger('--image-size', flags.imageSize, 32);
      const pcaComponents = optionalInteger('--pca-components', flags.pcaComponents, 0);
      const limit = optionalInteger('--limit', flags.limit, 1);
      const retries = optionalInteger('--retries', flags.retries, 0);
      const root = `s3a://${base.bucket}/features/${name}/`;
      const run: FeaturizeProps = {
        ...props,
        name,
        namespace: flags.namespace ?? props.namespace,
        ...(flags.input ? { input: flags.input } : {}),
        output: flags.output ?? (flags.schedule !== undefined ? `${root}${RUN_PLACEHOLDER}` : root),
        ...(imageSize !== undefined ? { imageSize } : {}),
        ...(flags.precision !== undefined ? { precision: precisionFlag(flags.precision) } : {}),
        ...(pcaComponents !== undefined ? { pcaComponents } : {}),
        ...(limit !== undefined ? { limit } : {}),
        ...(retries !== undefined ? { retries } : {}),
        ...(flags.incremental ? { incremental: true } : {}),
        ...(flags.refitPca ? { refitPca: true } : {}),
      };
      const manifest = (flags.schedule !== undefined ? scheduledSparkApplicationFor({ ...run, schedule: { cron: flags.schedule } }) : sparkApplicationFor(run)) as Manifest & {
        metadata: { namespace: string };
      };
      if (flags.dryRun) {
        process.stdout.write(stringify(manifest, { sortMapEntries: true, lineWidth: 0 }));
        return EXIT.ok;
      }
      const cluster = await connect(flags);
      await applyAll(cluster.kc, [manifest]);
      const ns = manifest.metadata.namespace;
      process.stdout.write(`${manifest.kind.toLowerCase()}.sparkoperator.k8s.io/${name} submitted in ${ns}\n`);
      if (!flags.wait) return EXIT.ok;
      const outcome = await waitForJob(cluster.kc, ns, name, {
        timeoutMs: integerFlag('--timeout', flags.timeout, 1) * 1000,
        onChange: ({ job, outputs }) =>
          process.stdout.write(`${new Date().toISOString().slice(11, 19)}  ${job.status?.applicationState?.state || 'NEW'}${outputs.length ? `  outputs: ${outputs.map((o) => o.status?.phase ?? 'Pending').join(', ')}` : ''}\n`),
      });
      process.stdout.write(outputsTable(outcome.outputs, { namespaces: false, wide: true }));
      const error = outcome.job.status?.applicationState?.errorMessage;
      if (error) process.stderr.write(`job error: ${error}\n`);
      return outcome.outputs.every((o) => o.status?.phase === 'Recorded') ? EXIT.ok : EXIT.failed;
    }),
  );
}
