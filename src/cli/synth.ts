import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { writeStage } from '../../cdk8s/app.ts';
import { loadStage } from '../../cdk8s/stages.ts';
import { REPO_ROOT } from '../paths.ts';
import { runCommand } from './exit.ts';

export function registerSynth(program: Command): void {
  program
    .command('synth')
    .description('write the manifests of a stage (CRDs, platform, feature-extraction jobs) into <out>/<stage>/, one YAML file per chart')
    .option('--stage <name>', 'stage from cdk8s/stages.ts: dev (the local stack, from `orchard dev env`) or prod', 'prod')
    .option('--out <dir>', 'folder to write into', join(REPO_ROOT, 'dist'))
    .action((options: { stage: string; out: string }) =>
      runCommand(async () => {
        for (const file of await writeStage(loadStage(options.stage), resolve(options.out))) process.stdout.write(`${file}\n`);
      }),
    );
}
