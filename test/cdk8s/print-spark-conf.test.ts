import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { stageApp } from '../../cdk8s/app.ts';
import { REPO_ROOT } from '../../src/paths.ts';
import { MAGIC_COMMITTER_SPARK_CONF } from '../../src/spark/s3a.ts';
import { DEV_ENV, testStage } from './stages.ts';

const run = promisify(execFile);

type Conf = { sparkConf: Record<string, string>; hadoopConf: Record<string, string> };

/** The conf the PySpark tests' SparkSession gets, computed by their own code (spark_conf.session_conf). */
async function pytestSessionConf(conf: Conf): Promise<Record<string, string>> {
  const file = join(await mkdtemp(join(tmpdir(), 'orchard-spark-conf-')), 'conf.json');
  await writeFile(file, JSON.stringify(conf));
  const script = 'import json, sys; from orchard_featurize import spark_conf; print(json.dumps(spark_conf.session_conf(json.load(open(sys.argv[1])))))';
  const { stdout } = await run('python3', ['-c', script, file], { cwd: join(REPO_ROOT, 'spark-images') });
  return JSON.parse(stdout) as Record<string, string>;
}

describe('what the s3a:// job tests use is what the dev stage deploys', () => {
  it('print-spark-conf.ts prints the dev SparkApplication\'s sparkConf and hadoopConf', async () => {
    const { stdout } = await run(join(REPO_ROOT, 'node_modules', '.bin', 'tsx'), [join(REPO_ROOT, 'cdk8s', 'print-spark-conf.ts')], { env: { ...process.env, ...DEV_ENV } });
    const { spec } = stageApp(testStage('dev')).featurize.job.application.toJson() as { spec: Conf };
    expect(JSON.parse(stdout)).toEqual({ sparkConf: spec.sparkConf, hadoopConf: spec.hadoopConf });
  });

  it('the test session applies every S3A and committer setting as deployed, leaving out only named cluster-only keys', async () => {
    const { spec } = stageApp(testStage('dev')).featurize.job.application.toJson() as { spec: Conf };
    const deployed = { ...spec.sparkConf, ...Object.fromEntries(Object.entries(spec.hadoopConf).map(([k, v]) => [`spark.hadoop.${k}`, v])) };
    const session = await pytestSessionConf({ sparkConf: spec.sparkConf, hadoopConf: spec.hadoopConf });

    for (const [key, value] of Object.entries(session)) expect(deployed[key], key).toBe(value);
    for (const key of [...Object.keys(spec.hadoopConf).map((k) => `spark.hadoop.${k}`), ...Object.keys(MAGIC_COMMITTER_SPARK_CONF)]) expect(session[key], key).toBe(deployed[key]);
    expect(session).toMatchObject({ 'spark.hadoop.fs.s3a.endpoint': DEV_ENV.ORCHARD_S3_ENDPOINT, 'spark.hadoop.fs.s3a.access.key': DEV_ENV.AWS_ACCESS_KEY_ID });
    const left = Object.keys(deployed).filter((key) => !(key in session)).sort();
    expect(left).toEqual([
      'spark.eventLog.dir',
      'spark.eventLog.enabled',
      'spark.eventLog.rolling.enabled',
      'spark.eventLog.rolling.maxFileSize',
      'spark.metrics.conf.*.sink.prometheusServlet.class',
      'spark.metrics.conf.*.sink.prometheusServlet.path',
      'spark.metrics.conf.driver.source.jvm.class',
      'spark.ui.prometheus.enabled',
    ]);
  });
});
