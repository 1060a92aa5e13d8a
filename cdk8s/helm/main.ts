/** `npm run chart`: writes charts/orchard from the constructs, replacing the folder so no stale template survives. */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { REPO_ROOT } from '../../src/paths.ts';
import { CHART_DIR, chartFiles } from './chart.ts';

const dir = join(REPO_ROOT, CHART_DIR);
const files = chartFiles();
await rm(dir, { recursive: true, force: true });
for (const [file, text] of files) {
  await mkdir(dirname(join(dir, file)), { recursive: true });
  await writeFile(join(dir, file), text);
}
process.stdout.write(`wrote ${files.size} files to ${CHART_DIR}/\n`);
