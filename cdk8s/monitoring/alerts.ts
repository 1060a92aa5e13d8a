/**
 * orchard's alerts, as Prometheus rule groups. The PrometheusRule of the platform chart, the Helm
 * chart and the promtool tests all render these; the metric names are the controller's
 * (src/controller/metrics.ts) and the Prometheus operator's `up`.
 */
import { Duration } from 'cdk8s';
import { JOB_SERIES_LABEL } from '../../src/api/parquet-output.ts';

/** One alerting rule, in Prometheus's rule-file shape. */
export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for: string;
  readonly labels: { readonly severity: 'critical' | 'warning' };
  readonly annotations: { readonly summary: string; readonly description: string; readonly runbook: string };
}

/** An alert as defined here: `signal` is the series it judges, `expr` the condition on it. */
interface AlertDefinition extends Omit<AlertRule, 'alert'> {
  /**
   * The query whose data the alert judges, without the threshold: empty means the alert is blind
   * (a renamed metric, a scrape that lost a label), so a test proves each returns data.
   */
  readonly signal: string;
}

export interface RuleGroup {
  readonly name: string;
  readonly rules: readonly AlertRule[];
}

export interface AlertOptions {
  /** Namespace of the controller and the jobs: every alert is scoped to it. */
  readonly namespace: string;
  /**
   * A feature-extraction run that takes longer than this is stuck or under-sized. The full
   * Fruits-360 set (90,380 images) takes minutes on 4 executors of 4 cores.
   * @default 1 hour
   */
  readonly expectedJobDuration?: Duration;
}

/** The `job` label the Prometheus operator gives the controller's targets: the ServiceMonitor's Service name. */
export const CONTROLLER_SCRAPE_JOB = 'orchard-controller';

/** The alert names, so tests can check each one fires on a sample and stays quiet on a healthy series. */
export const ALERTS = [
  'OrchardSparkJobFailed',
  'OrchardSparkJobRunningTooLong',
  'OrchardOutputIncomplete',
  'OrchardFeatureQualityBelowThreshold',
  'OrchardOutputLeftovers',
  'OrchardSchemaChanged',
  'OrchardControllerDown',
  'OrchardControllerNoLeader',
  'OrchardReconcileErrors',
] as const;
export type AlertName = (typeof ALERTS)[number];

export function orchardRuleGroups(options: AlertOptions): RuleGroup[] {
  const defined = definitions(options);
  return [{ name: 'orchard', rules: ALERTS.map((alert) => toRule(alert, defined[alert])) }];
}

/** Each alert's signal query, by name. */
export function alertSignals(options: AlertOptions): Record<AlertName, string> {
  const defined = definitions(options);
  return Object.fromEntries(ALERTS.map((alert) => [alert, defined[alert].signal])) as Record<AlertName, string>;
}

function definitions(options: AlertOptions): Record<AlertName, AlertDefinition> {
  const ns = `namespace="${options.namespace}"`;
  const job = JOB_SERIES_LABEL;
  const limit = (options.expectedJobDuration ?? Duration.hours(1)).toSeconds();
  return {
    OrchardSparkJobFailed: {
      // Both replicas watch the jobs, so the gauge is taken once (max), not summed.
      signal: `max by (namespace, state) (orchard_spark_applications{${ns}, state=~"FAILED|SUBMISSION_FAILED"})`,
      expr: '> 0',
      for: '0m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'A feature-extraction job failed in {{ $labels.namespace }}',
        description: '{{ $value }} SparkApplication(s) in {{ $labels.namespace }} are {{ $labels.state }}: no features were written for them.',
        runbook: [
          'kubectl -n {{ $labels.namespace }} get sparkapplications -l orchard.fruits.dev/job: find the FAILED one(s).',
          'kubectl describe sparkapplication <name>: .status.applicationState.errorMessage holds the driver\'s error; SUBMISSION_FAILED means the operator refused the spec (image, service account, quota).',
          'Read the driver log (kubectl logs <name>-driver): a missing input prefix, an unwritable output or a missing model fails fast and names the URI to fix.',
          'Fix the cause, then delete and re-apply the SparkApplication (or let Argo CD re-sync it). The alert clears when no failed job is left.',
        ].join(' '),
      },
    },
    OrchardSparkJobRunningTooLong: {
      signal: `max by (namespace, spark_namespace, spark_application) (orchard_spark_application_running_seconds{${ns}})`,
      expr: `> ${limit}`,
      for: '0m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'A feature-extraction job has run for longer than expected',
        description: `SparkApplication {{ $labels.spark_namespace }}/{{ $labels.spark_application }} has been submitted or running for {{ $value | humanizeDuration }}, more than ${limit} s.`,
        runbook: [
          'Open the dashboard "orchard: feature extraction": tasks per second near zero means the job is stuck, not slow.',
          'kubectl -n {{ $labels.spark_namespace }} get pods -l sparkoperator.k8s.io/app-name={{ $labels.spark_application }}: Pending executors mean the cluster lacks capacity (check the node group or Karpenter).',
          'Slow but progressing: raise executor.instances (or dynamic allocation max) in the stage; executor busy cores near their total means the job is CPU-bound as designed.',
          'Stuck: read the driver log for S3 retries (throttling, credentials) and kill the run with kubectl delete sparkapplication.',
        ].join(' '),
      },
    },
    OrchardOutputIncomplete: {
      signal: `max by (namespace) (orchard_parquet_outputs{${ns}, phase="Incomplete"})`,
      expr: '> 0',
      for: '0m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'A recorded Parquet output is incomplete',
        description: '{{ $value }} ParquetOutput(s) in {{ $labels.namespace }} are Incomplete: files, rows or the manifest do not agree, so the dataset must not be used.',
        runbook: [
          'kubectl -n {{ $labels.namespace }} get pqo: find the Incomplete output(s).',
          'kubectl describe pqo <name>: the Complete condition\'s reason says what disagrees (ManifestMissing, RowCountMismatch, FileCountMismatch, ClassicCommitter, ...).',
          'A run killed mid-commit or a second writer on the same URI are the usual causes: re-run the job into a fresh output URI.',
        ].join(' '),
      },
    },
    OrchardFeatureQualityBelowThreshold: {
      // Beside OrchardOutputIncomplete, which fires too: this one says the files are fine and the
      // features are not, which calls for a different fix (the model or preprocessing, not a rerun).
      signal: `max by (namespace, reason) (orchard_parquet_outputs_failing_quality{${ns}})`,
      expr: '> 0',
      for: '0m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'A dataset failed its feature quality gate',
        description:
          "{{ $value }} ParquetOutput(s) in {{ $labels.namespace }} are Incomplete with {{ $labels.reason }}: the job's linear probe predicts the images' classes from the features less accurately than the stage's minProbeTop1, or could not measure it.",
        runbook: [
          'kubectl -n {{ $labels.namespace }} get pqo -o wide: the Top-1 column shows each dataset\'s probe accuracy.',
          'kubectl describe pqo <name>: status.featureQuality lists the worst classes and what they are taken for; the Complete condition gives the gate.',
          'orchard report <output URI> shows the same, with the job\'s settings. A sudden drop follows a change: the image (preprocessing, model), the precision (int8 against fp32) or imageSize; run the bench (npm run bench) to compare them.',
          'QualityNotMeasured: the probe was skipped (no class folders, or under 10 images in a class); fix the input layout, or drop minProbeTop1 for that job.',
        ].join(' '),
      },
    },
    OrchardOutputLeftovers: {
      signal: `max by (namespace, spark_namespace, ${job}) (orchard_parquet_outputs_leftover_uploads{${ns}} + orchard_parquet_outputs_leftover_objects{${ns}})`,
      expr: '> 0',
      // Leftovers are counted when a run ends, and `orchard gc` leaves uploads younger than its
      // --min-age (60 minutes by default): after an hour it removes all that the alert counts.
      for: '1h',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'Failed writes left objects under the outputs of a job',
        description:
          `{{ $value }} pending multipart upload(s) and __magic* object(s) have stayed for an hour under the outputs of job {{ $labels.${job} }} in {{ $labels.spark_namespace }}: S3 stores and bills them, and no reader sees them.`,
        runbook: [
          `orchard outputs -n {{ $labels.spark_namespace }} -l orchard.fruits.dev/job={{ $labels.${job} }} -o wide: the LEFTOVERS column says which runs left them (status.leftovers of each record).`,
          `orchard gc -n {{ $labels.spark_namespace }} -l orchard.fruits.dev/job={{ $labels.${job} }}: a dry run, the default, that prints each upload it would abort and each partial object it would delete, and deletes nothing.`,
          'Then the same command with --yes. It never touches the output of a run still writing nor an object of a Recorded dataset, and leaves uploads begun less than --min-age minutes (60) ago.',
          "The controller reads a finished run's leftovers again at each resync, about every 10 minutes: the alert clears at the first one after gc.",
        ].join(' '),
      },
    },
    OrchardSchemaChanged: {
      signal: `max by (namespace, spark_namespace, ${job}) (orchard_parquet_output_schema_changed{${ns}})`,
      expr: '> 0',
      for: '0m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'The newest dataset of a job has other columns than the one before',
        description: `The newest Recorded dataset of job {{ $labels.${job} }} in {{ $labels.spark_namespace }} added, removed or retyped columns against the job's previous dataset: a reader of both must handle the change.`,
        runbook: [
          `kubectl -n {{ $labels.spark_namespace }} get pqo -l orchard.fruits.dev/job={{ $labels.${job} }} --sort-by=.metadata.creationTimestamp: the last Recorded one is the changed dataset.`,
          "kubectl describe pqo <name>: its SchemaChanged condition names the columns added, removed or retyped, and the previous dataset (its URI and ParquetOutput); a SchemaChanged Warning Event on the run says the same.",
          "kubectl -n {{ $labels.spark_namespace }} get pqo <previous> -o jsonpath='{.status.schema}': the previous dataset's columns, to compare with the new one's.",
          "Intended (a new model, a new column): tell the datasets' readers. Not intended: compare the run's image and arguments with the previous run's.",
          'The alert clears when a newer run of the job is Recorded with the same columns as this one.',
        ].join(' '),
      },
    },
    OrchardControllerDown: {
      signal: `up{job="${CONTROLLER_SCRAPE_JOB}", ${ns}}`,
      // absent(): a controller whose pods are all gone leaves no `up` series to compare.
      expr: 'absent(SIGNAL == 1)',
      for: '5m',
      labels: { severity: 'critical' },
      annotations: {
        summary: 'The orchard controller is down',
        description: `No orchard controller replica in ${options.namespace} has answered a scrape for 5 minutes: finished jobs are not being recorded.`,
        runbook: [
          `kubectl -n ${options.namespace} get pods -l app.kubernetes.io/name=orchard-controller: CrashLoopBackOff or Pending?`,
          'kubectl logs the pod: the controller logs JSON; an error at start names the missing setting (namespace, S3 region) or the refused API call (RBAC).',
          'If the pods run but are not scraped, check the ServiceMonitor selects the orchard-controller Service and Prometheus\'s serviceMonitorSelector matches its labels.',
          'Nothing is lost while it is down: on restart the controller lists every job and records those that finished meanwhile.',
        ].join(' '),
      },
    },
    OrchardControllerNoLeader: {
      signal: `max(orchard_leader{${ns}})`,
      expr: '== 0',
      for: '2m',
      labels: { severity: 'critical' },
      annotations: {
        summary: 'No orchard controller replica holds the leader Lease',
        description: `Controller replicas in ${options.namespace} are up but none has led for 2 minutes, so none reconciles.`,
        runbook: [
          `kubectl -n ${options.namespace} get lease orchard-controller -o yaml: holderIdentity and renewTime show who last held it.`,
          'A replica that cannot update the Lease is refused by RBAC (leases get/create/update) or cannot reach the API server: its log says which.',
        ].join(' '),
      },
    },
    OrchardReconcileErrors: {
      // Conflicts are left out: a burst of them is optimistic locking doing its job.
      signal: `sum by (namespace) (rate(orchard_reconcile_total{${ns}, result="error"}[5m]))`,
      expr: '> 0',
      for: '15m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'The orchard controller keeps failing to reconcile',
        description: 'Reconciles in {{ $labels.namespace }} have kept failing for 15 minutes ({{ $value }} per second); each is retried with backoff. orchard_reconcile_errors_total{reason} says why.',
        runbook: [
          'S3Unavailable: the controller cannot read outputs; check the endpoint, the IRSA role (s3:GetObject, s3:ListBucket on the output prefix) and S3 throttling.',
          'Conflict is normal in bursts; lasting conflicts mean another writer keeps changing the ParquetOutputs.',
          'Other reasons: kubectl logs the leader (the orchard-controller Lease holder); each failure is logged with the job and the error.',
        ].join(' '),
      },
    },
  };
}

/** `expr` is either a comparison appended to the signal or a template naming it as SIGNAL. */
function toRule(alert: AlertName, { signal, expr, ...rest }: AlertDefinition): AlertRule {
  return { alert, expr: expr.includes('SIGNAL') ? expr.replace('SIGNAL', signal) : `${signal} ${expr}`, ...rest };
}
