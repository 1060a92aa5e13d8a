/**
 * The controller on its own: `orchard controller` without the rest of the CLI. The controller image
 * bundles this file (npm run build:controller), so the pod loads neither cdk8s nor the local stack.
 */
import { Command } from 'commander';
import { registerController } from './controller.ts';

// Pinned SDK version that supports Node 20: its end-of-support warning says nothing about this install.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const program = new Command().name('orchard-controller').exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : 2));
registerController(program);
// The Deployment passes `controller` as the CLI's first argument; the bundle takes it or not.
const args = process.argv.slice(2);
await program.parseAsync([process.argv[0]!, process.argv[1]!, 'controller', ...(args[0] === 'controller' ? args.slice(1) : args)]);
