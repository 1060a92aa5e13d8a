/**
 * `npm run setup`: installs every tool the local stack and the tests use (Go builds, Debian
 * packages, the job's venv, jars and models), each cached, and prints whether each cache was warm
 * or cold and how long each took. `npm test` runs it as its first stage; tests only find tools.
 */
import { setupTools } from '../src/dev/tools.ts';
import { OrchardError } from '../src/errors.ts';
import { createLogger } from '../src/log.ts';

const log = createLogger({ component: 'setup' });
process.stderr.write('cache state before setup:\n');
try {
  const results = await setupTools(log, (name, state) => process.stderr.write(`  ${name.padEnd(18)} ${state}\n`));
  process.stderr.write('\nsetup time line:\n  tool               cache  seconds  what\n');
  for (const r of results) process.stderr.write(`  ${r.name.padEnd(18)} ${r.state.padEnd(6)} ${r.seconds.toFixed(1).padStart(7)}  ${r.what}\n`);
} catch (error) {
  process.stderr.write(`setup failed: ${error instanceof OrchardError ? error.describe() : String(error)}\n`);
  process.exitCode = 1;
}
