import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../src/paths.ts';

const exec = promisify(execFile);
const CLI = join(REPO_ROOT, 'bin', 'orchard.mjs');

/** Runs the `orchard` CLI as a user would, returning its exit code and output. */
export async function orchard(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec('node', [CLI, ...args], { env: { ...process.env, ORCHARD_LOG_FORMAT: 'json' } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}
