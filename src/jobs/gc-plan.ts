/**
 * What `orchard gc` removes, decided without I/O from the records and what S3 holds under them.
 * It only looks under the prefix of a record whose job has finished, so a running job's pending
 * uploads and `__magic` files, which its commit still needs, are never touched; and it never
 * deletes an object of a Recorded dataset, except through retention, which deletes a dataset only
 * when a newer one of the same job is Recorded (and so Complete).
 */
import { isPartialPath } from '../api/dataset.ts';
import { JOB_LABEL, type ParquetOutput } from '../api/parquet-output.ts';
import { parseS3Uri } from '../api/s3-uri.ts';
import type { ListedObject, PendingUpload } from '../s3/output-reads.ts';

/** What S3 holds under one record's output prefix. */
export interface PrefixContents {
  readonly uploads: readonly PendingUpload[];
  readonly objects: readonly ListedObject[];
}

export interface GcOptions {
  /** Keep this many Recorded datasets per job, newest first, and delete older datasets. @default no retention */
  readonly keep?: number;
  /**
   * Leave pending uploads younger than this: a job submitted after the records were read may have
   * begun them. Multipart uploads of a running job are protected by its Pending record anyway.
   */
  readonly minUploadAgeMs: number;
}

export interface GcPlan {
  readonly uploads: readonly (PendingUpload & { readonly bucket: string; readonly uri: string })[];
  readonly partialObjects: readonly (ListedObject & { readonly bucket: string; readonly uri: string })[];
  /** Datasets past retention: every object under the prefix, then the job that wrote it and the record. */
  readonly datasets: readonly { readonly record: ParquetOutput; readonly bucket: string; readonly objects: readonly ListedObject[]; readonly reason: string }[];
  /** Records whose prefixes were left alone, and why. */
  readonly skipped: readonly { readonly uri: string; readonly reason: string }[];
}

const FINISHED = new Set(['Recorded', 'Incomplete', 'Failed']);
const created = (o: ParquetOutput) => `${(o.metadata as { creationTimestamp?: string }).creationTimestamp ?? ''}\n${o.metadata.name}`;
/** Whether one folder URI holds the other (or is it): gc never works in a folder that holds a busy or kept one. */
const overlaps = (a: string, b: string) => a.startsWith(b) || b.startsWith(a);

/** The plan, from the records of a namespace and the contents of each finished record's prefix (keyed by URI). */
export function planGc(records: readonly ParquetOutput[], contents: ReadonlyMap<string, PrefixContents>, options: GcOptions, now: Date): GcPlan {
  const busy = records.filter((o) => !FINISHED.has(o.status?.phase ?? 'Pending')).map((o) => o.spec.uri);
  const skipped: { uri: string; reason: string }[] = [];
  const expired = options.keep === undefined ? [] : pastRetention(records, options.keep);
  const kept = records.filter((o) => !expired.some((e) => e.record === o)).map((o) => o.spec.uri);

  const datasets: GcPlan['datasets'][number][] = [];
  for (const { record, reason } of expired) {
    const uri = record.spec.uri;
    const blocker = [...busy, ...kept].find((other) => overlaps(uri, other));
    if (blocker) {
      skipped.push({ uri, reason: `past retention, but ${blocker} ${busy.includes(blocker) ? 'is being written' : 'is kept'} in the same folder` });
      continue;
    }
    datasets.push({ record, bucket: parseS3Uri(uri).bucket, objects: contents.get(uri)?.objects ?? [], reason });
  }

  const deleted = new Set(datasets.map((d) => d.record.spec.uri));
  const uploads: GcPlan['uploads'][number][] = [];
  const partialObjects: GcPlan['partialObjects'][number][] = [];
  for (const uri of new Set(records.map((o) => o.spec.uri))) {
    const listed = contents.get(uri);
    if (!listed || deleted.has(uri)) continue;
    const running = busy.find((other) => overlaps(uri, other));
    if (running) {
      if (listed.uploads.length > 0 || listed.objects.some((o) => isPartialPath(o.key))) skipped.push({ uri, reason: `a job is still writing ${running}` });
      continue;
    }
    const { bucket, prefix } = parseS3Uri(uri);
    for (const upload of listed.uploads) {
      if (now.getTime() - upload.initiated.getTime() >= options.minUploadAgeMs) uploads.push({ ...upload, bucket, uri });
      else skipped.push({ uri, reason: `upload of ${upload.key} began ${upload.initiated.toISOString()}, less than the minimum age ago` });
    }
    for (const object of listed.objects) if (isPartialPath(object.key.slice(prefix.length))) partialObjects.push({ ...object, bucket, uri });
  }
  return { uploads, partialObjects, datasets, skipped };
}

/**
 * Per job, the datasets older than its `keep`-th newest Recorded one: each has at least `keep`
 * newer Recorded datasets, so deleting it never leaves the job without a complete dataset.
 */
function pastRetention(records: readonly ParquetOutput[], keep: number): { record: ParquetOutput; reason: string }[] {
  const byJob = new Map<string, ParquetOutput[]>();
  for (const record of records) {
    const job = record.metadata.labels?.[JOB_LABEL];
    if (job) byJob.set(job, [...(byJob.get(job) ?? []), record]);
  }
  const expired: { record: ParquetOutput; reason: string }[] = [];
  for (const [job, list] of byJob) {
    const newestFirst = [...list].sort((a, b) => (created(a) < created(b) ? 1 : -1));
    const recorded = newestFirst.filter((o) => o.status?.phase === 'Recorded');
    const last = recorded[keep - 1];
    if (!last) continue;
    const newer = recorded.slice(0, keep).map((o) => o.metadata.name);
    for (const record of newestFirst.slice(newestFirst.indexOf(last) + 1)) {
      if (FINISHED.has(record.status?.phase ?? 'Pending')) expired.push({ record, reason: `job ${job} keeps ${keep}: ${newer.join(', ')} ${keep === 1 ? 'is' : 'are'} newer and Recorded` });
    }
  }
  return expired;
}
