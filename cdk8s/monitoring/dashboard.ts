/**
 * The Grafana dashboard "orchard: feature extraction", as a Grafana dashboard JSON model. Its
 * queries name orchard's controller metrics and the metrics Spark's PrometheusServlet serves for
 * the driver and the executors (spark.ui.prometheus.enabled); a test runs every one of them
 * against a real Prometheus that scraped a real run.
 */
import { JOB_SERIES_LABEL as JOB } from '../../src/api/parquet-output.ts';
import { IMAGES_GAUGE, S3_PROBES_FAILED_GAUGE, S3A_RETRIES_GAUGE, SPARK_METRICS_NAMESPACE } from '../../src/spark/application.ts';
import { CONTROLLER_SCRAPE_JOB } from './alerts.ts';

/** A job gauge as the driver's PrometheusServlet names it. */
function driverGauge(name: string): string {
  return `metrics_${SPARK_METRICS_NAMESPACE}_driver_AccumulatorSource_${name}_Value`;
}

export interface PanelQuery {
  readonly expr: string;
  readonly legend: string;
}

export interface Panel {
  readonly title: string;
  readonly description: string;
  readonly kind: 'timeseries' | 'stat';
  readonly unit: string;
  readonly queries: readonly PanelQuery[];
}

export interface DashboardSection {
  readonly title: string;
  readonly panels: readonly Panel[];
}

/** Grafana's variables the queries use: the namespace picked on the dashboard, the rate window and the time range. */
export const DASHBOARD_VARIABLES = ['$namespace', '$__rate_interval', '$__range'] as const;

const ns = 'namespace="$namespace"';

export const DASHBOARD_SECTIONS: readonly DashboardSection[] = [
  {
    title: 'Jobs',
    panels: [
      {
        title: 'Spark jobs by state',
        description: 'Watched SparkApplications carrying the orchard job label, by the Spark operator\'s state.',
        kind: 'timeseries',
        unit: 'short',
        queries: [{ expr: `max by (state) (orchard_spark_applications{${ns}})`, legend: '{{state}}' }],
      },
      {
        title: 'Active jobs: time since submission',
        description: 'How long each SUBMITTED or RUNNING job has run; the "running longer than expected" alert compares this with its threshold.',
        kind: 'timeseries',
        unit: 's',
        queries: [{ expr: `max by (spark_application) (orchard_spark_application_running_seconds{${ns}})`, legend: '{{spark_application}}' }],
      },
      {
        title: 'Images per second (recorded runs)',
        description: 'Images decoded divided by job wall-clock seconds, over the runs recorded complete in the time range (from each run\'s _orchard/metrics.json).',
        kind: 'stat',
        unit: 'short',
        queries: [
          {
            expr: `sum(increase(orchard_recorded_images_total{${ns}}[$__range])) / sum(increase(orchard_recorded_job_seconds_total{${ns}}[$__range]))`,
            legend: 'images/s',
          },
        ],
      },
      {
        title: 'Images inferred per second (running jobs)',
        description:
          'Live progress: the driver\'s images_inferred gauge (spark-images/orchard_featurize/live.py), which the Python workers grow a batch of images at a time, the count `orchard demo` shows. Flat while a job writes, commits or waits on S3.',
        kind: 'timeseries',
        unit: 'short',
        queries: [
          {
            // A count that only grows while the driver lives, served as a gauge: rate() reads it as the counter it is.
            expr: `sum by (${JOB}) (rate(${driverGauge(IMAGES_GAUGE)}{${ns}}[$__rate_interval]))`,
            legend: '{{' + JOB + '}}',
          },
        ],
      },
      {
        title: 'Waiting on S3 (running jobs)',
        description:
          "The driver's probes of the output's S3 endpoint that got no answer (every 5 s, 3 s timeout) and S3A's retries on the driver, counted since the job started. The executors' own retries stay in their pods: rising probes are what tells an S3 outage while the images flat-line.",
        kind: 'timeseries',
        unit: 'short',
        queries: [
          { expr: `max by (${JOB}) (${driverGauge(S3_PROBES_FAILED_GAUGE)}{${ns}})`, legend: 'probes unanswered {{' + JOB + '}}' },
          { expr: `max by (${JOB}) (${driverGauge(S3A_RETRIES_GAUGE)}{${ns}})`, legend: 'S3A retries (driver) {{' + JOB + '}}' },
        ],
      },
    ],
  },
  {
    title: 'Executors',
    panels: [
      {
        title: 'Executor CPU: busy cores',
        description: 'Task time per second (cores kept busy by tasks) against the cores the executors have; the job is CPU-bound when the two meet.',
        kind: 'timeseries',
        unit: 'short',
        queries: [
          { expr: `sum by (${JOB}, executor_id) (rate(metrics_executor_totalDuration_seconds_total{${ns}}[$__rate_interval]))`, legend: 'busy {{' + JOB + '}} {{executor_id}}' },
          { expr: `sum by (${JOB}, executor_id) (metrics_executor_totalCores{${ns}})`, legend: 'cores {{' + JOB + '}} {{executor_id}}' },
        ],
      },
      {
        title: 'Executor memory',
        description: 'Peak JVM heap, JVM process RSS and Python workers\' RSS per executor, and the driver\'s heap: the Python RSS is what spark.executor.memoryOverhead must hold (ONNX Runtime and the model).',
        kind: 'timeseries',
        unit: 'bytes',
        queries: [
          { expr: `max by (${JOB}, executor_id) (metrics_executor_JVMHeapMemory_bytes{${ns}})`, legend: 'JVM heap {{executor_id}}' },
          { expr: `max by (${JOB}, executor_id) (metrics_executor_ProcessTreeJVMRSSMemory_bytes{${ns}})`, legend: 'JVM RSS {{executor_id}}' },
          { expr: `max by (${JOB}, executor_id) (metrics_executor_ProcessTreePythonRSSMemory_bytes{${ns}})`, legend: 'Python RSS {{executor_id}}' },
          { expr: `max by (${JOB}) (metrics_orchard_driver_jvm_heap_used_Value{${ns}})`, legend: 'driver heap used' },
        ],
      },
    ],
  },
  {
    title: 'Recorded datasets',
    panels: [
      {
        title: 'Rows recorded',
        description: 'Rows of the Parquet outputs recorded complete in the time range.',
        kind: 'stat',
        unit: 'short',
        queries: [{ expr: `sum(increase(orchard_recorded_rows_total{${ns}}[$__range]))`, legend: 'rows' }],
      },
      {
        title: 'Bytes recorded',
        description: 'Bytes of the Parquet outputs recorded complete in the time range.',
        kind: 'stat',
        unit: 'bytes',
        queries: [{ expr: `sum(increase(orchard_recorded_bytes_total{${ns}}[$__range]))`, legend: 'bytes' }],
      },
      {
        title: 'ParquetOutputs by phase',
        description: 'Pending, Recorded, Incomplete, Failed: an Incomplete output must not be used (see its Complete condition).',
        kind: 'timeseries',
        unit: 'short',
        queries: [{ expr: `max by (phase) (orchard_parquet_outputs{${ns}})`, legend: '{{phase}}' }],
      },
      {
        title: 'Leftovers of failed writes',
        description:
          "Per job, the multipart uploads left pending and the objects under the magic committer's __magic* paths that its finished runs left under their outputs: stored and billed, seen by no reader. `orchard gc` removes them (a dry run unless --yes).",
        kind: 'timeseries',
        unit: 'short',
        queries: [
          { expr: `max by (spark_namespace, ${JOB}) (orchard_parquet_outputs_leftover_uploads{${ns}})`, legend: 'uploads {{spark_namespace}}/{{' + JOB + '}}' },
          { expr: `max by (spark_namespace, ${JOB}) (orchard_parquet_outputs_leftover_objects{${ns}})`, legend: '__magic objects {{spark_namespace}}/{{' + JOB + '}}' },
        ],
      },
      {
        title: 'Schema changed',
        description: "1 for a job whose newest Recorded dataset has other columns than its previous one (the record's SchemaChanged condition names them); 0 once a later run keeps the columns.",
        kind: 'timeseries',
        unit: 'short',
        queries: [{ expr: `max by (spark_namespace, ${JOB}) (orchard_parquet_output_schema_changed{${ns}})`, legend: '{{spark_namespace}}/{{' + JOB + '}}' }],
      },
    ],
  },
  {
    title: 'Controller',
    panels: [
      {
        title: 'Replicas up and leader',
        description: 'Controller replicas answering scrapes, and whether one holds the leader Lease (only the leader reconciles).',
        kind: 'timeseries',
        unit: 'short',
        queries: [
          { expr: `sum(up{job="${CONTROLLER_SCRAPE_JOB}", ${ns}})`, legend: 'replicas up' },
          { expr: `max(orchard_leader{${ns}})`, legend: 'leader' },
        ],
      },
      {
        title: 'Reconciles per second',
        description: 'By result: success, error (retried with backoff), conflict (a 409, retried from a fresh read).',
        kind: 'timeseries',
        unit: 'reqps',
        queries: [{ expr: `sum by (result) (rate(orchard_reconcile_total{${ns}}[$__rate_interval]))`, legend: '{{result}}' }],
      },
      {
        title: 'Reconcile duration (p95)',
        description: 'Time to reconcile one job, including the S3 reads of its outputs.',
        kind: 'timeseries',
        unit: 's',
        queries: [{ expr: `histogram_quantile(0.95, sum by (le) (rate(orchard_reconcile_duration_seconds_bucket{${ns}}[$__rate_interval])))`, legend: 'p95' }],
      },
      {
        title: 'Work queue depth',
        description: 'Jobs waiting for a reconcile worker; a queue that stays above zero means the controller is falling behind.',
        kind: 'timeseries',
        unit: 'short',
        queries: [{ expr: `max(orchard_workqueue_depth{${ns}})`, legend: 'depth' }],
      },
    ],
  },
];

/** Grafana's dashboard JSON model (schemaVersion 39), with a data source and a namespace picker. */
export function grafanaDashboard(): Record<string, unknown> {
  const panels: Record<string, unknown>[] = [];
  let id = 1;
  let y = 0;
  for (const section of DASHBOARD_SECTIONS) {
    panels.push({ id: id++, type: 'row', title: section.title, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
    y += 1;
    section.panels.forEach((panel, index) => {
      const x = (index % 3) * 8;
      if (index > 0 && x === 0) y += 8;
      panels.push({
        id: id++,
        type: panel.kind,
        title: panel.title,
        description: panel.description,
        datasource: { type: 'prometheus', uid: '${datasource}' },
        gridPos: { h: 8, w: 8, x, y },
        fieldConfig: { defaults: { unit: panel.unit }, overrides: [] },
        options: panel.kind === 'stat' ? { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false } } : { legend: { displayMode: 'list', placement: 'bottom' } },
        targets: panel.queries.map((query, q) => ({
          refId: String.fromCharCode(65 + q),
          datasource: { type: 'prometheus', uid: '${datasource}' },
          expr: query.expr,
          legendFormat: query.legend,
          ...(panel.kind === 'stat' ? { instant: true } : { range: true }),
        })),
      });
    });
    y += 8;
  }
  return {
    uid: 'orchard-feature-extraction',
    title: 'orchard: feature extraction',
    description: 'ResNet50 feature-extraction jobs on Spark and the orchard controller that records their Parquet outputs.',
    tags: ['orchard', 'spark'],
    schemaVersion: 39,
    version: 1,
    editable: false,
    refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    timezone: 'utc',
    templating: {
      list: [
        { name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus', current: {} },
        {
          name: 'namespace',
          label: 'Namespace',
          type: 'query',
          datasource: { type: 'prometheus', uid: '${datasource}' },
          query: { query: 'label_values(orchard_leader, namespace)', refId: 'namespace' },
          definition: 'label_values(orchard_leader, namespace)',
          refresh: 2,
          current: {},
        },
      ],
    },
    annotations: { list: [] },
    panels,
  };
}
