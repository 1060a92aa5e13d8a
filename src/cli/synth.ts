import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { writeApplications, writeStage } from '../../cdk8s/app.ts';
import { ARGOCD_DIR } from '../../cdk8s/gitops.ts';
import { loadStage } from '../../cdk8s/stages.ts';
import { argocdCmPatchYaml } from '../argocd/health.ts';
import { REPO_ROOT } from '../paths.ts';
import { runCommand } from './exit.ts';

export function registerSynth(program: Command): void {
  program
    .command('synth')
    .description('write the manifests of a stage (CRDs, platform, feature-extraction jobs) into <out>/<stage>/, one YAML file per chart, and into <out>/argocd/ the Argo CD health check patch and, for a stage with a gitops section, its Applications')
    .option('--stage <name>', 'stage from cdk8s/stages.ts: dev (the local stack, from `orchard dev env`) or prod', 'prod')
    .option('--out <dir>', 'folder to write into', join(REPO_ROOT, 'dist'))
    .action((options: { stage: string; out: string }) =>
      runCommand(async () => {
        const stage = loadStage(options.stage);
        const out = resolve(options.out);
        for (const file of await writeStage(stage, out)) process.stdout.write(`${file}\n`);
        // Beside the stage, not in it: `kubectl apply -f dist/<stage>/` must not apply a partial
        // argocd-cm, which would drop keys; the patch goes in with `kubectl patch --patch-file`.
        const patch = join(out, ARGOCD_DIR, 'argocd-cm-patch.yaml');
        await mkdir(join(out, ARGOCD_DIR), { recursive: true });
        await writeFile(patch, await argocdCmPatchYaml());
        process.stdout.write(`${patch}\n`);
        const applications = await writeApplications(stage, out);
        if (applications) process.stdout.write(`${applications}\n`);
      }),
    );
}
