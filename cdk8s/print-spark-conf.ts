/**
 * Prints the dev stage's SparkApplication conf as JSON ({"sparkConf": ..., "hadoopConf": ...}),
 * with the S3 endpoint and keys from the environment (`orchard dev env`). The PySpark tests build
 * their SparkSession from it (spark-images/tests/conftest.py), so the s3a:// runs they check use
 * the settings that are deployed.
 */
import { OrchardError } from '../src/errors.ts';
import { stageApp } from './app.ts';
import { loadStage } from './stages.ts';

try {
  const { spec } = stageApp(loadStage('dev')).featurize.job.application.toJson() as { spec: { sparkConf: Record<string, string>; hadoopConf: Record<string, string> } };
  process.stdout.write(`${JSON.stringify({ sparkConf: spec.sparkConf, hadoopConf: spec.hadoopConf }, null, 2)}\n`);
} catch (error) {
  process.stderr.write(`${error instanceof OrchardError ? error.describe() : String(error)}\n`);
  process.exitCode = 1;
}
