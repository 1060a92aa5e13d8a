/**
 * The ScheduledSparkApplication of a scheduled feature-extraction job. Its template is exactly the
 * spec `sparkApplicationProps` builds for a one-shot run of the same props, so a scheduled run and
 * `orchard run` cannot drift apart.
 */
import { ScheduledSparkApplication, type ScheduledSparkApplicationProps, type ScheduledSparkApplicationSpecTemplate } from '../../cdk8s/imports/sparkoperator.k8s.io.ts';
import type { Manifest } from '../api/manifest.ts';
import { hasRunPlaceholder, RUN_PLACEHOLDER } from '../api/run-output.ts';
import { OrchardError } from '../errors.ts';
import { APPLICATION_NAME_LIMIT, featurizeProblems, sparkApplicationProps, type FeaturizeProps } from './application.ts';

export interface FeaturizeSchedule {
  /** When runs start: five cron fields or a descriptor such as `@daily` (robfig/cron's ParseStandard, as the operator parses it). */
  readonly cron: string;
  /** IANA zone the cron fields are read in. @default 'UTC' (the operator's own default, "Local", is its pod's zone) */
  readonly timeZone?: string;
  /** Completed runs (SparkApplications) the operator keeps; older ones are deleted, their records are not. @default 3 */
  readonly successfulRunHistoryLimit?: number;
  /** Failed runs the operator keeps, so their status and driver pod can be read. @default 3 */
  readonly failedRunHistoryLimit?: number;
}

export interface ScheduledFeaturizeProps extends FeaturizeProps {
  readonly schedule: FeaturizeSchedule;
}

export const SCHEDULE_DEFAULTS = {
  timeZone: 'UTC',
  successfulRunHistoryLimit: 3,
  failedRunHistoryLimit: 3,
  /**
   * A run must not start while the previous one writes: an incremental run starts from the newest
   * complete dataset, and two runs at once would featurize the same new images twice.
   */
  concurrencyPolicy: 'Forbid',
} as const;

/**
 * What the operator appends to the schedule's name to name a run: "-" and the start time in Unix
 * nanoseconds, 19 digits (v2.5.2's --scheduled-spark-application-timestamp-precision default, nanos).
 */
export const RUN_NAME_SUFFIX_LENGTH = 20;

const CRON_DESCRIPTOR = /^@(yearly|annually|monthly|weekly|daily|midnight|hourly|every \S+)$/;

/** A scheduled job's props with its defaults: runs are incremental unless the props say otherwise. */
function runProps(props: ScheduledFeaturizeProps): FeaturizeProps {
  return { ...props, incremental: props.incremental ?? true };
}

/** Every problem with the props of a scheduled job: the run's own, then the schedule's. */
export function scheduledFeaturizeProblems(props: ScheduledFeaturizeProps): string[] {
  const where = `scheduled featurize job "${props.name}"`;
  const problems = featurizeProblems(runProps(props));
  const limit = APPLICATION_NAME_LIMIT - RUN_NAME_SUFFIX_LENGTH;
  if (props.name.length > limit) {
    problems.push(`${where}: name must be at most ${limit} characters: the operator names each run <name>-<19-digit start time>, and a run's name is held to ${APPLICATION_NAME_LIMIT}`);
  }
  if (!hasRunPlaceholder(props.output)) {
    problems.push(`${where}: output "${props.output}" does not end in ${RUN_PLACEHOLDER}, so every run would overwrite the last: write it as ${props.output.replace(/\/+$/, '')}/${RUN_PLACEHOLDER}`);
  }
  const { cron } = props.schedule;
  if (/^(CRON_)?TZ=/.test(cron)) problems.push(`${where}: schedule "${cron}" carries its own zone: set schedule.timeZone instead`);
  else if (!CRON_DESCRIPTOR.test(cron) && cron.trim().split(/\s+/).length !== 5) {
    problems.push(`${where}: schedule "${cron}" is not five cron fields (minute hour day-of-month month day-of-week) or a descriptor such as @daily`);
  }
  for (const field of ['successfulRunHistoryLimit', 'failedRunHistoryLimit'] as const) {
    const value = props.schedule[field];
    if (value !== undefined && (!Number.isInteger(value) || value < 0)) problems.push(`${where}: schedule.${field} must be an integer >= 0, got ${value}`);
  }
  return problems;
}

/** The ScheduledSparkApplication's props; throws an OrchardError listing every problem. */
export function scheduledSparkApplicationProps(props: ScheduledFeaturizeProps): ScheduledSparkApplicationProps {
  const problems = scheduledFeaturizeProblems(props);
  if (problems.length > 0) {
    throw new OrchardError(problems.length === 1 ? problems[0]! : `${problems.length} problems:\n  - ${problems.join('\n  - ')}`, 'fix the props of the scheduled featurize job (cdk8s/stages.ts for a stage)');
  }
  const application = sparkApplicationProps(runProps(props));
  const { schedule } = props;
  return {
    // The operator copies these labels onto every run, and not the annotations: the controller
    // reads the outputs annotation here, through the run's ownerReference.
    metadata: application.metadata,
    spec: {
      schedule: schedule.cron,
      timeZone: schedule.timeZone ?? SCHEDULE_DEFAULTS.timeZone,
      concurrencyPolicy: SCHEDULE_DEFAULTS.concurrencyPolicy,
      successfulRunHistoryLimit: schedule.successfulRunHistoryLimit ?? SCHEDULE_DEFAULTS.successfulRunHistoryLimit,
      failedRunHistoryLimit: schedule.failedRunHistoryLimit ?? SCHEDULE_DEFAULTS.failedRunHistoryLimit,
      // The operator's template is its SparkApplicationSpec Go type, so both generated types share
      // one schema; `cdk8s import` only gives each its own (nominal) enums. A test checks the
      // rendered template equals the SparkApplication's spec.
      template: application.spec as unknown as ScheduledSparkApplicationSpecTemplate,
    },
  };
}

/** The ScheduledSparkApplication in wire format, as kubectl and the CLI see it. */
export function scheduledSparkApplicationFor(props: ScheduledFeaturizeProps): Manifest {
  return ScheduledSparkApplication.manifest(scheduledSparkApplicationProps(props)) as Manifest;
}
