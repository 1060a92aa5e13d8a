/** `npm run build:controller`: dist/controller/controller.mjs, the artifact the controller image runs with plain `node`. */
import { buildControllerBundle, CONTROLLER_BUNDLE } from '../src/dev/controller-bundle.ts';

const bytes = await buildControllerBundle();
process.stderr.write(`built ${CONTROLLER_BUNDLE} (${(bytes / 2 ** 20).toFixed(1)} MiB; run it with: node ${CONTROLLER_BUNDLE} --help)\n`);
