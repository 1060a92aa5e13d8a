import { Construct } from 'constructs';
import { ScheduledSparkApplication, SparkApplication } from '../imports/sparkoperator.k8s.io.ts';
import { PodMonitor } from '../imports/monitoring.coreos.com.ts';
import { JOB_LABEL } from '../../src/api/parquet-output.ts';
import {
  DRIVER_METRICS_PATH,
  EXECUTOR_METRICS_PATH,
  featurizeLabels,
  sparkApplicationProps,
  SPARK_UI_PORT_NAME,
  type FeaturizeProps,
} from '../../src/spark/application.ts';
import { scheduledSparkApplicationProps, type FeaturizeSchedule } from '../../src/spark/scheduled-application.ts';

export interface FeaturizeJobProps extends FeaturizeProps {
  /** Run on this schedule, each run incremental by default and writing under its own `{run}` folder. @default one run, now */
  readonly schedule?: FeaturizeSchedule;
}

/**
 * ResNet50 feature extraction on the Spark operator: one SparkApplication, or a
 * ScheduledSparkApplication whose template is that SparkApplication's spec (both rendered by the
 * functions the controller and the CLI share), and the PodMonitor that scrapes the driver of each
 * run. Invalid props throw while the app is built, naming the prop and the fix.
 */
export class FeaturizeJob extends Construct {
  readonly application: SparkApplication | ScheduledSparkApplication;
  readonly podMonitor: PodMonitor;

  constructor(scope: Construct, id: string, props: FeaturizeJobProps) {
    super(scope, id);
    const { schedule, ...run } = props;
    this.application = schedule
      ? new ScheduledSparkApplication(this, 'scheduled-application', scheduledSparkApplicationProps({ ...run, schedule }))
      : new SparkApplication(this, 'application', sparkApplicationProps(run));
    const labels = featurizeLabels(props);
    this.podMonitor = new PodMonitor(this, 'pod-monitor', {
      metadata: { name: props.name, namespace: props.namespace, labels },
      spec: {
        // The driver serves its own metrics and, with spark.ui.prometheus.enabled, every executor's.
        selector: { matchLabels: { [JOB_LABEL]: props.name, 'spark-role': 'driver' } },
        namespaceSelector: { matchNames: [props.namespace] },
        // Every series carries the job's name (as orchard_fruits_dev_job): the dashboard groups by it.
        podTargetLabels: [JOB_LABEL],
        podMetricsEndpoints: [
          { port: SPARK_UI_PORT_NAME, path: DRIVER_METRICS_PATH, interval: '30s' },
          { port: SPARK_UI_PORT_NAME, path: EXECUTOR_METRICS_PATH, interval: '30s' },
        ],
      },
    });
  }
}
