import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OrchardError } from '../errors.ts';
import { cacheRoot, REPO_ROOT } from '../paths.ts';
import type { Precision } from '../spark/application.ts';

/** What spark-images/setup.sh prepared: the venv with PySpark and the job's libraries, the S3A jars, the test models. */
export interface PythonSetup {
  readonly venv: string;
  readonly python: string;
  readonly jarsDir: string;
  /** The random-weights fp32 model, and its int8 quantization: stand-ins for the image's two models. */
  readonly testModels: Readonly<Record<Precision, string>>;
}

export const SPARK_IMAGES_DIR = join(REPO_ROOT, 'spark-images');

/** Where setup.sh writes the paths it prepared. */
export function setupEnvPath(): string {
  return join(cacheRoot(), 'setup.env');
}

/**
 * What setup.sh prepared last, without running it; undefined when it never ran here or a path it
 * wrote is gone (a cleared cache).
 */
export function findPythonSetup(): PythonSetup | undefined {
  if (!existsSync(setupEnvPath())) return undefined;
  const text = readFileSync(setupEnvPath(), 'utf8');
  const values = Object.fromEntries(text.split('\n').filter((line) => line.includes('=')).map((line) => line.split(/=(.*)/s).slice(0, 2)));
  const setup = { venv: values.ORCHARD_VENV!, python: values.ORCHARD_PYTHON_BIN!, jarsDir: values.ORCHARD_JARS_DIR!, testModels: { fp32: values.ORCHARD_TEST_MODEL!, int8: values.ORCHARD_TEST_MODEL_INT8! } };
  const paths = [setup.venv, setup.python, setup.jarsDir, setup.testModels.fp32, setup.testModels.int8];
  return paths.every((path) => path && existsSync(path)) ? setup : undefined;
}

/**
 * Runs the job's cached setup (venv, jars, random-weights model) and reads where it put things.
 * `adoptInt8` names an int8 model quantized elsewhere (the job image's): setup.sh copies it into its
 * cache when it records the same calibration key, instead of quantizing again.
 */
export async function ensurePythonSetup(options: { reference?: boolean; adoptInt8?: string } = {}): Promise<PythonSetup> {
  // setup.sh caches under ORCHARD_CACHE; point it at the same root as every other orchard cache.
  const env = {
    ...process.env,
    ORCHARD_CACHE: cacheRoot(),
    ...(options.reference === false ? { ORCHARD_SKIP_REFERENCE: '1' } : {}),
    ...(options.adoptInt8 ? { ORCHARD_INT8_ADOPT: options.adoptInt8 } : {}),
  };
  const code = await new Promise<number | null>((resolveRun, reject) => {
    const child = spawn('bash', [join(SPARK_IMAGES_DIR, 'setup.sh')], { env, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('close', resolveRun);
  });
  if (code !== 0) throw new OrchardError('spark-images/setup.sh failed', 'read its output above; a registry that did not answer is worth a second run');
  const setup = findPythonSetup();
  if (!setup) throw new OrchardError('spark-images/setup.sh succeeded but a path it wrote does not exist', 'read the file and the output above', { file: setupEnvPath() });
  return setup;
}
