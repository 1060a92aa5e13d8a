/**
 * A SparkApplication spec as one local-mode spark-submit. Every field of the spec, as the Spark
 * operator's CRD (v1beta2) defines it, has one entry in SPEC_FIELDS saying what the dev runner does
 * with it:
 *
 * - `honoured`: it shapes the local run as it shapes the run on a cluster;
 * - `not-applicable`: it only concerns pods (scheduling, isolation, identity, pod metadata) and
 *   means nothing for a process on this machine; accepted and logged once;
 * - `refused`: it would change what the job computes or how, and the dev runner cannot honour it;
 *   the application fails submission with a message naming the field, why, and what to do.
 *
 * A field missing from the table (a newer CRD) is refused: running a spec that asks for something
 * unknown would silently run a different job.
 */
import { posix } from 'node:path';
import layout from '../../../spark-images/orchard_featurize/image_layout.json' with { type: 'json' };
import { DEFAULTS, MODEL_FILES, PRECISIONS, type Precision } from '../../spark/application.ts';
import type { LocalSubmission } from '../../spark/submit.ts';

/** Where the files the image bakes in under /opt/orchard/ are on this machine (spark-images/setup.sh). */
export interface LocalImage {
  /** spark-images/: the Dockerfile copies featurize.py and orchard_featurize/ to /opt/orchard/job/. */
  readonly jobDir: string;
  /** Stand in for the image's models (MODEL_FILES): the random-weights model of the same architecture, and its int8 quantization. */
  readonly models: Readonly<Record<Precision, string>>;
  readonly jarsDir: string;
  /** The S3A jars, passed with --jars as the image has them on Spark's classpath. */
  readonly jars: readonly string[];
  readonly venv: string;
  /** The venv's PySpark version (spark-images/versions.env). */
  readonly sparkVersion: string;
}

/** The part of a SparkApplication the translation reads; the spec as the API server returns it. */
export interface SparkApplicationSpecView {
  readonly metadata: { readonly name: string };
  readonly spec: Readonly<Record<string, unknown>>;
}

export type Treatment = 'honoured' | 'not-applicable' | 'refused';

export interface FieldRule {
  readonly treatment: Treatment;
  /** How it is honoured, why it means nothing locally, or why it cannot run locally and what to do instead. */
  readonly why: string;
  /** For an honoured or not-applicable field, a value it cannot take: the reason it is refused. */
  readonly refuse?: (value: unknown, context: { readonly spec: Readonly<Record<string, unknown>>; readonly image: LocalImage }) => string | undefined;
}

export interface FieldTable {
  readonly [field: string]: FieldRule | FieldTable;
}

export interface FieldNote {
  /** Path in the object, e.g. `spec.deps.packages`. */
  readonly field: string;
  readonly why: string;
}

export interface Translation {
  readonly refused: readonly FieldNote[];
  readonly notApplicable: readonly FieldNote[];
  /** The spark-submit to run; absent when a field is refused. */
  readonly submission?: LocalSubmission;
  /** Set when local[N] is smaller than what the spec asks for. */
  readonly coresCapped?: string;
}

const honoured = (why: string, refuse?: FieldRule['refuse']): FieldRule => ({ treatment: 'honoured', why, ...(refuse ? { refuse } : {}) });
const notApplicable = (why: string, refuse?: FieldRule['refuse']): FieldRule => ({ treatment: 'not-applicable', why, ...(refuse ? { refuse } : {}) });
const refused = (why: string): FieldRule => ({ treatment: 'refused', why });

/** Image paths and where they are locally; a directory maps every path under it. */
const IMAGE_PATHS: readonly { readonly image: string; readonly local: (image: LocalImage) => string }[] = [
  { image: `${layout.IMAGE_JOB_DIR}/`, local: (image) => `${image.jobDir}/` },
  ...PRECISIONS.map((precision) => ({ image: MODEL_FILES[precision], local: (image: LocalImage) => image.models[precision] })),
  { image: `${layout.IMAGE_JARS_DIR}/`, local: (image) => `${image.jarsDir}/` },
  { image: `${layout.IMAGE_VENV}/`, local: (image) => `${image.venv}/` },
];
/** The folder that holds all of orchard's files in the image. */
const IMAGE_ROOT = `${posix.dirname(layout.IMAGE_JOB_DIR)}/`;

/** The local equivalent of a path in the image (plain or `local://`), undefined when there is none. */
export function localPath(path: string, image: LocalImage): string | undefined {
  const inImage = path.replace(/^local:\/\//, '');
  for (const mapping of IMAGE_PATHS) {
    if (mapping.image.endsWith('/') ? inImage.startsWith(mapping.image) : inImage === mapping.image) {
      return mapping.local(image) + inImage.slice(mapping.image.length);
    }
  }
  return undefined;
}

function isImagePath(value: string): boolean {
  return value.replace(/^local:\/\//, '').startsWith(IMAGE_ROOT);
}

const MAPPED = IMAGE_PATHS.map((m) => m.image).join(', ');

function volumesByName(spec: Readonly<Record<string, unknown>>): Map<string, Record<string, unknown>> {
  const volumes = Array.isArray(spec.volumes) ? (spec.volumes as Record<string, unknown>[]) : [];
  return new Map(volumes.map((volume) => [String(volume.name), volume]));
}

function volumeKind(volume: Record<string, unknown>): string {
  return Object.keys(volume).find((key) => key !== 'name') ?? 'volume without a source';
}

const POD_SCHEDULING = 'schedules the pod onto nodes; the local run is a process on this machine';
const POD_METADATA = 'metadata of the pod';
const POD_RESOURCES = 'container resources; local[N] and driver.memory size the local run';
const POD_NETWORK = "pod networking; the local run uses this machine's loopback";
const POD_ISOLATION = 'container isolation; the local run is a process of your user';
const POD_LIFETIME = 'pod lifecycle; the local run is one process';
const UI_EXPOSURE = 'exposes the Spark UI through a Service or Ingress; locally the UI is at status.driverInfo.webUIAddress';
const ENVIRONMENT = 'sets environment variables of the job, which the dev runner does not pass on: put the settings into arguments, sparkConf or hadoopConf';
const DEPENDENCIES = "adds code or files at submit time; the dev runner runs the job of spark-images/ with the jars of spark-images/setup.sh: bake the dependency into the image (spark-images/) instead";
const MAVEN = 'resolves Maven packages at submit time, which needs the network and changes the classpath the job runs with: bake the libraries into the image (spark-images/) instead';

/** Scratch volumes only: anything else may carry data the job reads, which the dev runner cannot provide. */
const EMPTY_DIR_MOUNTS: FieldRule['refuse'] = (value, { spec }) => {
  const volumes = volumesByName(spec);
  const bad = (value as { name: string }[]).filter((mount) => volumes.get(mount.name)?.emptyDir === undefined).map((mount) => `"${mount.name}"`);
  return bad.length > 0 ? `mounts ${bad.join(', ')}, not an emptyDir of spec.volumes: the job may read data from it that the dev runner cannot provide; pass the data through S3` : undefined;
};

/** Fields of the driver and the executor pods alike (the operator's SparkPodSpec). */
const POD_FIELDS: FieldTable = {
  affinity: notApplicable(POD_SCHEDULING),
  annotations: notApplicable(POD_METADATA),
  configMaps: refused('mounts ConfigMaps into the pod that the job may read; the dev runner cannot provide them: put the settings into sparkConf, hadoopConf or arguments'),
  coreLimit: notApplicable(POD_RESOURCES),
  coreRequest: notApplicable(POD_RESOURCES),
  dnsConfig: notApplicable(POD_NETWORK),
  env: refused(ENVIRONMENT),
  envFrom: refused(ENVIRONMENT),
  envSecretKeyRefs: refused(ENVIRONMENT),
  envVars: refused(ENVIRONMENT),
  gpu: refused('requests GPUs; the job runs ResNet50 on CPUs (ONNX Runtime) and a local run has no GPU to give: remove it'),
  hostAliases: notApplicable(POD_NETWORK),
  hostNetwork: notApplicable(POD_NETWORK),
  image: notApplicable('the local run uses spark-images/ and the venv of spark-images/setup.sh in place of the image'),
  initContainers: refused('runs containers before the driver or executor that the job may depend on (downloads, setup); the dev runner runs only spark-submit: do that work in the image'),
  labels: notApplicable(POD_METADATA),
  lifecycle: refused('runs hooks in the container that the dev runner cannot run: remove it'),
  memoryLimit: notApplicable(POD_RESOURCES),
  memoryOverhead: notApplicable("non-heap memory of the pod; locally the JVM and the Python workers take what they need from this machine"),
  nodeSelector: notApplicable(POD_SCHEDULING),
  podSecurityContext: notApplicable(POD_ISOLATION),
  ports: notApplicable('container ports; locally the Spark UI is at status.driverInfo.webUIAddress'),
  priorityClassName: notApplicable(POD_SCHEDULING),
  schedulerName: notApplicable(POD_SCHEDULING),
  secrets: refused('mounts Secrets into the pod that the job may read; the dev runner cannot provide them: pass S3 keys in hadoopConf for a local run'),
  securityContext: notApplicable(POD_ISOLATION),
  serviceAccount: notApplicable('pod identity (IRSA on EKS); the local run reads S3 with the keys in hadoopConf'),
  shareProcessNamespace: notApplicable(POD_ISOLATION),
  sidecars: refused('runs containers beside the driver or executor that the job may depend on; the dev runner runs only spark-submit: remove them'),
  template: refused('brings a pod template, which can add containers, environment and volumes that the dev runner cannot provide: use the SparkApplication fields instead'),
  terminationGracePeriodSeconds: notApplicable(POD_LIFETIME),
  tolerations: notApplicable(POD_SCHEDULING),
  volumeMounts: notApplicable("scratch space; the local run writes to this machine's /tmp", EMPTY_DIR_MOUNTS),
};

const EXECUTOR_PARALLELISM = "executor cores x instances become local[N] (tasks run as threads of the driver JVM), capped at this machine's cores";

/**
 * What the dev runner does with each field of spec, documented field by field; the test checks
 * that it covers every field of the CRD that `orchard dev up` installs.
 */
export const SPEC_FIELDS: FieldTable = {
  type: honoured('Python: the PySpark job', (value) => (value === 'Python' ? undefined : `is ${JSON.stringify(value)}; the dev runner runs PySpark applications (the job of spark-images/) only`)),
  sparkVersion: honoured('checked against the local PySpark', (value, { image }) =>
    minor(String(value)) === minor(image.sparkVersion) ? undefined : `is ${JSON.stringify(value)} but the local PySpark is ${image.sparkVersion} (spark-images/versions.env): the job would run on another Spark; set sparkVersion from spark-images/versions.env`,
  ),
  mode: honoured('cluster: the driver runs in the local spark-submit process', (value) =>
    value === 'cluster' ? undefined : `is ${JSON.stringify(value)}: client mode runs the driver inside the operator's own spark-submit, where the Spark operator cannot follow it (it reports "driver pod not found"); use cluster`,
  ),
  mainApplicationFile: honoured('local:///opt/orchard/job/... is read from spark-images/', (value) =>
    /^local:\/\//.test(String(value)) && localPath(String(value), NO_IMAGE) !== undefined
      ? undefined
      : `is ${JSON.stringify(value)}: the dev runner runs the job baked into the image, local:///opt/orchard/job/<file>, from spark-images/`,
  ),
  arguments: honoured('passed to the job; /opt/orchard/... paths in the image become their local equivalents', (value) => {
    const unmapped = (value as string[]).filter((argument) => isImagePath(argument) && localPath(argument, NO_IMAGE) === undefined);
    return unmapped.length > 0 ? `include ${unmapped.map((a) => JSON.stringify(a)).join(', ')}: no local equivalent (the dev runner maps ${MAPPED})` : undefined;
  }),
  sparkConf: honoured('passed to spark-submit as --conf'),
  hadoopConf: honoured('passed to spark-submit as spark.hadoop.* settings'),
  driver: {
    ...POD_FIELDS,
    cores: notApplicable("the driver pod's CPU request; local[N] comes from the executors"),
    memory: honoured('becomes --driver-memory; tasks run in the driver JVM in local mode'),
    javaOptions: honoured('becomes spark.driver.extraJavaOptions'),
    podName: honoured('names status.driverInfo.podName'),
    kubernetesMaster: notApplicable('the API server the driver creates executor pods through; local mode creates none'),
    serviceAnnotations: notApplicable(POD_METADATA),
    serviceLabels: notApplicable(POD_METADATA),
  },
  executor: {
    ...POD_FIELDS,
    cores: honoured(EXECUTOR_PARALLELISM),
    instances: honoured(EXECUTOR_PARALLELISM),
    memory: notApplicable('executor heap; in local mode tasks run in the driver JVM, sized by driver.memory'),
    javaOptions: refused("sets JVM options of the executors, which are threads of the driver JVM in local mode: move them to driver.javaOptions for a local run"),
    deleteOnTermination: notApplicable('executor pods; local mode has none'),
  },
  dynamicAllocation: honoured("local mode has no executors to add or remove: maxExecutors x executor.cores becomes local[N], capped at this machine's cores"),
  restartPolicy: {
    type: honoured('Never and OnFailure, with PENDING_RERUN between attempts as the operator does', (value) =>
      value === 'Always' ? 'is "Always": the operator reruns the application even after it succeeds, forever; use OnFailure with onFailureRetries' : undefined,
    ),
    onFailureRetries: honoured('retries of a failed run', (_value, { spec }) =>
      (spec.restartPolicy as Record<string, unknown>).onFailureRetryInterval === undefined ? 'is set without onFailureRetryInterval: the operator cannot compute when to retry and leaves the application FAILING; set onFailureRetryInterval (seconds)' : undefined,
    ),
    onFailureRetryInterval: honoured('seconds, times the submission attempts, from the last submission to the retry (the operator\'s linear backoff)'),
    onSubmissionFailureRetries: honoured('retries of a failed submission (a refused spec is retried too, so a corrected spec runs)', (_value, { spec }) =>
      (spec.restartPolicy as Record<string, unknown>).onSubmissionFailureRetryInterval === undefined
        ? 'is set without onSubmissionFailureRetryInterval: the operator cannot compute when to retry and errors on every reconcile; set onSubmissionFailureRetryInterval (seconds)'
        : undefined,
    ),
    onSubmissionFailureRetryInterval: honoured('seconds, times the submission attempts, from the last submission to the retry'),
  },
  pythonVersion: honoured('3: the venv of spark-images/setup.sh', (value) => (value === '3' ? undefined : `is ${JSON.stringify(value)}; the job and the local venv are Python 3: set "3"`)),
  suspend: honoured('false: run', () => 'is true; the dev runner does not suspend or resume applications: create the SparkApplication when it should run'),
  mainClass: refused('names a JVM main class; the dev runner runs PySpark applications only: remove it'),
  proxyUser: refused('runs the job as another Hadoop user, which needs a secured cluster: remove it'),
  sparkConfigMap: refused('mounts Spark configuration files that the dev runner does not read: put the settings into sparkConf'),
  hadoopConfigMap: refused('mounts Hadoop configuration files that the dev runner does not read: put the settings into hadoopConf'),
  deps: {
    jars: refused(DEPENDENCIES),
    files: refused(DEPENDENCIES),
    pyFiles: refused(DEPENDENCIES),
    archives: refused(DEPENDENCIES),
    packages: refused(MAVEN),
    excludePackages: refused(MAVEN),
    repositories: refused(MAVEN),
  },
  volumes: notApplicable("scratch emptyDir volumes; the local run writes to this machine's /tmp", (value) => {
    const bad = (value as Record<string, unknown>[]).filter((volume) => volume.emptyDir === undefined).map((volume) => `"${String(volume.name)}" (${volumeKind(volume)})`);
    return bad.length > 0 ? `has ${bad.join(', ')}, not emptyDir: the job may read data from it that the dev runner cannot provide; pass the data through S3` : undefined;
  }),
  image: notApplicable('the local run uses spark-images/ and the venv of spark-images/setup.sh in place of the image'),
  imagePullPolicy: notApplicable('nothing is pulled locally'),
  imagePullSecrets: notApplicable('nothing is pulled locally'),
  nodeSelector: notApplicable(POD_SCHEDULING),
  memoryOverheadFactor: notApplicable(POD_RESOURCES),
  batchScheduler: notApplicable(POD_SCHEDULING),
  batchSchedulerOptions: notApplicable(POD_SCHEDULING),
  monitoring: notApplicable('the Prometheus JMX exporter in the pods; nothing scrapes a local driver, whose Spark UI (with PrometheusServlet when sparkConf enables it) is at status.driverInfo.webUIAddress'),
  sparkUIOptions: notApplicable(UI_EXPOSURE),
  driverIngressOptions: notApplicable(UI_EXPOSURE),
  timeToLiveSeconds: notApplicable('the dev runner never deletes SparkApplications: delete finished ones with kubectl'),
  failureRetries: notApplicable('the operator ignores it too; restartPolicy sets retries'),
  retryInterval: notApplicable('the operator ignores it too; restartPolicy sets retry intervals'),
};

/** Value checks of image paths need only the image's layout, not where it is locally. */
const NO_IMAGE: LocalImage = { jobDir: '', models: { fp32: '', int8: '' }, jarsDir: '', jars: [], venv: '', sparkVersion: '' };

function minor(version: string): string {
  return version.split('.').slice(0, 2).join('.');
}

function isRule(entry: FieldRule | FieldTable): entry is FieldRule {
  return typeof (entry as FieldRule).treatment === 'string';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Absent, empty and false values ask for nothing (the operator skips them the same way). */
function asksNothing(value: unknown): boolean {
  return value === undefined || value === null || value === false || (Array.isArray(value) && value.length === 0) || (isObject(value) && Object.keys(value).length === 0);
}

/** Sorts every set field of `spec` into the table's treatments. */
export function reviewSpec(spec: Readonly<Record<string, unknown>>, image: LocalImage): { refused: FieldNote[]; notApplicable: FieldNote[] } {
  const out = { refused: [] as FieldNote[], notApplicable: [] as FieldNote[] };
  const walk = (object: Readonly<Record<string, unknown>>, table: FieldTable, path: string) => {
    for (const [name, value] of Object.entries(object)) {
      if (asksNothing(value)) continue;
      const field = `${path}.${name}`;
      const entry = table[name];
      if (entry === undefined) {
        out.refused.push({ field, why: 'is not a field the dev runner knows (a newer CRD?): it cannot tell what it would change, so it does not run the application; remove it or teach src/dev/runner/translate.ts' });
      } else if (!isRule(entry)) {
        if (isObject(value)) walk(value, entry, field);
        else out.refused.push({ field, why: `is ${JSON.stringify(value)}, expected an object` });
      } else if (entry.treatment === 'refused') {
        out.refused.push({ field, why: entry.why });
      } else {
        const refusal = entry.refuse?.(value, { spec, image });
        if (refusal) out.refused.push({ field, why: refusal });
        else if (entry.treatment === 'not-applicable') out.notApplicable.push({ field, why: entry.why });
      }
    }
  };
  walk(spec, SPEC_FIELDS, 'spec');
  // The API server returns fields sorted, a manifest in any order: the messages must not depend on it.
  const byField = (a: FieldNote, b: FieldNote) => (a.field < b.field ? -1 : a.field > b.field ? 1 : 0);
  return { refused: out.refused.sort(byField), notApplicable: out.notApplicable.sort(byField) };
}

/** The submission failure message: every refused field, why, and what to do. */
export function refusalMessage(refused: readonly FieldNote[]): string {
  return `the dev runner cannot run this SparkApplication locally as written:\n${refused.map((note) => `- ${note.field} ${note.why}`).join('\n')}`;
}

/** The operator's driver pod name: spec.driver.podName, else spark.kubernetes.driver.pod.name, else <name>-driver. */
export function driverPodName(app: SparkApplicationSpecView): string {
  const driver = (app.spec.driver ?? {}) as { podName?: string };
  const conf = (app.spec.sparkConf ?? {}) as Record<string, string>;
  return driver.podName || conf['spark.kubernetes.driver.pod.name'] || `${app.metadata.name}-driver`;
}

function positive(value: unknown): number | undefined {
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** Spark's defaults where the spec is silent: 1 core per executor, 2 executors on Kubernetes, 1g driver heap. */
const SPARK_DEFAULTS = { executorCores: 1, executorInstances: 2, driverMemory: '1g' } as const;

/** local[N]: the cores the executors would have on a cluster, at most this machine's. */
function localCores(spec: Readonly<Record<string, unknown>>, machineCores: number): { cores: number; capped?: string } {
  const executor = (spec.executor ?? {}) as { cores?: number; instances?: number };
  const conf = (spec.sparkConf ?? {}) as Record<string, string>;
  const dynamic = (spec.dynamicAllocation ?? {}) as { enabled?: boolean; maxExecutors?: number };
  // The operator writes spec fields after sparkConf on the spark-submit line, so they win.
  const cores = positive(executor.cores) ?? positive(conf['spark.executor.cores']) ?? SPARK_DEFAULTS.executorCores;
  const instances = dynamic.enabled ? (positive(dynamic.maxExecutors) ?? Number.POSITIVE_INFINITY) : (positive(executor.instances) ?? positive(conf['spark.executor.instances']) ?? SPARK_DEFAULTS.executorInstances);
  const wanted = cores * instances;
  if (wanted <= machineCores) return { cores: wanted };
  const asked = Number.isFinite(wanted) ? `${instances} executors x ${cores} cores = ${wanted} cores` : 'dynamic allocation without maxExecutors';
  return { cores: machineCores, capped: `local[${machineCores}]: the spec asks for ${asked}, this machine has ${machineCores}` };
}

/** The spark-submit of one application, or the fields that stop it from running locally. */
export function translate(app: SparkApplicationSpecView, image: LocalImage, machineCores: number): Translation {
  const { refused: refusedFields, notApplicable: notApplicableFields } = reviewSpec(app.spec, image);
  if (refusedFields.length > 0) return { refused: refusedFields, notApplicable: notApplicableFields };
  const spec = app.spec;
  const driver = (spec.driver ?? {}) as { memory?: string; javaOptions?: string };
  const sparkConf = (spec.sparkConf ?? {}) as Record<string, string>;
  const { cores, capped } = localCores(spec, machineCores);
  const submission: LocalSubmission = {
    name: app.metadata.name,
    cores,
    driverMemory: driver.memory || sparkConf['spark.driver.memory'] || SPARK_DEFAULTS.driverMemory,
    mainApplicationFile: localPath(String(spec.mainApplicationFile), image)!,
    arguments: ((spec.arguments ?? []) as string[]).map((argument) => (isImagePath(argument) ? localPath(argument, image)! : argument)),
    sparkConf: { ...sparkConf, ...(driver.javaOptions ? { 'spark.driver.extraJavaOptions': driver.javaOptions } : {}) },
    hadoopConf: (spec.hadoopConf ?? {}) as Record<string, string>,
    jars: image.jars,
  };
  return { refused: [], notApplicable: notApplicableFields, submission, ...(capped ? { coresCapped: capped } : {}) };
}

/** The environment the image sets (spark-images/resnet50-cpu/Dockerfile), with local paths. */
export function imageEnv(image: LocalImage): Record<string, string> {
  const python = `${image.venv}/bin/python`;
  return { PYSPARK_PYTHON: python, PYSPARK_DRIVER_PYTHON: python, PYTHONPATH: image.jobDir, ORCHARD_MODEL: image.models[DEFAULTS.precision] };
}
