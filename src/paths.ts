import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: this file lives at src/paths.ts. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** `../shared` beside the clone: third-party CRDs and test data, read-only. */
export const SHARED_DIR = resolve(REPO_ROOT, '..', 'shared');

/**
 * Builds and downloads are cached here, keyed by version, so that a new clone on the same machine
 * (CI included) starts warm. XDG_CACHE_HOME is honoured as other tools do.
 */
export function cacheRoot(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'orchard');
}

/** Where `orchard dev` keeps the state of a running stack; tests use their own folder. */
export function defaultStateDir(): string {
  return process.env.ORCHARD_DEV_STATE ? resolve(process.env.ORCHARD_DEV_STATE) : join(REPO_ROOT, '.orchard', 'dev');
}
