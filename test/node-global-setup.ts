import type { TestProject } from 'vitest/node';
import { machineState, type MachineState } from '../src/dev/node/machine.ts';
import { createLogger } from '../src/log.ts';
import { leaveSharedNode } from './support/node-stage.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The machine before any node of this run: the machine-state test compares the machine after the shared node's `down` with it. */
    machineBeforeNode: MachineState;
  }
}

/**
 * The node project's global setup. Nothing to start: the first file that needs the shared node
 * brings it up. A shared node left by an interrupted run goes first, so that the picture of the
 * machine holds no node; the shared node goes at the end, if a test has not taken it down.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const log = createLogger({ component: 'test-node' });
  await leaveSharedNode(log);
  project.provide('machineBeforeNode', machineState());
  return () => leaveSharedNode(log);
}
