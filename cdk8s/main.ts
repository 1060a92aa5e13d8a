/** `npm run synth -- --stage prod [--out dist]`: writes dist/<stage>/ with one YAML file per chart. */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { OrchardError } from '../src/errors.ts';
import { REPO_ROOT } from '../src/paths.ts';
import { writeStage } from './app.ts';
import { loadStage } from './stages.ts';

try {
  const { values } = parseArgs({ options: { stage: { type: 'string', default: 'prod' }, out: { type: 'string', default: join(REPO_ROOT, 'dist') } } });
  for (const file of await writeStage(loadStage(values.stage), resolve(values.out))) process.stdout.write(`${file}\n`);
} catch (error) {
  process.stderr.write(`${error instanceof OrchardError ? error.describe() : error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
