import { Duration, Size } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { thirdPartyCrdManifests } from '../../../src/api/third-party-crds.ts';
import { driverPodName, imageEnv, refusalMessage, reviewSpec, SPEC_FIELDS, translate, type FieldTable, type LocalImage, type SparkApplicationSpecView } from '../../../src/dev/runner/translate.ts';
import { SPARK_VERSION, sparkApplicationFor, type FeaturizeProps } from '../../../src/spark/application.ts';
import { sparkSubmitArgv } from '../../../src/spark/submit.ts';
import { FEATURIZE_PROPS } from '../../support/featurize-props.ts';


const IMAGE: LocalImage = {
  jobDir: '/repo/spark-images',
  models: { fp32: '/cache/models/resnet50-random-seed1.onnx', int8: '/cache/models/int8-k/resnet50-int8-qdq.onnx' },
  jarsDir: '/cache/jars',
  jars: ['/cache/jars/hadoop-aws-3.3.4.jar', '/cache/jars/aws-java-sdk-bundle-1.12.262.jar'],
  venv: '/cache/venv',
  sparkVersion: SPARK_VERSION,
};

type Spec = Record<string, any>;

function app(props: Partial<FeaturizeProps> = {}): SparkApplicationSpecView & { spec: Spec } {
  return sparkApplicationFor({ ...FEATURIZE_PROPS, ...props }) as unknown as SparkApplicationSpecView & { spec: Spec };
}

/** The manifest with its spec changed by `edit`, as a user would edit the YAML. */
function edited(edit: (spec: Spec) => void, from = app()): SparkApplicationSpecView {
  const manifest = structuredClone(from);
  edit(manifest.spec);
  return manifest;
}

/** --conf pairs of an argv, as a map. */
function confOf(argv: readonly string[]): Record<string, string> {
  const conf: Record<string, string> = {};
  argv.forEach((arg, i) => {
    if (arg === '--conf') {
      const [key, value] = argv[i + 1]!.split(/=(.*)/s) as [string, string];
      conf[key] = value;
    }
  });
  return conf;
}

describe('dev runner: a SparkApplication as one local spark-submit', () => {
  it('runs the job of spark-images/ with the local model, the same arguments, Spark and Hadoop settings, and the S3A jars', () => {
    const manifest = app();
    const argv = sparkSubmitArgv(translate(manifest, IMAGE, 8).submission!);
    expect(argv.slice(0, 8)).toEqual(['--master', 'local[4]', '--name', 'featurize-test', '--driver-memory', '2g', '--jars', '/cache/jars/hadoop-aws-3.3.4.jar,/cache/jars/aws-java-sdk-bundle-1.12.262.jar']);
    const main = argv.indexOf('/repo/spark-images/featurize.py');
    expect(argv.slice(main)).toEqual([
      '/repo/spark-images/featurize.py',
      '--input', 's3a://fruits/fruits-360/Training',
      '--output', 's3a://fruits/features/run-1',
      '--model', '/cache/models/int8-k/resnet50-int8-qdq.onnx',
      '--image-size', '224',
      '--pca-components', '50',
      '--batch-size', '64',
    ]);
    const fp32 = sparkSubmitArgv(translate(app({ precision: 'fp32' }), IMAGE, 8).submission!);
    expect(fp32[fp32.indexOf('--model') + 1]).toBe('/cache/models/resnet50-random-seed1.onnx');
    expect(confOf(argv)).toEqual({
      ...manifest.spec.sparkConf,
      ...Object.fromEntries(Object.entries(manifest.spec.hadoopConf as Record<string, string>).map(([key, value]) => [`spark.hadoop.${key}`, value])),
    });
  });

  it('folds executor cores x instances into local[N], capped at the machine, and says so', () => {
    expect(translate(app(), IMAGE, 8)).toMatchObject({ submission: { cores: 4 } });
    expect(translate(app(), IMAGE, 8).coresCapped).toBeUndefined();
    expect(translate(app(), IMAGE, 2)).toMatchObject({ submission: { cores: 2 }, coresCapped: 'local[2]: the spec asks for 2 executors x 2 cores = 4 cores, this machine has 2' });
    expect(translate(app({ executor: { cores: 2, instances: 1 } }), IMAGE, 2)).toMatchObject({ submission: { cores: 2 } });
    const dynamic = app({ executor: { cores: 4, memory: Size.gibibytes(4), instances: { min: 1, max: 4 } } });
    expect(translate(dynamic, IMAGE, 2).coresCapped).toBe('local[2]: the spec asks for 4 executors x 4 cores = 16 cores, this machine has 2');
    expect(translate(edited((spec) => delete spec.dynamicAllocation.maxExecutors, dynamic), IMAGE, 2).coresCapped).toBe('local[2]: the spec asks for dynamic allocation without maxExecutors, this machine has 2');
    // Spark's defaults where the spec is silent: 2 executors of 1 core.
    expect(translate(edited((spec) => delete spec.executor.cores && delete spec.executor.instances), IMAGE, 8)).toMatchObject({ submission: { cores: 2 } });
  });

  it('accepts what only concerns pods and names each field, once', () => {
    const { notApplicable } = translate(app({ timeToLive: Duration.days(1) }), IMAGE, 2);
    expect(notApplicable.map((note) => note.field)).toEqual([
      'spec.driver.coreLimit',
      'spec.driver.cores',
      'spec.driver.labels',
      'spec.driver.memoryOverhead',
      'spec.driver.podSecurityContext',
      'spec.driver.securityContext',
      'spec.driver.serviceAccount',
      'spec.driver.volumeMounts',
      'spec.executor.coreLimit',
      'spec.executor.labels',
      'spec.executor.memory',
      'spec.executor.memoryOverhead',
      'spec.executor.podSecurityContext',
      'spec.executor.securityContext',
      'spec.executor.serviceAccount',
      'spec.executor.volumeMounts',
      'spec.image',
      'spec.imagePullPolicy',
      'spec.timeToLiveSeconds',
      'spec.volumes',
    ]);
    expect(notApplicable.find((note) => note.field === 'spec.timeToLiveSeconds')!.why).toBe('the dev runner never deletes SparkApplications: delete finished ones with kubectl');
  });

  it('honours driver.javaOptions and the driver pod name as the operator does', () => {
    const manifest = edited((spec) => {
      spec.driver.javaOptions = '-XX:+UseG1GC';
      spec.driver.podName = 'custom-driver';
    });
    expect(translate(manifest, IMAGE, 2).submission!.sparkConf['spark.driver.extraJavaOptions']).toBe('-XX:+UseG1GC');
    expect(driverPodName(manifest)).toBe('custom-driver');
    expect(driverPodName(app())).toBe('featurize-test-driver');
    expect(driverPodName(edited((spec) => (spec.sparkConf['spark.kubernetes.driver.pod.name'] = 'from-conf')))).toBe('from-conf');
  });

  it('sets the environment the image sets, with local paths', () => {
    expect(imageEnv(IMAGE)).toEqual({
      PYSPARK_PYTHON: '/cache/venv/bin/python',
      PYSPARK_DRIVER_PYTHON: '/cache/venv/bin/python',
      PYTHONPATH: '/repo/spark-images',
      ORCHARD_MODEL: '/cache/models/int8-k/resnet50-int8-qdq.onnx',
    });
  });
});

describe('dev runner: fields it refuses', () => {
  const refusal = (edit: (spec: Spec) => void) => {
    const translation = translate(edited(edit), IMAGE, 2);
    expect(translation.submission).toBeUndefined();
    return translation.refused.map((note) => `${note.field} ${note.why}`);
  };

  it.each([
    [(s: Spec) => (s.deps = { packages: ['org.apache.hadoop:hadoop-aws:3.3.4'] }), 'spec.deps.packages resolves Maven packages at submit time, which needs the network and changes the classpath the job runs with: bake the libraries into the image (spark-images/) instead'],
    [(s: Spec) => (s.deps = { pyFiles: ['s3a://fruits/lib.zip'] }), 'spec.deps.pyFiles adds code or files at submit time; the dev runner runs the job of spark-images/ with the jars of spark-images/setup.sh: bake the dependency into the image (spark-images/) instead'],
    [(s: Spec) => (s.type = 'Scala'), 'spec.type is "Scala"; the dev runner runs PySpark applications (the job of spark-images/) only'],
    [(s: Spec) => (s.mode = 'client'), 'spec.mode is "client": client mode runs the driver inside the operator\'s own spark-submit, where the Spark operator cannot follow it (it reports "driver pod not found"); use cluster'],
    [(s: Spec) => (s.pythonVersion = '2'), 'spec.pythonVersion is "2"; the job and the local venv are Python 3: set "3"'],
    [(s: Spec) => (s.sparkVersion = '3.4.1'), `spec.sparkVersion is "3.4.1" but the local PySpark is ${SPARK_VERSION} (spark-images/versions.env): the job would run on another Spark; set sparkVersion from spark-images/versions.env`],
    [(s: Spec) => (s.restartPolicy = { type: 'Always' }), 'spec.restartPolicy.type is "Always": the operator reruns the application even after it succeeds, forever; use OnFailure with onFailureRetries'],
    [(s: Spec) => delete s.restartPolicy.onFailureRetryInterval, 'spec.restartPolicy.onFailureRetries is set without onFailureRetryInterval: the operator cannot compute when to retry and leaves the application FAILING; set onFailureRetryInterval (seconds)'],
    [(s: Spec) => (s.sparkConfigMap = 'spark-conf'), 'spec.sparkConfigMap mounts Spark configuration files that the dev runner does not read: put the settings into sparkConf'],
    [(s: Spec) => (s.hadoopConfigMap = 'hadoop-conf'), 'spec.hadoopConfigMap mounts Hadoop configuration files that the dev runner does not read: put the settings into hadoopConf'],
    [(s: Spec) => (s.proxyUser = 'etl'), 'spec.proxyUser runs the job as another Hadoop user, which needs a secured cluster: remove it'],
    [(s: Spec) => (s.suspend = true), 'spec.suspend is true; the dev runner does not suspend or resume applications: create the SparkApplication when it should run'],
    [(s: Spec) => (s.mainApplicationFile = 's3a://fruits/jobs/featurize.py'), 'spec.mainApplicationFile is "s3a://fruits/jobs/featurize.py": the dev runner runs the job baked into the image, local:///opt/orchard/job/<file>, from spark-images/'],
    [(s: Spec) => s.arguments.push('--pca-model', '/opt/orchard/pca/model'), 'spec.arguments include "/opt/orchard/pca/model": no local equivalent (the dev runner maps /opt/orchard/job/, /opt/orchard/model/resnet50-int8.onnx, /opt/orchard/model/resnet50.onnx, /opt/orchard/jars/, /opt/orchard/venv/)'],
    [(s: Spec) => (s.driver.envVars = { ORCHARD_LIMIT: '10' }), 'spec.driver.envVars sets environment variables of the job, which the dev runner does not pass on: put the settings into arguments, sparkConf or hadoopConf'],
    [(s: Spec) => (s.executor.gpu = { name: 'nvidia.com/gpu', quantity: 1 }), 'spec.executor.gpu requests GPUs; the job runs ResNet50 on CPUs (ONNX Runtime) and a local run has no GPU to give: remove it'],
    [(s: Spec) => (s.executor.javaOptions = '-Xss4m'), 'spec.executor.javaOptions sets JVM options of the executors, which are threads of the driver JVM in local mode: move them to driver.javaOptions for a local run'],
    [(s: Spec) => (s.driver.initContainers = [{ name: 'fetch', image: 'busybox' }]), 'spec.driver.initContainers runs containers before the driver or executor that the job may depend on (downloads, setup); the dev runner runs only spark-submit: do that work in the image'],
    [(s: Spec) => (s.driverPriority = 'high'), 'spec.driverPriority is not a field the dev runner knows (a newer CRD?): it cannot tell what it would change, so it does not run the application; remove it or teach src/dev/runner/translate.ts'],
  ])('%#: %s', (edit, message) => {
    expect(refusal(edit)).toEqual([message]);
  });

  it('refuses volumes that may carry data, both where they are declared and where they are mounted', () => {
    expect(
      refusal((s) => {
        s.volumes.push({ name: 'images', hostPath: { path: '/data/fruits' } });
        s.executor.volumeMounts.push({ name: 'images', mountPath: '/data' });
      }),
    ).toEqual([
      'spec.executor.volumeMounts mounts "images", not an emptyDir of spec.volumes: the job may read data from it that the dev runner cannot provide; pass the data through S3',
      'spec.volumes has "images" (hostPath), not emptyDir: the job may read data from it that the dev runner cannot provide; pass the data through S3',
    ]);
  });

  it('names every refused field in one submission failure message', () => {
    const { refused } = translate(
      edited((s) => {
        s.deps = { packages: ['a:b:1'] };
        s.proxyUser = 'etl';
      }),
      IMAGE,
      2,
    );
    expect(refusalMessage(refused)).toBe(
      'the dev runner cannot run this SparkApplication locally as written:\n' +
        '- spec.deps.packages resolves Maven packages at submit time, which needs the network and changes the classpath the job runs with: bake the libraries into the image (spark-images/) instead\n' +
        '- spec.proxyUser runs the job as another Hadoop user, which needs a secured cluster: remove it',
    );
  });

  it('reads empty and false values as asking for nothing', () => {
    const manifest = edited((s) => {
      s.deps = { packages: [] };
      s.suspend = false;
      s.driver.env = [];
    });
    expect(reviewSpec(manifest.spec, IMAGE).refused).toEqual([]);
  });
});

describe('dev runner: the field table', () => {
  it('has an entry for every field of the SparkApplication CRD that `orchard dev up` installs, and none it lacks', async () => {
    const crd = (await thirdPartyCrdManifests()).find((m) => m.metadata.name === 'sparkapplications.sparkoperator.k8s.io') as unknown as {
      spec: { versions: { name: string; schema: { openAPIV3Schema: { properties: { spec: Schema } } } }[] };
    };
    type Schema = { properties?: Record<string, Schema> };
    const schema = crd.spec.versions.find((v) => v.name === 'v1beta2')!.schema.openAPIV3Schema.properties.spec;
    const differences: string[] = [];
    const compare = (table: FieldTable, node: Schema, path: string) => {
      const fields = Object.keys(node.properties ?? {});
      for (const field of fields) if (!(field in table)) differences.push(`${path}.${field} is in the CRD but not in SPEC_FIELDS`);
      for (const [field, entry] of Object.entries(table)) {
        if (!fields.includes(field)) differences.push(`${path}.${field} is in SPEC_FIELDS but not in the CRD`);
        else if (!('treatment' in entry)) compare(entry as FieldTable, node.properties![field]!, `${path}.${field}`);
      }
    };
    compare(SPEC_FIELDS, schema, 'spec');
    expect(differences).toEqual([]);
  });
});
