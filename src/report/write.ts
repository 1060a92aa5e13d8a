import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { OrchardError } from '../errors.ts';

/**
 * Writes a rendered report to `path`, creating its folders, and returns the absolute path and size.
 * The page goes to a temporary name first and is renamed into place, so a browser that reloads it
 * during a run never shows half a report.
 */
export async function writeReport(path: string, html: string): Promise<{ readonly path: string; readonly bytes: number }> {
  const target = resolve(path);
  const partial = `${target}.${process.pid}.partial`;
  try {
    await mkdir(dirname(target), { recursive: true });
    await writeFile(partial, html, 'utf8');
    await rename(partial, target);
  } catch (error) {
    throw new OrchardError(`could not write the report to ${target}: ${(error as Error).message}`, 'choose a folder this user can write to', { path: target }, { cause: error });
  }
  return { path: target, bytes: Buffer.byteLength(html, 'utf8') };
}
