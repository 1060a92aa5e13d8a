import { Duration, Size, Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { FeaturizeJob } from '../../../cdk8s/constructs/featurize-job.ts';
import { JOB_LABEL, OUTPUTS_ANNOTATION } from '../../../src/api/parquet-output.ts';
import { MAGIC_COMMITTER_SPARK_CONF, s3aHadoopConf } from '../../../src/spark/s3a.ts';
import { featurizeProblems, SPARK_VERSION, sparkApplicationFor, type FeaturizeProps } from '../../../src/spark/application.ts';
import { FEATURIZE_PROPS } from '../../support/featurize-props.ts';


interface App {
  metadata: { labels: Record<string, string>; annotations: Record<string, string> };
  spec: Record<string, any>;
}

function app(props: Partial<FeaturizeProps> = {}): App {
  return sparkApplicationFor({ ...FEATURIZE_PROPS, ...props }) as unknown as App;
}

describe('sparkApplicationFor: defaults', () => {
  it('sizes a Fruits-360 run: 1-core driver, two 2-core executors, overhead for two Python workers with the model', () => {
    const { spec } = app();
    expect(spec.driver).toMatchObject({ cores: 1, coreLimit: '1', memory: '2g', memoryOverhead: '896m' });
    // 2 workers x (384 + 64 images x 10 MiB) + 384 for the JVM
    expect(spec.executor).toMatchObject({ cores: 2, coreLimit: '2', memory: '4g', memoryOverhead: '2432m', instances: 2 });
    expect(spec.dynamicAllocation).toBeUndefined();
    expect(spec.sparkVersion).toBe(SPARK_VERSION);
    expect(SPARK_VERSION).toBe('3.5.8');
  });

  it('runs the job baked into the image with the int8 ResNet50 at 224 px, PCA to 50, batches of 64', () => {
    expect(app().spec).toMatchObject({
      type: 'Python',
      mode: 'cluster',
      mainApplicationFile: 'local:///opt/orchard/job/featurize.py',
      arguments: ['--input', 's3a://fruits/fruits-360/Training', '--output', 's3a://fruits/features/run-1', '--model', '/opt/orchard/model/resnet50-int8.onnx', '--image-size', '224', '--pca-components', '50', '--batch-size', '64'],
    });
  });

  it('retries a failed run twice, and keeps the finished job (its records go with it) unless a TTL is set', () => {
    expect(app().spec.restartPolicy).toEqual({ type: 'OnFailure', onFailureRetries: 2, onFailureRetryInterval: 60, onSubmissionFailureRetries: 3, onSubmissionFailureRetryInterval: 30 });
    expect(app().spec.timeToLiveSeconds).toBeUndefined();
    expect(app({ timeToLive: Duration.days(3) }).spec.timeToLiveSeconds).toBe(259_200);
    expect(app({ retries: 0 }).spec.restartPolicy.type).toBe('Never');
  });

  it('runs driver and executors under the restricted profile with a writable /tmp only, from pod templates that need no webhook', () => {
    for (const [role, container] of [['driver', 'spark-kubernetes-driver'], ['executor', 'executor']] as const) {
      const pod = app().spec[role];
      // Spec-level security contexts are applied only by the operator's webhook: none are written.
      expect(pod.securityContext).toBeUndefined();
      expect(pod.podSecurityContext).toBeUndefined();
      expect(pod.volumeMounts).toBeUndefined();
      expect(pod.template).toEqual({
        spec: {
          securityContext: { runAsNonRoot: true, runAsUser: 999, seccompProfile: { type: 'RuntimeDefault' } },
          volumes: [{ name: 'tmp', emptyDir: {} }],
          containers: [
            {
              name: container,
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true, runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
              volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
              terminationMessagePolicy: 'FallbackToLogsOnError',
            },
          ],
        },
      });
      expect(pod.serviceAccount).toBe('orchard-spark');
    }
    expect(app().spec.volumes).toBeUndefined();
  });
});

describe('sparkApplicationFor: derived values', () => {
  it('writes the job label and the outputs annotation from the same value as --output', () => {
    const { metadata, spec } = app({ output: 's3a://fruits/features/run-7///' });
    const output = spec.arguments[spec.arguments.indexOf('--output') + 1];
    expect(output).toBe('s3a://fruits/features/run-7');
    expect(JSON.parse(metadata.annotations[OUTPUTS_ANNOTATION]!)).toEqual([output]);
    expect(metadata.labels[JOB_LABEL]).toBe('featurize-test');
    expect(spec.driver.labels[JOB_LABEL]).toBe('featurize-test');
    expect(metadata.labels['app.kubernetes.io/version']).toBe('0.1.0');
  });

  it('takes S3A settings from src/spark/s3a.ts, sized by executor cores: IRSA on AWS, no path style', () => {
    const { spec } = app({ executor: { cores: 4, memory: Size.gibibytes(4) }, s3: { region: 'eu-west-1' } });
    expect(spec.hadoopConf).toEqual(s3aHadoopConf({ executorCores: 4, region: 'eu-west-1' }));
    expect(spec.hadoopConf['fs.s3a.threads.max']).toBe('16');
    expect(spec.hadoopConf['fs.s3a.aws.credentials.provider']).toBe('com.amazonaws.auth.WebIdentityTokenCredentialsProvider');
    expect(spec.hadoopConf['fs.s3a.path.style.access']).toBeUndefined();
    expect(spec.sparkConf).toMatchObject(MAGIC_COMMITTER_SPARK_CONF);
  });

  it('uses path-style access and explicit keys only for a custom endpoint', () => {
    const { spec } = app({ s3: { endpoint: 'http://127.0.0.1:7070', staticCredentials: { accessKeyId: 'k', secretAccessKey: 's' } } });
    expect(spec.hadoopConf).toMatchObject({ 'fs.s3a.endpoint': 'http://127.0.0.1:7070', 'fs.s3a.path.style.access': 'true', 'fs.s3a.access.key': 'k' });
  });

  it('exposes Spark metrics through PrometheusServlet and logs events to S3 for the History Server', () => {
    expect(app().spec.sparkConf).toMatchObject({
      'spark.ui.prometheus.enabled': 'true',
      'spark.metrics.conf.*.sink.prometheusServlet.class': 'org.apache.spark.metrics.sink.PrometheusServlet',
      'spark.metrics.namespace': 'orchard',
      'spark.eventLog.enabled': 'true',
      'spark.eventLog.dir': 's3a://fruits/spark-events',
    });
    expect(app({ eventLogDir: 's3a://logs/spark/' }).spec.sparkConf['spark.eventLog.dir']).toBe('s3a://logs/spark');
  });

  it('grows memoryOverhead with cores, batch and image size', () => {
    expect(app({ executor: { cores: 4 } }).spec.executor.memoryOverhead).toBe('4480m');
    expect(app({ batchSize: 32 }).spec.executor.memoryOverhead).toBe('1792m');
    expect(app({ imageSize: 112, batchSize: 64 }).spec.executor.memoryOverhead).toBe('1472m');
  });

  it('switches to dynamic allocation with shuffle tracking for min/max instances', () => {
    const { spec } = app({ executor: { instances: { min: 1, max: 6 } } });
    expect(spec.dynamicAllocation).toEqual({ enabled: true, initialExecutors: 1, minExecutors: 1, maxExecutors: 6, shuffleTrackingEnabled: true });
    expect(spec.executor.instances).toBeUndefined();
  });

  it('runs the fp32 model when asked', () => {
    expect(app({ precision: 'fp32' }).spec.arguments.slice(4, 6)).toEqual(['--model', '/opt/orchard/model/resnet50.onnx']);
  });

  it('passes optional job arguments only when set', () => {
    expect(app({ limit: 100, partitions: 4, pcaModel: 's3a://fruits/features/run-0/_orchard/pca-model' }).spec.arguments.slice(-6)).toEqual(['--limit', '100', '--partitions', '4', '--pca-model', 's3a://fruits/features/run-0/_orchard/pca-model']);
  });

  it('probes by default, and passes turning it off, the full-width probe and the quality gate to the job', () => {
    expect(app().spec.arguments.filter((a: string) => a.includes('probe'))).toEqual([]);
    expect(app({ probe: false }).spec.arguments.slice(-1)).toEqual(['--no-probe']);
    expect(app({ probeFullWidth: true, minProbeTop1: 0.9 }).spec.arguments.slice(-3)).toEqual(['--probe-full', '--probe-min-top1', '0.9']);
  });
});

describe('sparkApplicationFor: validation', () => {
  const problem = (props: Partial<FeaturizeProps>) => featurizeProblems({ ...FEATURIZE_PROPS, ...props });
  const at = 'featurize job "featurize-test": ';

  it.each(([
    [{ input: 's3://fruits/in' }, `${at}input "s3://fruits/in" is not an s3a:// URI: use s3a:// (the job reads S3 through S3A): s3a://fruits/in`],
    [{ output: 'https://fruits/out' }, `${at}output "https://fruits/out" is not an s3a:// URI: expected s3a://<bucket>/<prefix>`],
    [{ output: 's3a://fruits/' }, `${at}output "s3a://fruits/" names the whole bucket "fruits", not a dataset folder: write each dataset to its own folder in the bucket, e.g. s3a://fruits/features/run-1/`],
    [{ output: 's3a://fruits/features/../run-1' }, `${at}output "s3a://fruits/features/../run-1" has a "." or ".." segment, which S3 keeps literally but Hadoop resolves: write the folder path without them: s3a://<bucket>/features/run-1/`],
    [{ output: 's3a://fruits/features?run=1' }, `${at}output "s3a://fruits/features?run=1" has a query or fragment, which S3A would take as part of the key: write a plain folder URI: s3a://<bucket>/features/run-1/`],
    [{ pcaModel: 's3a://Fruits/pca' }, `${at}pcaModel "s3a://Fruits/pca" bucket "Fruits" is not a valid S3 bucket name: bucket names are 3-63 lowercase letters, digits, dots and hyphens: s3a://<bucket>/features/run-1/`],
    [{ output: 's3a://fruits/fruits-360/Training/out' }, `${at}output "s3a://fruits/fruits-360/Training/out" overlaps input "s3a://fruits/fruits-360/Training/"; the output folder is replaced on every run: write outside the input`],
    [{ image: 'orchard/resnet50-cpu' }, `${at}image "orchard/resnet50-cpu" has no tag: pin one, for example orchard/resnet50-cpu:0.1.0, so every run uses the same image`],
    [{ image: 'registry:5000/orchard/resnet50-cpu' }, `${at}image "registry:5000/orchard/resnet50-cpu" has no tag: pin one, for example registry:5000/orchard/resnet50-cpu:0.1.0, so every run uses the same image`],
    [{ image: 'orchard/resnet50-cpu:latest' }, `${at}image "orchard/resnet50-cpu:latest" uses the mutable tag "latest": pin a version tag or digest (only a dev stage may set allowLatestTag)`],
    [{ executor: { cores: 0 } }, `${at}executor.cores must be a positive integer, got 0`],
    [{ executor: { instances: { min: 3, max: 2 } } }, `${at}executor.instances {min: 3, max: 2} must satisfy 0 <= min <= max and max >= 1`],
    [{ imageSize: 1000 }, `${at}imageSize must be an integer from 32 to 512 pixels (ResNet50 is trained at 224), got 1000`],
    [{ precision: 'fp16' as never }, `${at}precision "fp16" is not one of int8, fp32: the image holds one model of each`],
    [{ pcaComponents: 4096 }, `${at}pcaComponents must be an integer from 0 (no PCA) to 2048 (the ResNet50 feature width), got 4096`],
    [{ minProbeTop1: 90 }, `${at}minProbeTop1 must be a fraction in (0, 1], for example 0.9 for 90% top-1 accuracy, got 90`],
    [{ probe: false, minProbeTop1: 0.9 }, `${at}minProbeTop1 and probeFullWidth need the probe: drop them or set probe to true`],
    [{ executor: { cores: 4, memory: Size.gibibytes(2) } }, `${at}executor memory "2g" is too small a heap for 4 concurrent tasks writing Parquet: set executor.memory >= 3g`],
    [
      { executor: { cores: 4, memoryOverhead: Size.gibibytes(3) } },
      `${at}executor memoryOverhead "3g" cannot hold the model and 4 Python workers (1024m each at batch 64, 224 px, plus 384m for the JVM): set executor.memoryOverhead >= 4480m, or lower batchSize`,
    ],
    [{ executor: { cores: 8, memory: Size.gibibytes(8) } }, `${at}executor.cores 8 exceeds the node's 7 allocatable cores: set executor.cores <= 7 or a larger node`],
    [
      { executor: { cores: 2, memory: Size.gibibytes(6) }, node: { cores: 4, memory: Size.gibibytes(8) } },
      `${at}an executor needs 8576m (memory 6g + overhead 2432m) but the node has 8g allocatable: lower executor.cores (fewer Python workers) or executor.memory, or set a larger node`,
    ],
    [{ name: 'Featurize_Test' }, 'featurize job "Featurize_Test": name must be a DNS-1123 label of at most 40 characters (Spark appends "-driver" and service suffixes)'],
  ] as [Partial<FeaturizeProps>, string][]).map(([props, message]) => [message, props] as const))('%s', (message, props) => {
    expect(problem(props as Partial<FeaturizeProps>)).toEqual([message]);
  });

  it('accepts latest only where allowed, and a digest without a tag', () => {
    expect(problem({ image: 'orchard/resnet50-cpu:latest', allowLatestTag: true })).toEqual([]);
    expect(problem({ image: `orchard/resnet50-cpu@sha256:${'a'.repeat(64)}` })).toEqual([]);
  });

  it('throws every problem at once, so one synth shows them all', () => {
    expect(() => sparkApplicationFor({ ...FEATURIZE_PROPS, input: 's3://x/y', image: 'orchard/resnet50-cpu' })).toThrow(/^2 problems:\n {2}- featurize job "featurize-test": input "s3:\/\/x\/y"/);
  });
});

describe('FeaturizeJob construct', () => {
  it('renders exactly the SparkApplication that the controller and the CLI build, plus a PodMonitor on its driver', () => {
    const chart = Testing.chart();
    new FeaturizeJob(chart, 'job', FEATURIZE_PROPS);
    const [application, podMonitor] = Testing.synth(chart) as [unknown, { kind: string; spec: Record<string, any> }];
    expect(application).toEqual(sparkApplicationFor(FEATURIZE_PROPS));
    expect(podMonitor.kind).toBe('PodMonitor');
    expect(podMonitor.spec.selector).toEqual({ matchLabels: { [JOB_LABEL]: 'featurize-test', 'spark-role': 'driver' } });
    expect(podMonitor.spec.podMetricsEndpoints.map((e: { path: string }) => e.path)).toEqual(['/metrics/prometheus', '/metrics/executors/prometheus']);
  });
});
