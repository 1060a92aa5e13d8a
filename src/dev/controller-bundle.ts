import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';
import { REPO_ROOT } from '../paths.ts';

/** The controller as one artifact run by plain `node`: what the controller image holds. */
export const CONTROLLER_BUNDLE = join(REPO_ROOT, 'dist', 'controller', 'controller.mjs');

/**
 * The node flags the bundle runs with, here and in its image. A 1 MiB semi-space keeps V8's young
 * generation small: the controller allocates in bursts (a reconcile's reads and parses), and with
 * the default 16 MiB semi-spaces the garbage between scavenges held about 50 MiB of RSS. With 1,000
 * SparkApplications watched (npm run bench:controller): 192 MiB RSS by default, 141 MiB with this.
 */
export const CONTROLLER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

/**
 * Bundles `orchard controller` (src/cli/controller-main.ts) without tsx, cdk8s or the local stack.
 * Dynamic imports (the local stack behind --dev) become chunks beside it that a pod never loads.
 * Returns the entry's size in bytes.
 */
export async function buildControllerBundle(): Promise<number> {
  const outdir = join(CONTROLLER_BUNDLE, '..');
  await rm(outdir, { recursive: true, force: true });
  const result = await build({
    entryPoints: { controller: join(REPO_ROOT, 'src', 'cli', 'controller-main.ts') },
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outExtension: { '.js': '.mjs' },
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'warning',
    // The hashbang gives the bundle its node flags wherever it is run as a program: the controller
    // image's entrypoint is the bundle (images/controller/Dockerfile). Some bundled dependencies are
    // CommonJS and call require() for Node's own modules.
    banner: { js: `#!/usr/bin/env -S node ${CONTROLLER_NODE_FLAGS.join(' ')}\nimport { createRequire as __orchardRequire } from 'node:module'; const require = __orchardRequire(import.meta.url);` },
  });
  return Object.entries(result.metafile.outputs).find(([file]) => file.endsWith('controller.mjs'))![1].bytes;
}
