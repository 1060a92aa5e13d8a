import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { generatedImages } from '../demo/images.ts';
import { ensurePythonSetup, SPARK_IMAGES_DIR } from '../dev/python.ts';
import { cacheRoot, REPO_ROOT, SHARED_DIR } from '../paths.ts';
import { OrchardError } from '../errors.ts';
import { DEFAULTS, PRECISIONS } from '../spark/application.ts';
import { runIncrementalBench } from './bench-incremental.ts';
import { runNodeBench } from './bench-node.ts';
import { runScaleBench, scaleImageSets, SCALE_COUNTS } from './bench-scale.ts';
import { EXIT, runCommand, UsageError } from './exit.ts';
import { integerFlag } from './flags.ts';
import { precisionFlag } from './precision-flag.ts';

/** The cases of spark-images/orchard_bench, in the order it runs them. */
export const BENCH_CASES = ['ort', 'job', 'baseline', 'peak', 'settings'] as const;
/** What a plain `orchard bench` runs; `settings` (ONNX Runtime alternatives) only when asked for. */
export const DEFAULT_CASES = BENCH_CASES.slice(0, 4);
const FRUITS_TRAINING = join(SHARED_DIR, 'data', 'fruits-360', 'Training');
const DEFAULT_JSON = join(REPO_ROOT, '.orchard', 'bench', 'features.json');
const DEFAULT_SCALE_JSON = join(REPO_ROOT, '.orchard', 'bench', 'scale.json');
const DEFAULT_INCREMENTAL_JSON = join(REPO_ROOT, '.orchard', 'bench', 'incremental.json');

interface BenchFlags {
  readonly images: string;
  readonly runs: string;
  readonly cases: string;
  readonly sizes: string;
  readonly input?: string;
  readonly json: string;
  readonly scale?: string | true;
  readonly scaleSize: string;
  readonly precision: string;
  readonly node?: boolean;
  readonly incremental?: boolean;
}

/** `--scale 1000,10000,90380`: image counts of the scale mode, ascending, each at least one. */
export function scaleFlag(value: string | true): number[] {
  if (value === true) return [...SCALE_COUNTS];
  const counts = value.split(',').filter(Boolean).map((n) => integerFlag('--scale', n.trim(), 1));
  if (counts.length === 0) throw new UsageError(`--scale ${JSON.stringify(value)} lists no image counts`, `pass for example --scale ${SCALE_COUNTS.join(',')}`);
  return [...new Set(counts)].sort((a, b) => a - b);
}

/** `--cases ort,job`: a non-empty subset of BENCH_CASES. */
export function casesFlag(value: string): string[] {
  const cases = value.split(',').map((c) => c.trim()).filter(Boolean);
  const unknown = cases.filter((c) => !(BENCH_CASES as readonly string[]).includes(c));
  if (cases.length === 0 || unknown.length > 0) {
    throw new UsageError(`--cases ${JSON.stringify(value)}: ${unknown.length ? `unknown ${unknown.join(', ')}` : 'empty'}`, `pass a comma-separated subset of ${BENCH_CASES.join(',')}`);
  }
  return cases;
}

/** `--sizes 224,100`: model input sizes the job accepts (its --image-size range). */
export function sizesFlag(value: string, flag = '--sizes'): number[] {
  const sizes = value.split(',').filter(Boolean).map((s) => integerFlag(flag, s.trim(), 32));
  if (sizes.length === 0 || sizes.some((s) => s > 1024)) throw new UsageError(`${flag} ${JSON.stringify(value)} must list sizes within 32..1024`, `pass for example ${flag} 224`);
  return sizes;
}

function inputFlag(value: string): string {
  const dir = resolve(value);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`--input ${dir} is not a folder`, 'pass a folder of images laid out as <Class>/<image>.jpg');
  return dir;
}

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description(
      'images/s of the featurize job (fp32 and int8, per size) in Spark local mode, against ONNX Runtime alone, the P8 Keras baseline and the CPU fp32 FLOP limit; prints a table, writes JSON',
    )
    .option('--images <n>', 'images per run: the first N by path of --input', '1000')
    .option('--runs <r>', 'runs per case; every figure is their median, with the spread', '3')
    .option('--cases <list>', `comma-separated subset of ${BENCH_CASES.join(',')}`, DEFAULT_CASES.join(','))
    .option('--sizes <px>', 'model input sizes, comma-separated (the baseline is always 224, as P8 ran it)', '224,100')
    .option('--input <dir>', `images laid out as <Class>/<image>.jpg (default: ${FRUITS_TRAINING}, else generated images)`)
    .option('--json <file>', 'where to write the report (Spark and job logs go beside it, .log)', DEFAULT_JSON)
    .option('--scale [counts]', `scale mode instead of the cases: the job alone over each count of images made from the sample, read through s3a:// from a local S3 server (default ${SCALE_COUNTS.join(',')})`)
    .option('--incremental', 'instead of the cases: day 0 a full run of 10,000 scale-set images; day 1 adds 1,000, re-encodes 200 and deletes 100, then an incremental run against a full one over the same 10,900, through s3a:// from a local S3 server')
    .option('--scale-size <px>', 'model input size of the scale and incremental modes', String(DEFAULTS.imageSize))
    .option('--precision <p>', `model precision of the scale and incremental modes: ${PRECISIONS.join(' or ')}`, DEFAULTS.precision)
    .option('--node', 'with --scale: then run each count through the real spark-operator on the local node (root), and compare with local mode')
    .action((flags: BenchFlags) =>
      runCommand(async () => {
        if (flags.incremental) {
          if (flags.scale !== undefined || flags.node) throw new UsageError('--incremental is a mode of its own', 'run it without --scale and --node');
          const size = sizesFlag(flags.scaleSize, '--scale-size')[0]!;
          const precision = precisionFlag(flags.precision);
          if (!existsSync(FRUITS_TRAINING)) throw new OrchardError(`no Fruits-360 sample at ${FRUITS_TRAINING}`, 'the incremental mode makes its images from it: put the sample at ../shared/data/fruits-360 beside the repo');
          const json = flags.json === DEFAULT_JSON ? DEFAULT_INCREMENTAL_JSON : resolve(flags.json);
          return (await runIncrementalBench(await ensurePythonSetup(), { source: FRUITS_TRAINING, size, precision, json })) === 0 ? EXIT.ok : EXIT.failed;
        }
        if (flags.scale !== undefined) {
          const counts = scaleFlag(flags.scale);
          const size = sizesFlag(flags.scaleSize, '--scale-size')[0]!;
          const precision = precisionFlag(flags.precision);
          if (!existsSync(FRUITS_TRAINING)) throw new OrchardError(`no Fruits-360 sample at ${FRUITS_TRAINING}`, 'the scale mode makes its images from it: put the sample at ../shared/data/fruits-360 beside the repo');
          const python = await ensurePythonSetup();
          const json = flags.json === DEFAULT_JSON ? DEFAULT_SCALE_JSON : resolve(flags.json);
          if ((await runScaleBench(python, { counts, source: FRUITS_TRAINING, size, precision, json })) !== 0) return EXIT.failed;
          if (!flags.node) return EXIT.ok;
          const sets = await scaleImageSets(python, counts, FRUITS_TRAINING);
          for (const count of counts) {
            if ((await runNodeBench({ count, images: sets[String(count)]!, size, precision, localJson: json })) !== 0) return EXIT.failed;
          }
          return EXIT.ok;
        }
        if (flags.node) throw new UsageError('--node compares with the scale mode\'s local runs', 'pass --scale too, for example --scale 1000 --node');
        const images = integerFlag('--images', flags.images, 1);
        const runs = integerFlag('--runs', flags.runs, 1);
        const cases = casesFlag(flags.cases);
        const sizes = sizesFlag(flags.sizes);
        const given = flags.input === undefined ? undefined : inputFlag(flags.input);
        const python = await ensurePythonSetup();
        const real = existsSync(FRUITS_TRAINING);
        let input = given ?? FRUITS_TRAINING;
        if (!given && !real) {
          process.stderr.write(`no Fruits-360 sample at ${FRUITS_TRAINING}: generating ${images} images; int8 is then calibrated on generated images, and its cosine figures say little\n`);
          input = await generatedImages(python, { perClass: Math.ceil(images / 3), withBad: false });
        }
        const args = [
          '-m', 'orchard_bench',
          '--input', input,
          '--images', String(images),
          '--runs', String(runs),
          '--cases', cases.join(','),
          '--sizes', sizes.join(','),
          '--model', python.testModels.fp32,
          // int8 is calibrated on real photos whenever they are here, whatever --input is.
          '--calibration', real ? FRUITS_TRAINING : input,
          '--jars', python.jarsDir,
          '--json', resolve(flags.json),
        ];
        const code = await new Promise<number | null>((resolveRun, reject) => {
          // ORCHARD_CACHE: the int8 model is cached beside the fp32 one, under the same root as setup.sh's.
          const child = spawn(python.python, args, { cwd: SPARK_IMAGES_DIR, env: { ...process.env, ORCHARD_CACHE: cacheRoot() }, stdio: ['ignore', 'inherit', 'inherit'] });
          child.on('error', reject);
          child.on('close', resolveRun);
        });
        return code === 0 ? EXIT.ok : code === EXIT.usage ? EXIT.usage : EXIT.failed;
      }),
    );
}
