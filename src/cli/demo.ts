import { resolve } from 'node:path';
import type { Command } from 'commander';
import { runDemo } from '../demo/demo.ts';
import { defaultStateDir } from '../paths.ts';
import { EXIT, runCommand } from './exit.ts';
import { DEFAULTS, PRECISIONS } from '../spark/application.ts';
import { integerFlag } from './flags.ts';
import { precisionFlag } from './precision-flag.ts';

interface DemoFlags {
  readonly input?: string;
  readonly limit: string;
  readonly pcaComponents: string;
  readonly imageSize: string;
  readonly precision: string;
  readonly keepRunning?: boolean;
  readonly state: string;
  readonly timeout: string;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'the main job on one machine: a real Kubernetes node and the spark-operator, images to S3, the dev stage synthesized and applied, the job as driver and executor pods, the controller pod recording the output, a summary and an HTML report',
    )
    .option('--input <dir>', 'local folder of images laid out as <Class>/<image>.jpg (default: ../shared/data/fruits-360/Training, else generated images)')
    .option('--limit <n>', 'process only the first N images by path (0 = all)', '0')
    .option('--pca-components <k>', 'PCA components (0 = off)', '50')
    .option('--image-size <px>', 'model input size in pixels', '224')
    .option('--precision <p>', `model precision: ${PRECISIONS.join(' or ')}`, DEFAULTS.precision)
    .option('--keep-running', 'leave the local stack running afterwards')
    .option('--timeout <s>', 'give up when the job and its record take longer', '3600')
    .option('--state <dir>', 'folder of the local stack', defaultStateDir())
    .action((flags: DemoFlags) =>
      runCommand(async () => {
        const result = await runDemo({
          ...(flags.input ? { input: flags.input } : {}),
          limit: integerFlag('--limit', flags.limit, 0),
          pcaComponents: integerFlag('--pca-components', flags.pcaComponents, 0),
          imageSize: integerFlag('--image-size', flags.imageSize, 32),
          precision: precisionFlag(flags.precision),
          keepRunning: Boolean(flags.keepRunning),
          stateDir: resolve(flags.state),
          timeoutMs: integerFlag('--timeout', flags.timeout, 1) * 1000,
        });
        return result.outcome.outputs.every((o) => o.status?.phase === 'Recorded') ? EXIT.ok : EXIT.failed;
      }),
    );
}
