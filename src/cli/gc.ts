import type { Command } from 'commander';
import { humanBytes } from '../format.ts';
import { applyGc, listRecords, readPrefixes } from '../jobs/gc.ts';
import { planGc, type GcPlan } from '../jobs/gc-plan.ts';
import { s3Client } from '../s3/client.ts';
import { clusterOptions, connect, type ClusterOptions } from './cluster.ts';
import { EXIT, runCommand } from './exit.ts';
import { integerFlag } from './flags.ts';

interface GcFlags extends ClusterOptions {
  readonly namespace?: string;
  readonly selector?: string;
  readonly keep?: string;
  readonly minAge: string;
  readonly yes?: boolean;
}

/**
 * Pending uploads begun less than this long ago are left alone by default: S3's own lifecycle rule
 * for incomplete uploads counts in days, and an hour is far longer than a job takes to be recorded
 * Pending after it starts writing.
 */
export const DEFAULT_MIN_UPLOAD_AGE_MINUTES = 60;

/** The plan as lines a person reads before passing --yes. */
export function describePlan(plan: GcPlan): string {
  const lines = [
    ...plan.uploads.map((u) => `abort upload   s3a://${u.bucket}/${u.key} (begun ${u.initiated.toISOString()})`),
    ...plan.partialObjects.map((o) => `delete partial s3a://${o.bucket}/${o.key} (${humanBytes(o.bytes)})`),
    ...plan.datasets.map((d) => `delete dataset ${d.record.spec.uri} (${d.objects.length} objects, SparkApplication ${d.record.spec.source.name}, ParquetOutput ${d.record.metadata.name}): ${d.reason}`),
    ...plan.skipped.map((s) => `skip           ${s.uri}: ${s.reason}`),
  ];
  return lines.length > 0 ? `${lines.join('\n')}\n` : 'nothing to remove\n';
}

export function registerGc(program: Command): void {
  clusterOptions(
    program
      .command('gc')
      .description('remove what failed runs left under recorded outputs (pending multipart uploads, partial __magic paths) and, with --keep, datasets past retention; a dry run unless --yes')
      .option('-n, --namespace <ns>', "namespace of the ParquetOutputs (default: the context's)")
      .option('-l, --selector <selector>', 'only these records, e.g. orchard.fruits.dev/job=nightly')
      .option('--keep <n>', 'keep the newest N Recorded datasets of each job and delete older ones (default: delete no dataset)')
      .option('--min-age <minutes>', 'leave pending uploads younger than this', String(DEFAULT_MIN_UPLOAD_AGE_MINUTES))
      .option('--yes', 'delete; without it, only print what would be deleted'),
  ).action((flags: GcFlags) =>
    runCommand(async () => {
      const keep = flags.keep === undefined ? undefined : integerFlag('--keep', flags.keep, 1);
      const minUploadAgeMs = integerFlag('--min-age', flags.minAge, 0) * 60_000;
      const cluster = await connect(flags);
      const s3 = s3Client(cluster.s3);
      try {
        const records = await listRecords(cluster.kc, flags.namespace ?? cluster.namespace, flags.selector);
        const plan = planGc(records, await readPrefixes(s3, records), { ...(keep !== undefined ? { keep } : {}), minUploadAgeMs }, new Date());
        process.stdout.write(describePlan(plan));
        if (!flags.yes) {
          if (plan.uploads.length + plan.partialObjects.length + plan.datasets.length > 0) process.stdout.write('dry run: nothing was deleted; pass --yes to delete\n');
          return EXIT.ok;
        }
        await applyGc(s3, cluster.kc, plan);
        process.stdout.write(`aborted ${plan.uploads.length} uploads, deleted ${plan.partialObjects.length} partial objects and ${plan.datasets.length} datasets\n`);
        return EXIT.ok;
      } finally {
        s3.destroy();
      }
    }),
  );
}
