import { createLogger } from '../src/log.ts';
import { leaveSharedNode } from './support/node-stage.ts';

/**
 * The node project's global setup: nothing to start (the first file that needs the shared node
 * brings it up), its node to take down at the end, unless ORCHARD_KEEP_STACK asks to keep it.
 */
export default function setup(): () => Promise<void> {
  return async () => {
    if (!process.env.ORCHARD_KEEP_STACK) await leaveSharedNode(createLogger({ component: 'test-node' }));
  };
}
