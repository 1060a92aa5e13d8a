/**
 * `npm run import`: regenerates cdk8s/imports/ from the pinned third-party CRDs. The CRD files are
 * read through readThirdPartyCrd, so the types come from exactly the bytes the tests install
 * (../shared/crds or upstream at the pinned tag, checked by sha256); `cdk8s import` itself never
 * touches the network for CRD files.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { readThirdPartyCrd, THIRD_PARTY_CRDS } from '../src/api/third-party-crds.ts';
import { REPO_ROOT } from '../src/paths.ts';
import { renderSparkApplicationStatus, STATUS_IMPORT } from './status-import.ts';

/**
 * One module per API group, named as `cdk8s import` names it. Only the kinds orchard renders: the
 * other CRDs of these groups (AppProject) would add thousands of lines of types nobody uses.
 */
const MODULES: Readonly<Record<string, readonly string[]>> = {
  'sparkoperator.k8s.io': ['sparkoperator.k8s.io_sparkapplications.yaml', 'sparkoperator.k8s.io_scheduledsparkapplications.yaml'],
  'monitoring.coreos.com': ['monitoring.coreos.com_podmonitors.yaml', 'monitoring.coreos.com_servicemonitors.yaml', 'monitoring.coreos.com_prometheusrules.yaml'],
  'argoproj.io': ['argoproj.io_applications.yaml'],
};

const run = promisify(execFile);
const cdk8sDir = join(REPO_ROOT, 'cdk8s');
const work = await mkdtemp(join(tmpdir(), 'orchard-cdk8s-import-'));
try {
  for (const [module, files] of Object.entries(MODULES)) {
    const texts: string[] = [];
    for (const file of files) {
      const pin = THIRD_PARTY_CRDS.find((crd) => crd.file === file);
      if (!pin) throw new Error(`${file} is not pinned in src/api/third-party-crds.ts`);
      texts.push((await readThirdPartyCrd(pin)).toString('utf8'));
    }
    const combined = join(work, `${module}.yaml`);
    await writeFile(combined, texts.join('\n---\n'));
    await run(join(REPO_ROOT, 'node_modules', '.bin', 'cdk8s'), ['import', combined, '--language', 'typescript', '--output', 'imports', '--no-save', '--no-check-upgrade'], { cwd: cdk8sDir });
    process.stdout.write(`cdk8s/imports/${module}.ts from ${files.join(', ')}\n`);
  }
  await mkdir(dirname(join(REPO_ROOT, STATUS_IMPORT)), { recursive: true });
  await writeFile(join(REPO_ROOT, STATUS_IMPORT), await renderSparkApplicationStatus());
  process.stdout.write(`${STATUS_IMPORT} from sparkoperator.k8s.io_sparkapplications.yaml (status)\n`);
} finally {
  await rm(work, { recursive: true, force: true });
}
