/**
 * The SparkApplication of one feature-extraction run, built by one pure function that the cdk8s
 * construct, the controller and the CLI all use, so that the job's arguments, the manifest and the
 * label and annotation the controller reads are derived from the same values and cannot disagree.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Duration, Size, SizeRoundingBehavior } from 'cdk8s';
import {
  SparkApplication,
  SparkApplicationSpecMode,
  SparkApplicationSpecPythonVersion,
  SparkApplicationSpecRestartPolicyType,
  SparkApplicationSpecType,
  type SparkApplicationProps,
} from '../../cdk8s/imports/sparkoperator.k8s.io.ts';
import type { k8s } from 'cdk8s-plus-27';
import type { Manifest } from '../api/manifest.ts';
import { SPARK_CONTAINER } from '../api/spark-application.ts';
import { JOB_LABEL, OUTPUTS_ANNOTATION } from '../api/parquet-output.ts';
import { isDnsLabel } from '../api/names.ts';
import { runPlaceholderProblem } from '../api/run-output.ts';
import { OrchardError } from '../errors.ts';
import { parseS3Uri, type S3Location } from '../api/s3-uri.ts';
import { REPO_ROOT } from '../paths.ts';
import layout from '../../spark-images/orchard_featurize/image_layout.json' with { type: 'json' };
import { MAGIC_COMMITTER_SPARK_CONF, s3aHadoopConf, s3aRetryProblems, type S3aOptions, type S3aRetrySettings } from './s3a.ts';

/**
 * Where the job image holds the job and the models: spark-images/orchard_featurize/image_layout.json
 * is the one definition, read here, by the job, and as the Dockerfile's build arguments (build.sh).
 */
export const JOB_FILE = `local://${layout.IMAGE_JOB_DIR}/${layout.IMAGE_JOB_FILE}`;
/**
 * The model precisions the image bakes in. int8 (per-channel QDQ, calibrated on real Fruits-360
 * photos) is the default: about 1.8x fp32's images per core on the same CPU, and its image build
 * fails unless its features stay at cosine >= 0.99 to fp32's on held-out photos.
 */
export const PRECISIONS = ['int8', 'fp32'] as const;
export type Precision = (typeof PRECISIONS)[number];
export const MODEL_FILES: Readonly<Record<Precision, string>> = {
  fp32: `${layout.IMAGE_MODEL_DIR}/${layout.IMAGE_MODEL_FP32}`,
  int8: `${layout.IMAGE_MODEL_DIR}/${layout.IMAGE_MODEL_INT8}`,
};

/** The Spark version the image is built on: spark-images/versions.env is its one definition. */
export const SPARK_VERSION = (() => {
  const env = readFileSync(join(REPO_ROOT, 'spark-images', 'versions.env'), 'utf8');
  const version = /^SPARK_VERSION=(\S+)$/m.exec(env)?.[1];
  if (!version) throw new OrchardError('spark-images/versions.env has no SPARK_VERSION line', 'restore it: the image, the tests and the manifests all read it');
  return version;
})();

/**
 * Default Spark event log folder inside the output bucket. Spark refuses to start when it does not
 * exist, so the platform creates it once (`orchard dev up` does for the local bucket).
 */
export const EVENT_LOG_FOLDER = 'spark-events';

/** The EMR on EKS images run Spark as `hadoop`, uid 999; apache/spark images use 185. */
export const EMR_SPARK_UID = 999;

/** The driver's Spark UI port: Spark on Kubernetes names it `spark-ui` on the driver pod. */
export const SPARK_UI_PORT = 4040;
export const SPARK_UI_PORT_NAME = 'spark-ui';
/** PrometheusServlet paths (Spark's monitoring guide): driver and, with spark.ui.prometheus.enabled, every executor. */
export const DRIVER_METRICS_PATH = '/metrics/prometheus';
export const EXECUTOR_METRICS_PATH = '/metrics/executors/prometheus';
/** The prefix of the driver's metric names: `metrics_orchard_driver_...`. */
export const SPARK_METRICS_NAMESPACE = 'orchard';
/**
 * The job's own gauges on the driver (spark-images/orchard_featurize/live.py, the same names), served
 * as `metrics_orchard_driver_AccumulatorSource_<name>_Value`: images inferred, S3A's retries on the
 * driver, and the driver's probes of the S3 endpoint that got no answer.
 */
export const IMAGES_GAUGE = 'images_inferred';
export const S3A_RETRIES_GAUGE = 's3a_retries';
export const S3_PROBES_FAILED_GAUGE = 's3_probes_failed';

/**
 * Memory model of one executor pod, in MiB. Spark gives the JVM `memory` as heap and asks
 * Kubernetes for `memory + memoryOverhead`; the Python workers (one per core, reused across tasks
 * so each loads the model once) live entirely in the overhead because orchard leaves
 * spark.executor.pyspark.memory unset: an RLIMIT_AS cap breaks ONNX Runtime's arena allocator.
 */
export const SIZING = {
  /** Interpreter, pandas, pyarrow, ONNX Runtime, the ~100 MiB ResNet50 weights and ORT's pre-packed copy of them. */
  pythonWorkerBaseMiB: 384,
  /** ORT's activation arena per image at 224 px (fp32 ResNet50); scales with pixels. 64 x 10 + 384 = the ~1 GiB per worker measured at batch 64. */
  activationMiBPerImageAt224: 10,
  /** Spark's own minimum overhead: Netty buffers, thread stacks, metaspace. */
  jvmOverheadMiB: 384,
  /** Heap: Spark reserves 300 MiB and keeps a storage pool; 1 GiB is the floor for anything beyond a toy. */
  heapBaseMiB: 1024,
  /** Heap per concurrent task: an open Parquet writer buffers up to a row group (128 MiB) plus Arrow batches in flight. */
  heapPerCoreMiB: 512,
  /** The driver runs PySpark's driver process (no model) and fits PCA on a 2048 x 2048 covariance matrix. */
  driverPythonMiB: 512,
} as const;

/** The node executors land on, as allocatable capacity (what is left after kubelet, system reserve and daemon sets). */
export interface NodeCapacity {
  readonly cores: number;
  readonly memory: Size;
}

/** m5.2xlarge (8 vCPU, 32 GiB), EMR on EKS's usual executor node, less EKS's reserve and the daemon sets. */
export const DEFAULT_NODE: NodeCapacity = { cores: 7, memory: Size.gibibytes(27) };

/**
 * Cores a pod requests from the scheduler, below `cores` (which Spark still runs that many tasks
 * on, and which stays the pod's limit): lets a small node, such as a 2-core development machine,
 * hold the driver and several executors, whose tasks then share its CPUs. @default cores
 */
type CoreRequest = number;

export interface DriverSize {
  /** @default 1 */
  readonly cores?: number;
  readonly coreRequest?: CoreRequest;
  /** JVM heap. @default 2 GiB */
  readonly memory?: Size;
  /** @default the PySpark driver process plus the JVM's own overhead (896 MiB) */
  readonly memoryOverhead?: Size;
}

export interface ExecutorSize {
  /** Concurrent tasks, and Python workers, per executor. @default 2 */
  readonly cores?: number;
  readonly coreRequest?: CoreRequest;
  /** JVM heap. @default 4 GiB */
  readonly memory?: Size;
  /** @default one Python worker with the model per core plus the JVM's overhead (see SIZING) */
  readonly memoryOverhead?: Size;
  /** A fixed count, or bounds for dynamic allocation. @default 2 */
  readonly instances?: number | { readonly min: number; readonly max: number };
}

export interface FeaturizeProps {
  /** Name of the SparkApplication and value of the `orchard.fruits.dev/job` label; a DNS-1123 label. */
  readonly name: string;
  readonly namespace: string;
  /** Images laid out as <root>/<Class>/<image>, for example s3a://bucket/fruits-360/Training. */
  readonly input: string;
  /**
   * Output folder, replaced on every run: Parquet, `_SUCCESS`, `_orchard/`. A last segment `{run}`
   * (RUN_PLACEHOLDER) gives each run its own folder, named after its SparkApplication.
   */
  readonly output: string;
  /** The image from spark-images/, with a tag or digest. */
  readonly image: string;
  /** Accept a `latest` tag. Only a dev stage may: a mutable tag makes a rerun a different job. @default false */
  readonly allowLatestTag?: boolean;
  /** Service account of the driver and executors; on EKS it carries the IRSA role annotation. */
  readonly serviceAccount: string;
  readonly driver?: DriverSize;
  readonly executor?: ExecutorSize;
  /** Allocatable capacity of the nodes; executors must fit. @default DEFAULT_NODE */
  readonly node?: NodeCapacity;
  /** Pixels the images are resized to. @default 224 (ResNet50's training size) */
  readonly imageSize?: number;
  /** Which of the image's models runs: int8 (the default, see PRECISIONS) or fp32. @default 'int8' */
  readonly precision?: Precision;
  /** PCA output width; 0 keeps the 2048 ResNet50 features. @default 50 */
  readonly pcaComponents?: number;
  /** Images per Arrow batch and per model run. @default 64 */
  readonly batchSize?: number;
  /** First N images only; 0 = all. @default 0 */
  readonly limit?: number;
  /** Output Parquet files; 0 = one per 20k rows. @default 0 */
  readonly partitions?: number;
  /** A PCA model saved by an earlier run (<output>/_orchard/pca-model) to reuse instead of fitting. */
  readonly pcaModel?: string;
  /**
   * Measure the features with a linear probe: a ridge classifier of the class folders, fitted on
   * 80% of the images and scored on the rest, recorded as the ParquetOutput's featureQuality. It
   * costs a few passes over the cached features (about a tenth of a small run, less of a large one).
   * @default true
   */
  readonly probe?: boolean;
  /**
   * Featurize only images that are new or changed since the newest complete dataset of this job
   * (found by the job from S3), reusing that dataset's rows for the rest and its PCA model.
   * @default false for a one-shot job, true for a scheduled one (ScheduledFeaturizeProps)
   */
  readonly incremental?: boolean;
  /** Fit PCA anew instead of reusing the parent dataset's model in an incremental run. @default false */
  readonly refitPca?: boolean;
  /** Probe the full 2048 features too, beside the PCA ones: a 2049 x 2049 sum per task. @default false */
  readonly probeFullWidth?: boolean;
  /**
   * Quality gate: the probe's top-1 accuracy (a fraction) below which the controller records the
   * dataset Incomplete (reason QualityBelowThreshold), with an Event and an alert. It travels as a
   * job argument into metrics.json, beside the accuracy it judges. @default none (no gate)
   */
  readonly minProbeTop1?: number;
  /** S3 access; unset endpoint = AWS with IRSA credentials. @default AWS, no region pin */
  readonly s3?: Omit<S3aOptions, 'executorCores' | 'retries'>;
  /**
   * How long the job rides out a failing S3, over S3A_RETRIES field by field; docs/configuration.md
   * gives the bounds each choice makes. @default S3A_RETRIES (10 minutes of outage ridden out)
   */
  readonly s3Retries?: Partial<S3aRetrySettings>;
  /** @default SPARK_VERSION (spark-images/versions.env) */
  readonly sparkVersion?: string;
  /** Spark event log folder, read by the History Server. @default s3a://<output bucket>/spark-events (EVENT_LOG_FOLDER) */
  readonly eventLogDir?: string;
  /** uid the image runs Spark as. @default EMR_SPARK_UID */
  readonly runAsUser?: number;
  /** Retries after a failed run; the magic committer replaces the output atomically, so a rerun is safe. @default 2 */
  readonly retries?: number;
  /**
   * Delete the finished SparkApplication after this long. Its ParquetOutputs are owned by it and
   * go with it, so orchard keeps jobs by default: the job is the record's provenance.
   * @default none (kept until deleted)
   */
  readonly timeToLive?: Duration;
}

export interface ResolvedSizes {
  readonly driver: { readonly cores: number; readonly memoryMiB: number; readonly memoryOverheadMiB: number };
  readonly executor: { readonly cores: number; readonly memoryMiB: number; readonly memoryOverheadMiB: number; readonly pythonWorkerMiB: number };
}

export const DEFAULTS = {
  driver: { cores: 1, memory: Size.gibibytes(2) },
  executor: { cores: 2, memory: Size.gibibytes(4), instances: 2 },
  imageSize: 224,
  precision: 'int8',
  pcaComponents: 50,
  batchSize: 64,
  retries: 2,
  /** Spark's event log rolls so the History Server can read a long run before it ends. */
  eventLogRollSize: '128m',
} as const;

/** Spark's JVM memory syntax, in whole GiB when exact so that manifests read naturally. */
export function sparkMemory(mib: number): string {
  return mib % 1024 === 0 ? `${mib / 1024}g` : `${mib}m`;
}

function mebibytes(size: Size): number {
  return Math.ceil(size.toMebibytes({ rounding: SizeRoundingBehavior.NONE }));
}

/** Memory one Python worker needs to run the model on one batch. */
export function pythonWorkerMiB(batchSize: number, imageSize: number): number {
  const pixelsRatio = (imageSize / 224) ** 2;
  return SIZING.pythonWorkerBaseMiB + Math.ceil(batchSize * pixelsRatio * SIZING.activationMiBPerImageAt224);
}

/** Cores and memory of the driver and executors: the props where given, else what the job needs. */
export function resolveSizes(props: FeaturizeProps): ResolvedSizes {
  const executorCores = props.executor?.cores ?? DEFAULTS.executor.cores;
  const workerMiB = pythonWorkerMiB(props.batchSize ?? DEFAULTS.batchSize, props.imageSize ?? DEFAULTS.imageSize);
  return {
    driver: {
      cores: props.driver?.cores ?? DEFAULTS.driver.cores,
      memoryMiB: mebibytes(props.driver?.memory ?? DEFAULTS.driver.memory),
      memoryOverheadMiB: props.driver?.memoryOverhead ? mebibytes(props.driver.memoryOverhead) : SIZING.driverPythonMiB + SIZING.jvmOverheadMiB,
    },
    executor: {
      cores: executorCores,
      memoryMiB: mebibytes(props.executor?.memory ?? DEFAULTS.executor.memory),
      memoryOverheadMiB: props.executor?.memoryOverhead ? mebibytes(props.executor.memoryOverhead) : executorCores * workerMiB + SIZING.jvmOverheadMiB,
      pythonWorkerMiB: workerMiB,
    },
  };
}

/**
 * The folder an s3a:// prop names, or the problem with it: the one S3 URI parser (so the controller
 * accepts every output a job is built with), plus the job's own rule that it reads S3 through S3A.
 */
function s3aFolder(uri: string, what: string): S3Location | string {
  if (!uri.startsWith('s3a://')) {
    const rest = /^s3n?:\/\/(.*)$/i.exec(uri)?.[1];
    return rest === undefined
      ? `${what} "${uri}" is not an s3a:// URI: expected s3a://<bucket>/<prefix>`
      : `${what} "${uri}" is not an s3a:// URI: use s3a:// (the job reads S3 through S3A): s3a://${rest}`;
  }
  try {
    return parseS3Uri(uri, `${what} "${uri}"`);
  } catch (error) {
    if (!(error instanceof OrchardError)) throw error;
    return `${error.message}: ${error.hint}`;
  }
}

/** Spark names driver pods <name>-driver and services <name>-<hash>-driver-svc: room for the suffixes. */
export const APPLICATION_NAME_LIMIT = 40;

/** Strips trailing slashes, so the job's --output, the annotation and the ParquetOutput URI are one string. */
function normalizeUri(uri: string): string {
  return uri.replace(/\/+$/, '');
}

/** Every problem with the props, each saying which prop, what is wrong and how to fix it. */
export function featurizeProblems(props: FeaturizeProps): string[] {
  const problems: string[] = [];
  const where = `featurize job "${props.name}"`;
  if (!isDnsLabel(props.name) || props.name.length > APPLICATION_NAME_LIMIT) {
    problems.push(`${where}: name must be a DNS-1123 label of at most ${APPLICATION_NAME_LIMIT} characters (Spark appends "-driver" and service suffixes)`);
  }
  if (!isDnsLabel(props.namespace)) problems.push(`${where}: namespace "${props.namespace}" is not a DNS-1123 label`);

  const input = s3aFolder(props.input, 'input');
  const output = s3aFolder(props.output, 'output');
  for (const parsed of [input, output]) if (typeof parsed === 'string') problems.push(`${where}: ${parsed}`);
  if (typeof input !== 'string' && typeof output !== 'string') {
    // Prefixes end with "/", so a prefix test is a folder test.
    const inPath = `${input.bucket}/${input.prefix}`;
    const outPath = `${output.bucket}/${output.prefix}`;
    if (outPath.startsWith(inPath) || inPath.startsWith(outPath)) {
      problems.push(`${where}: output "${props.output}" overlaps input "${props.input}"; the output folder is replaced on every run: write outside the input`);
    }
  }
  const misplaced = runPlaceholderProblem(props.output, 'output');
  if (misplaced) problems.push(`${where}: ${misplaced}`);
  if (props.refitPca && (props.pcaModel !== undefined || props.pcaComponents === 0)) {
    problems.push(`${where}: refitPca fits a new PCA model of pcaComponents: set pcaComponents > 0 and drop pcaModel, or drop refitPca`);
  }
  for (const [prop, uri] of [['eventLogDir', props.eventLogDir], ['pcaModel', props.pcaModel]] as const) {
    const parsed = uri === undefined ? undefined : s3aFolder(uri, prop);
    if (typeof parsed === 'string') problems.push(`${where}: ${parsed}`);
  }

  const image = /^(?<repo>[^@\s]+?)(?::(?<tag>[\w][\w.-]{0,127}))?(?:@(?<digest>sha256:[a-f0-9]{64}))?$/.exec(props.image);
  const lastSegment = props.image.split('/').pop() ?? '';
  if (!image) problems.push(`${where}: image "${props.image}" is not an image reference: use <registry>/<repository>:<tag>`);
  else if (!image.groups?.digest && !lastSegment.includes(':')) problems.push(`${where}: image "${props.image}" has no tag: pin one, for example ${props.image}:0.1.0, so every run uses the same image`);
  else if (image.groups?.tag === 'latest' && !props.allowLatestTag) problems.push(`${where}: image "${props.image}" uses the mutable tag "latest": pin a version tag or digest (only a dev stage may set allowLatestTag)`);

  // Sizes are derived from cores, batch and image size: check them only once those are sane.
  let sizable = true;
  const positive = (prop: string, value: number | undefined) => {
    if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
      problems.push(`${where}: ${prop} must be a positive integer, got ${value}`);
      sizable = false;
    }
  };
  const nonNegative = (prop: string, value: number | undefined) => {
    if (value !== undefined && (!Number.isInteger(value) || value < 0)) problems.push(`${where}: ${prop} must be an integer >= 0, got ${value}`);
  };
  positive('driver.cores', props.driver?.cores);
  positive('executor.cores', props.executor?.cores);
  positive('batchSize', props.batchSize);
  nonNegative('limit', props.limit);
  nonNegative('partitions', props.partitions);
  nonNegative('retries', props.retries);
  for (const problem of s3aRetryProblems(props.s3Retries ?? {})) problems.push(`${where}: ${problem}`);
  if (props.imageSize !== undefined && (!Number.isInteger(props.imageSize) || props.imageSize < 32 || props.imageSize > 512)) {
    problems.push(`${where}: imageSize must be an integer from 32 to 512 pixels (ResNet50 is trained at 224), got ${props.imageSize}`);
    sizable = false;
  }
  if (props.precision !== undefined && !(PRECISIONS as readonly string[]).includes(props.precision)) {
    problems.push(`${where}: precision "${String(props.precision)}" is not one of ${PRECISIONS.join(', ')}: the image holds one model of each`);
  }
  if (props.pcaComponents !== undefined && (!Number.isInteger(props.pcaComponents) || props.pcaComponents < 0 || props.pcaComponents > 2048)) {
    problems.push(`${where}: pcaComponents must be an integer from 0 (no PCA) to 2048 (the ResNet50 feature width), got ${props.pcaComponents}`);
  }
  if (props.minProbeTop1 !== undefined && !(props.minProbeTop1 > 0 && props.minProbeTop1 <= 1)) {
    problems.push(`${where}: minProbeTop1 must be a fraction in (0, 1], for example 0.9 for 90% top-1 accuracy, got ${props.minProbeTop1}`);
  }
  if (props.probe === false && (props.minProbeTop1 !== undefined || props.probeFullWidth)) {
    problems.push(`${where}: minProbeTop1 and probeFullWidth need the probe: drop them or set probe to true`);
  }
  for (const [pod, size] of [['driver', props.driver], ['executor', props.executor]] as const) {
    const cores = size?.cores ?? DEFAULTS[pod].cores;
    if (size?.coreRequest !== undefined && !(size.coreRequest >= 0.001 && size.coreRequest <= cores)) {
      problems.push(`${where}: ${pod}.coreRequest ${size.coreRequest} must be from 0.001 to ${pod}.cores (${cores}): it is the share of the cores the pod asks the scheduler for`);
    }
  }
  const instances = props.executor?.instances;
  if (typeof instances === 'number') positive('executor.instances', instances);
  else if (instances && (!Number.isInteger(instances.min) || !Number.isInteger(instances.max) || instances.min < 0 || instances.max < 1 || instances.min > instances.max)) {
    problems.push(`${where}: executor.instances {min: ${instances.min}, max: ${instances.max}} must satisfy 0 <= min <= max and max >= 1`);
  }
  if (!sizable) return problems;

  const sizes = resolveSizes(props);
  const node = props.node ?? DEFAULT_NODE;
  const nodeMiB = mebibytes(node.memory);
  const { executor, driver } = sizes;
  const heapMin = SIZING.heapBaseMiB + executor.cores * SIZING.heapPerCoreMiB;
  if (executor.memoryMiB < heapMin) {
    problems.push(`${where}: executor memory "${sparkMemory(executor.memoryMiB)}" is too small a heap for ${executor.cores} concurrent tasks writing Parquet: set executor.memory >= ${sparkMemory(heapMin)}`);
  }
  const overheadMin = executor.cores * executor.pythonWorkerMiB + SIZING.jvmOverheadMiB;
  if (executor.memoryOverheadMiB < overheadMin) {
    problems.push(
      `${where}: executor memoryOverhead "${sparkMemory(executor.memoryOverheadMiB)}" cannot hold the model and ${executor.cores} Python workers ` +
        `(${executor.pythonWorkerMiB}m each at batch ${props.batchSize ?? DEFAULTS.batchSize}, ${props.imageSize ?? DEFAULTS.imageSize} px, plus ${SIZING.jvmOverheadMiB}m for the JVM): ` +
        `set executor.memoryOverhead >= ${sparkMemory(overheadMin)}, or lower batchSize`,
    );
  }
  if (executor.cores > node.cores) problems.push(`${where}: executor.cores ${executor.cores} exceeds the node's ${node.cores} allocatable cores: set executor.cores <= ${node.cores} or a larger node`);
  const podMiB = executor.memoryMiB + executor.memoryOverheadMiB;
  if (podMiB > nodeMiB) {
    problems.push(
      `${where}: an executor needs ${sparkMemory(podMiB)} (memory ${sparkMemory(executor.memoryMiB)} + overhead ${sparkMemory(executor.memoryOverheadMiB)}) but the node has ${sparkMemory(nodeMiB)} allocatable: ` +
        'lower executor.cores (fewer Python workers) or executor.memory, or set a larger node',
    );
  }
  if (driver.cores > node.cores || driver.memoryMiB + driver.memoryOverheadMiB > nodeMiB) {
    problems.push(`${where}: the driver (${driver.cores} cores, ${sparkMemory(driver.memoryMiB + driver.memoryOverheadMiB)}) does not fit the node (${node.cores} cores, ${sparkMemory(nodeMiB)}): make it smaller`);
  }
  return problems;
}

/** The recommended labels plus orchard's job label, on the SparkApplication and on its pods. */
export function featurizeLabels(props: FeaturizeProps): Record<string, string> {
  const tag = /:([\w][\w.-]{0,127})$/.exec(props.image.split('@')[0] ?? '')?.[1];
  return {
    'app.kubernetes.io/name': 'orchard-featurize',
    'app.kubernetes.io/instance': props.name,
    'app.kubernetes.io/component': 'feature-extraction',
    'app.kubernetes.io/part-of': 'orchard',
    'app.kubernetes.io/managed-by': 'orchard',
    ...(tag ? { 'app.kubernetes.io/version': tag } : {}),
    [JOB_LABEL]: props.name,
  };
}

/** The job's command line: the only place its flags are spelled. */
export function featurizeArguments(props: FeaturizeProps): string[] {
  return [
    '--input', normalizeUri(props.input),
    '--output', normalizeUri(props.output),
    '--model', MODEL_FILES[props.precision ?? DEFAULTS.precision],
    '--image-size', String(props.imageSize ?? DEFAULTS.imageSize),
    '--pca-components', String(props.pcaComponents ?? DEFAULTS.pcaComponents),
    '--batch-size', String(props.batchSize ?? DEFAULTS.batchSize),
    ...(props.limit ? ['--limit', String(props.limit)] : []),
    ...(props.partitions ? ['--partitions', String(props.partitions)] : []),
    ...(props.pcaModel ? ['--pca-model', normalizeUri(props.pcaModel)] : []),
    ...(props.incremental ? ['--incremental'] : []),
    ...(props.refitPca ? ['--refit-pca'] : []),
    ...(props.probe === false ? ['--no-probe'] : []),
    ...(props.probeFullWidth ? ['--probe-full'] : []),
    ...(props.minProbeTop1 !== undefined ? ['--probe-min-top1', String(props.minProbeTop1)] : []),
  ];
}

/** The output URIs the controller records: the same string the job gets as --output, `{run}` included. */
export function featurizeOutputs(props: FeaturizeProps): string[] {
  return [normalizeUri(props.output)];
}

/** Spark settings beyond S3A: committer, metrics for Prometheus, event log for the History Server. */
export function featurizeSparkConf(props: FeaturizeProps): Record<string, string> {
  const output = parseS3Uri(props.output);
  return {
    ...MAGIC_COMMITTER_SPARK_CONF,
    // Each Python worker loads the model once and keeps it: reuse is Spark's default, and the
    // memory model above depends on it, so it is pinned rather than assumed.
    'spark.python.worker.reuse': 'true',
    // Native PrometheusServlet instead of the operator's JMX exporter: no javaagent jar in the
    // image and no extra port; the driver serves its own and every executor's metrics on the UI port.
    'spark.ui.prometheus.enabled': 'true',
    'spark.metrics.conf.*.sink.prometheusServlet.class': 'org.apache.spark.metrics.sink.PrometheusServlet',
    'spark.metrics.conf.*.sink.prometheusServlet.path': DRIVER_METRICS_PATH,
    'spark.metrics.conf.driver.source.jvm.class': 'org.apache.spark.metrics.source.JvmSource',
    'spark.metrics.appStatusSource.enabled': 'true',
    // Metric names carry the app id by default, a new metric name per run. One fixed namespace
    // gives every job the same names, so the dashboard and the alerts name them once; the job is
    // told apart by the PodMonitor's target labels (namespace, pod, the orchard job label).
    'spark.metrics.namespace': SPARK_METRICS_NAMESPACE,
    // Python workers' RSS in the executor metrics: the number that tells whether memoryOverhead is right.
    'spark.executor.processTreeMetrics.enabled': 'true',
    'spark.eventLog.enabled': 'true',
    'spark.eventLog.dir': normalizeUri(props.eventLogDir ?? `s3a://${output.bucket}/${EVENT_LOG_FOLDER}`),
    'spark.eventLog.rolling.enabled': 'true',
    'spark.eventLog.rolling.maxFileSize': DEFAULTS.eventLogRollSize,
  };
}

/** The S3A settings, from src/spark/s3a.ts, sized for the executor's cores. */
export function featurizeHadoopConf(props: FeaturizeProps): Record<string, string> {
  return s3aHadoopConf({ ...props.s3, executorCores: resolveSizes(props).executor.cores, ...(props.s3Retries ? { retries: props.s3Retries } : {}) });
}

/** Scratch space for a read-only root filesystem: JVM, Python, ONNX Runtime and S3A's upload buffers write to /tmp. */
const SCRATCH = { name: 'tmp', mountPath: '/tmp' } as const;

function securityContext(): k8s.SecurityContext {
  return {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** A CPU quantity in millicores, as Kubernetes writes a fraction of a core. */
function millicores(cores: number): string {
  return `${Math.round(cores * 1000)}m`;
}

function sortedRecord(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * The SparkApplication's props, typed by the `cdk8s import`ed CRD; throws an OrchardError listing
 * every problem when the props are invalid.
 */
export function sparkApplicationProps(props: FeaturizeProps): SparkApplicationProps {
  const problems = featurizeProblems(props);
  if (problems.length > 0) {
    throw new OrchardError(problems.length === 1 ? problems[0]! : `${problems.length} problems:\n  - ${problems.join('\n  - ')}`, 'fix the props of the featurize job (cdk8s/stages.ts for a stage)');
  }
  const sizes = resolveSizes(props);
  const labels = featurizeLabels(props);
  const podSecurity: k8s.PodSecurityContext = {
    runAsNonRoot: true,
    runAsUser: props.runAsUser ?? EMR_SPARK_UID,
    seccompProfile: { type: 'RuntimeDefault' },
  };
  // Security contexts and the scratch volume go in the pod templates, which Spark itself applies.
  // Their spec-level fields need the operator's mutating webhook (v2.5.2 turns only volumes named
  // spark-local-dir-* into Spark conf), and EMR on EKS's operator chart leaves the webhook off.
  const template = (container: string): k8s.PodTemplateSpec => ({
    spec: {
      securityContext: podSecurity,
      volumes: [{ name: SCRATCH.name, emptyDir: {} }],
      containers: [
        {
          name: container,
          securityContext: securityContext(),
          volumeMounts: [SCRATCH],
          // A failed driver's last log lines become its termination message when the job wrote none.
          terminationMessagePolicy: 'FallbackToLogsOnError',
        },
      ],
    },
  });
  const pod = { labels, serviceAccount: props.serviceAccount };
  const instances = props.executor?.instances ?? DEFAULTS.executor.instances;
  const retries = props.retries ?? DEFAULTS.retries;
  return {
    metadata: {
      name: props.name,
      namespace: props.namespace,
      labels,
      annotations: { [OUTPUTS_ANNOTATION]: JSON.stringify(featurizeOutputs(props)) },
    },
    spec: {
      type: SparkApplicationSpecType.PYTHON,
      pythonVersion: SparkApplicationSpecPythonVersion.VALUE_3,
      mode: SparkApplicationSpecMode.CLUSTER,
      sparkVersion: props.sparkVersion ?? SPARK_VERSION,
      image: props.image,
      imagePullPolicy: 'IfNotPresent',
      mainApplicationFile: JOB_FILE,
      arguments: featurizeArguments(props),
      sparkConf: sortedRecord(featurizeSparkConf(props)),
      hadoopConf: sortedRecord(featurizeHadoopConf(props)),
      driver: {
        ...pod,
        template: template(SPARK_CONTAINER.driver),
        cores: sizes.driver.cores,
        coreLimit: String(sizes.driver.cores),
        ...(props.driver?.coreRequest !== undefined ? { coreRequest: millicores(props.driver.coreRequest) } : {}),
        memory: sparkMemory(sizes.driver.memoryMiB),
        memoryOverhead: sparkMemory(sizes.driver.memoryOverheadMiB),
      },
      executor: {
        ...pod,
        template: template(SPARK_CONTAINER.executor),
        cores: sizes.executor.cores,
        // ONNX Runtime runs one thread per task (spark.task.cpus), so a limit equal to the request
        // never throttles the job and keeps a noisy executor off its neighbours' cores.
        coreLimit: String(sizes.executor.cores),
        ...(props.executor?.coreRequest !== undefined ? { coreRequest: millicores(props.executor.coreRequest) } : {}),
        memory: sparkMemory(sizes.executor.memoryMiB),
        memoryOverhead: sparkMemory(sizes.executor.memoryOverheadMiB),
        ...(typeof instances === 'number' ? { instances } : {}),
      },
      ...(typeof instances === 'number'
        ? {}
        : {
            // No external shuffle service on Kubernetes: shuffle tracking keeps executors that hold shuffle data.
            dynamicAllocation: { enabled: true, initialExecutors: instances.min, minExecutors: instances.min, maxExecutors: instances.max, shuffleTrackingEnabled: true },
          }),
      restartPolicy: {
        type: retries > 0 ? SparkApplicationSpecRestartPolicyType.ON_FAILURE : SparkApplicationSpecRestartPolicyType.NEVER,
        ...(retries > 0 ? { onFailureRetries: retries, onFailureRetryInterval: 60 } : {}),
        // A submission fails on transient API or quota errors: retry those more eagerly than the job.
        onSubmissionFailureRetries: 3,
        onSubmissionFailureRetryInterval: 30,
      },
      ...(props.timeToLive ? { timeToLiveSeconds: props.timeToLive.toSeconds() } : {}),
    },
  };
}

/** The SparkApplication in wire format, as kubectl, the controller and the CLI see it. */
export function sparkApplicationFor(props: FeaturizeProps): Manifest {
  return SparkApplication.manifest(sparkApplicationProps(props)) as Manifest;
}
