import type { Condition, FeatureQuality, Leftovers, ParquetOutput, ParquetOutputStatus, Phase } from '../api/parquet-output.ts';
import type { OutputObservation } from './observation.ts';
import { COMPLETED, FAILED_STATES, STATE, type JobView } from '../api/spark-application.ts';
import { recordOrder, SCHEMA_CHANGED, schemaChange, type Predecessor } from './drift.ts';

/** Hadoop's SuccessData keeps at most this many file names (AbstractS3ACommitter.SUCCESS_MARKER_FILE_LIMIT). */
export const MANIFEST_FILENAME_LIMIT = 100;

export const CONDITION = {
  /** The controller has read the output from S3 and the status reflects it. */
  recorded: 'Recorded',
  /** The dataset is complete and consistent: committed by a safe committer, every footer readable, counts agree. */
  complete: 'Complete',
} as const;

/** Complete-condition reasons of a dataset refused by its quality gate, not by its files. */
export const QUALITY_REASONS = ['QualityBelowThreshold', 'QualityNotMeasured'] as const;

export interface Problem {
  readonly reason: string;
  readonly message: string;
}

export interface DesiredInput {
  readonly job: JobView;
  readonly uri: string;
  /** What S3 holds; absent when the job has not completed or S3 could not be read. */
  readonly observation?: OutputObservation;
  /** Why S3 could not be read, when it could not. */
  readonly s3Error?: string;
  readonly previous?: ParquetOutputStatus;
  /** What failed or interrupted writes left under the output, read for a finished job. */
  readonly leftovers?: Leftovers;
  /** The previous Recorded dataset of the same job, whose columns this one's are compared with. */
  readonly predecessor?: Predecessor;
  /** A failed (or failing) job's own error, from its driver's termination message (job-error.ts). */
  readonly jobError?: string;
  /** metadata.generation of the ParquetOutput the status belongs to. */
  readonly generation: number;
  readonly now: Date;
}

const basename = (path: string) => path.slice(path.lastIndexOf('/') + 1);
const percent = (fraction: number) => `${(fraction * 100).toFixed(1)}%`;

/**
 * The quality gate, judged here from the two numbers the job wrote (the accuracy and the gate it
 * was run with), never from a verdict: a gate that could not be checked is not passed.
 */
export function qualityProblem(q: FeatureQuality | undefined, uri: string): Problem | undefined {
  if (q?.minTop1 === undefined) return undefined;
  const gate = `the quality gate (linear-probe top-1 >= ${percent(q.minTop1)})`;
  if (q.top1 === undefined) {
    return { reason: QUALITY_REASONS[1], message: `${gate} could not be checked on ${uri}: ${q.skipped ?? 'the job recorded no accuracy'}` };
  }
  if (q.top1 >= q.minTop1) return undefined;
  const worst = (q.worstClasses ?? []).slice(0, 3).map((c) => `${c.label} ${percent(c.recall)}${c.confusedWith ? ` (taken for ${c.confusedWith})` : ''}`);
  return {
    reason: QUALITY_REASONS[0],
    message:
      `features under ${uri} predict the held-out images' classes at top-1 ${percent(q.top1)} (${q.testImages ?? '?'} images, ${q.classes ?? '?'} classes), below ${gate}` +
      `${worst.length ? `; worst: ${worst.join(', ')}` : ''}: check the preprocessing, the image size and the precision (fp32 against int8) of the run, or lower minProbeTop1 if the data changed`,
  };
}

function listSome(names: readonly string[]): string {
  const shown = names.slice(0, 5).join(', ');
  return names.length > 5 ? `${shown} and ${names.length - 5} more` : shown;
}

/** Everything that keeps an observed output from being complete, most fundamental first. */
export function assessOutput(o: OutputObservation): Problem[] {
  const problems: Problem[] = [];
  const uri = o.uri;
  const rerun = 're-run the job to rewrite the output';
  switch (o.success.state) {
    case 'missing':
      problems.push({ reason: 'ManifestMissing', message: `no _SUCCESS under ${uri}: the job did not commit this output; ${rerun}` });
      break;
    case 'empty':
      problems.push({
        reason: 'ClassicCommitter',
        message: `_SUCCESS under ${uri} is empty: the classic FileOutputCommitter wrote it, which can lose or duplicate files on S3; use an S3A committer (orchard's SparkApplication sets the magic committer) and ${rerun}`,
      });
      break;
    case 'invalid':
      problems.push({ reason: 'ManifestInvalid', message: `_SUCCESS under ${uri} is not an S3A committer manifest: ${o.success.error}` });
      break;
    case 'manifest':
      break;
  }
  if (o.unreadable.length > 0) {
    const detail = o.unreadable.slice(0, 3).map((f) => `${f.key}: ${f.error}`).join('; ');
    problems.push({ reason: 'FooterUnreadable', message: `${o.unreadable.length} of ${o.files.length + o.unreadable.length} Parquet files under ${uri} have no readable footer (${detail})` });
  }
  const listed = [...o.files, ...o.unreadable].map((f) => basename(f.key));
  if (listed.length === 0) problems.push({ reason: 'NoDataFiles', message: `no Parquet data files under ${uri}` });
  const listedSet = new Set(listed);
  if (o.success.state === 'manifest') {
    const named = new Set(o.success.manifest.filenames.map(basename));
    const missing = [...named].filter((n) => !listedSet.has(n));
    // The manifest is complete only below Hadoop's cap; at the cap it is a sample of the files.
    const unnamed = named.size < MANIFEST_FILENAME_LIMIT ? listed.filter((n) => !named.has(n)) : [];
    if (missing.length > 0 || unnamed.length > 0) {
      const parts = [
        ...(missing.length ? [`named in _SUCCESS but not in S3: ${listSome(missing)}`] : []),
        ...(unnamed.length ? [`in S3 but not in _SUCCESS: ${listSome(unnamed)}`] : []),
      ];
      problems.push({ reason: 'FileCountMismatch', message: `S3 lists ${listed.length} Parquet files under ${uri}, the _SUCCESS manifest names ${named.size}; ${parts.join('; ')}` });
    }
  }
  if (o.metrics.state === 'missing') {
    problems.push({ reason: 'JobMetricsMissing', message: `no job metrics at ${uri.replace(/\/?$/, '/')}_orchard/metrics.json: the job ended before writing them; ${rerun}` });
  } else if (o.metrics.state === 'invalid') {
    problems.push({ reason: 'JobMetricsInvalid', message: `job metrics under ${uri} are unreadable: ${o.metrics.error}` });
  } else {
    const m = o.metrics.metrics;
    const reported = new Set(m.files.map(basename));
    const missing = [...reported].filter((n) => !listedSet.has(n));
    const unreported = listed.filter((n) => !reported.has(n));
    if (missing.length > 0 || unreported.length > 0) {
      problems.push({
        reason: 'FileCountMismatch',
        message: `S3 lists ${listed.length} Parquet files under ${uri}, the job metrics name ${reported.size}${missing.length ? `; missing from S3: ${listSome(missing)}` : ''}${unreported.length ? `; not written by the job: ${listSome(unreported)}` : ''}`,
      });
    }
    const rows = o.files.reduce((sum, f) => sum + f.rows, 0);
    if (o.unreadable.length === 0 && (rows !== m.rowsWritten || rows !== m.imagesDecoded)) {
      problems.push({
        reason: 'RowCountMismatch',
        message: `Parquet footers under ${uri} hold ${rows} rows, the job metrics say ${m.rowsWritten} rows written from ${m.imagesDecoded} decoded images`,
      });
    }
  }
  const schemas = new Set(o.files.map((f) => JSON.stringify(f.schema)));
  if (schemas.size > 1) {
    problems.push({ reason: 'SchemaMismatch', message: `the Parquet files under ${uri} have ${schemas.size} different schemas: a reader will fail or drop columns` });
  }
  // Last: a dataset whose files disagree is broken whatever its features are worth.
  const quality = o.metrics.state === 'present' ? qualityProblem(o.metrics.metrics.featureQuality, uri) : undefined;
  if (quality) problems.push(quality);
  return problems;
}

function summary(o: OutputObservation): Pick<ParquetOutputStatus, 'files' | 'rows' | 'bytes' | 'schema' | 'committer' | 'jobMetrics' | 'featureQuality' | 'lineage'> {
  const all = [...o.files, ...o.unreadable];
  const committer = o.success.state === 'manifest' ? o.success.manifest.committer : o.success.state === 'empty' ? 'classic' : undefined;
  const metrics = o.metrics.state === 'present' ? o.metrics.metrics : undefined;
  return {
    files: all.length,
    rows: o.files.reduce((sum, f) => sum + f.rows, 0),
    bytes: all.reduce((sum, f) => sum + f.bytes, 0),
    schema: o.files[0]?.schema ?? [],
    ...(committer ? { committer } : {}),
    ...(metrics
      ? {
          jobMetrics: {
            imagesFound: metrics.imagesFound,
            imagesDecoded: metrics.imagesDecoded,
            imagesFailed: metrics.imagesFailed,
            labels: metrics.labels,
            durationSeconds: metrics.durationSeconds,
            imagesPerSecond: metrics.imagesPerSecond,
          },
        }
      : {}),
    ...(metrics?.featureQuality ? { featureQuality: metrics.featureQuality } : {}),
    ...(metrics?.lineage ? { lineage: metrics.lineage } : {}),
  };
}

type ConditionDraft = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

/**
 * The status a ParquetOutput should have, rebuilt from the job and what S3 holds; never patched
 * from memory. A condition keeps its lastTransitionTime while its status does not change, so the
 * same world yields the same status and no write.
 */
export function desiredOutputStatus(input: DesiredInput): ParquetOutputStatus {
  const { job, uri, observation, s3Error } = input;
  let phase: Phase;
  let recorded: ConditionDraft;
  let complete: ConditionDraft;
  let facts: ReturnType<typeof summary> | undefined;
  let drift: ConditionDraft | undefined;
  if (FAILED_STATES.has(job.state)) {
    phase = 'Failed';
    const why =
      `job ${job.namespace}/${job.name} ended ${job.state} (attempt ${job.submissionAttempt})${job.errorMessage ? `: ${job.errorMessage}` : ''}` +
      (input.jobError ? `; the job said: ${input.jobError}` : '');
    recorded = { type: CONDITION.recorded, status: 'False', reason: 'JobFailed', message: `${why}; nothing under ${uri} is recorded` };
    complete = { type: CONDITION.complete, status: 'False', reason: 'JobFailed', message: why };
  } else if ((job.state === STATE.failing || job.state === STATE.pendingRerun) && input.jobError) {
    // Between a failed attempt and its retry: the retry deletes the driver pod that held the
    // attempt's own words, so they are said now (and kept in an Event).
    phase = 'Pending';
    // Without the operator's error: it holds an exit code in FAILING and is cleared in PENDING_RERUN,
    // and one attempt should read (and announce) the same in both.
    const why = `job ${job.namespace}/${job.name} attempt ${job.submissionAttempt} failed; the job said: ${input.jobError}`;
    recorded = { type: CONDITION.recorded, status: 'False', reason: 'JobAttemptFailed', message: `${why}; its restartPolicy decides whether it runs again, and ${uri} is recorded when a run completes` };
    complete = { type: CONDITION.complete, status: 'Unknown', reason: 'JobAttemptFailed', message: why };
  } else if (job.state !== COMPLETED) {
    phase = 'Pending';
    const state = job.state || 'not yet submitted';
    recorded = { type: CONDITION.recorded, status: 'False', reason: 'JobNotFinished', message: `job ${job.namespace}/${job.name} is ${state}; ${uri} is recorded when it completes` };
    complete = { type: CONDITION.complete, status: 'Unknown', reason: 'JobNotFinished', message: `job is ${state}` };
  } else if (!observation) {
    phase = 'Pending';
    const why = s3Error ?? 'the output has not been read yet';
    recorded = { type: CONDITION.recorded, status: 'False', reason: 'S3Unavailable', message: `cannot read ${uri}, retrying with backoff: ${why}` };
    complete = { type: CONDITION.complete, status: 'Unknown', reason: 'S3Unavailable', message: why };
  } else {
    facts = summary(observation);
    drift = driftCondition(input.predecessor, facts.schema ?? [], uri);
    const problems = assessOutput(observation);
    recorded = { type: CONDITION.recorded, status: 'True', reason: 'Recorded', message: `${facts.files} ${facts.files === 1 ? 'file' : 'files'}, ${facts.rows} rows, ${facts.bytes} bytes read from ${uri}` };
    if (problems.length === 0) {
      phase = 'Recorded';
      complete = { type: CONDITION.complete, status: 'True', reason: 'Complete', message: `committed by the ${facts.committer} committer; footers, manifest and job metrics agree` };
    } else {
      phase = 'Incomplete';
      complete = { type: CONDITION.complete, status: 'False', reason: problems[0]!.reason, message: problems.map((p) => p.message).join('\n') };
    }
  }
  return {
    phase,
    ...(facts ?? {}),
    ...(input.leftovers && phase !== 'Pending' ? { leftovers: input.leftovers } : {}),
    observedGeneration: input.generation,
    conditions: [recorded, complete, ...(drift ? [drift] : [])].map((c) => withTransition(c, input.previous?.conditions, input.generation, input.now)),
  };
}

/** SchemaChanged, when there is a previous dataset of the job and this one's columns could be read. */
function driftCondition(predecessor: Predecessor | undefined, schema: readonly { name: string; type: string }[], uri: string): ConditionDraft | undefined {
  if (!predecessor || schema.length === 0 || predecessor.schema.length === 0) return undefined;
  const previous = `${predecessor.uri} (ParquetOutput ${predecessor.name}), the job's previous dataset`;
  const change = schemaChange(predecessor.schema, schema);
  return change
    ? { type: SCHEMA_CHANGED, status: 'True', reason: 'ColumnsChanged', message: `the columns under ${uri} differ from ${previous}: ${change}; a reader of both datasets must handle the change` }
    : { type: SCHEMA_CHANGED, status: 'False', reason: 'SameColumns', message: `same columns as ${previous}` };
}

function withTransition(draft: ConditionDraft, previous: readonly Condition[] | undefined, generation: number, now: Date): Condition {
  const before = previous?.find((c) => c.type === draft.type);
  const lastTransitionTime = before && before.status === draft.status ? before.lastTransitionTime : now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return { ...draft, lastTransitionTime, observedGeneration: generation };
}

/** Where a ParquetOutput stands, as the controller's gauges count it. */
export interface Outcome {
  readonly phase: Phase;
  /** Its Complete condition's reason. */
  readonly reason?: string;
  readonly leftovers?: Leftovers;
  /** Its SchemaChanged condition is True. */
  readonly schemaChanged?: boolean;
  /** Its place among its job's records (drift.ts's recordOrder), so the gauges can tell the newest. */
  readonly order?: string;
}

export function outcomeOf(record: Pick<ParquetOutput, 'metadata'>, status: ParquetOutputStatus): Outcome {
  const reason = status.conditions?.find((c) => c.type === CONDITION.complete)?.reason;
  const schemaChanged = status.conditions?.some((c) => c.type === SCHEMA_CHANGED && c.status === 'True');
  return {
    phase: status.phase!,
    ...(reason ? { reason } : {}),
    ...(status.leftovers ? { leftovers: status.leftovers } : {}),
    ...(schemaChanged ? { schemaChanged } : {}),
    order: recordOrder(record),
  };
}

/** Structural equality of two statuses, whatever the key order the API server returned. */
export function sameStatus(a: ParquetOutputStatus | undefined, b: ParquetOutputStatus | undefined): boolean {
  return canonical(a ?? {}) === canonical(b ?? {});
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) : v,
  );
}
