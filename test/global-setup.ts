import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { down, up, type StackState } from '../src/dev/stack.ts';
import { requireTool } from '../src/dev/tools.ts';
import { createLogger } from '../src/log.ts';
import { REPO_ROOT } from '../src/paths.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    stack: StackState;
  }
}

/**
 * One local stack per test run, started by the same code as `orchard dev up`, in its own state
 * folder so that tests never disturb a developer's stack. A stack that is already running there
 * (for example started by `npm test` before vitest) is reused and left running. Its binaries are
 * found, never built: a missing one fails the run at once, naming the setup command.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  requireTool('control plane');
  requireTool('s3 server');
  const stateDir = process.env.ORCHARD_TEST_STATE ?? join(REPO_ROOT, '.orchard', 'test');
  const log = createLogger({ component: 'test-stack' });
  const result = await up({ stateDir, log });
  log.info(result.reused ? 'reusing the test stack' : 'started the test stack', { timings: result.timings });
  project.provide('stack', result.state);
  return async () => {
    if (!result.reused && !process.env.ORCHARD_KEEP_STACK) await down({ stateDir, log });
  };
}
