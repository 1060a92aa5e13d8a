/**
 * Per-run outputs. A job whose output URI ends in the segment `{run}` writes each run under its own
 * folder: the job replaces the segment with `spark.app.name`, which spark-operator v2.5.2 sets to the
 * SparkApplication's name, and the controller replaces it with the same name. A scheduled job needs
 * it: every run of a ScheduledSparkApplication gets the same template, so a fixed URI would make
 * each run overwrite the last.
 */
import { OrchardError } from '../errors.ts';

/** The literal last segment of an output URI that names the run. */
export const RUN_PLACEHOLDER = '{run}';

const trimmed = (uri: string) => uri.replace(/\/+$/, '');

/** Whether the URI ends in the `{run}` segment. */
export function hasRunPlaceholder(uri: string): boolean {
  return trimmed(uri).endsWith(`/${RUN_PLACEHOLDER}`);
}

/** Where the placeholder is misplaced, if it is: anywhere but the whole last segment. */
export function runPlaceholderProblem(uri: string, what: string): string | undefined {
  const elsewhere = hasRunPlaceholder(uri) ? trimmed(uri).slice(0, -RUN_PLACEHOLDER.length) : uri;
  if (!elsewhere.includes(RUN_PLACEHOLDER)) return undefined;
  return `${what} "${uri}" has ${RUN_PLACEHOLDER} elsewhere than as its whole last segment: write it as <root>/${RUN_PLACEHOLDER}, for example s3a://bucket/features/nightly/${RUN_PLACEHOLDER}`;
}

/**
 * The URI a run writes: the `{run}` segment replaced by the run's SparkApplication name, as the job
 * replaces it with spark.app.name. A URI without the segment is the run's output as it stands.
 */
export function resolveRunOutput(uri: string, run: string): string {
  if (!hasRunPlaceholder(uri)) return uri;
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(run)) {
    throw new OrchardError(`run name "${run}" cannot replace ${RUN_PLACEHOLDER} in ${uri}`, 'name the SparkApplication with a DNS-1123 name, as the operator does');
  }
  return `${trimmed(uri).slice(0, -RUN_PLACEHOLDER.length)}${run}`;
}
