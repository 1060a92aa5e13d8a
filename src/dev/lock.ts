import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.ts';

function alive(pid: number): boolean {
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs `work` while holding a lock folder that records the owner's pid. Tests and a developer's
 * CLI may both build binaries or start the same stack at once; a lock whose owner died is taken over.
 */
export async function withLock<T>(lock: string, log: Logger, work: () => Promise<T>): Promise<T> {
  await mkdir(dirname(lock), { recursive: true });
  let announced = false;
  for (;;) {
    try {
      await mkdir(lock);
      await writeFile(join(lock, 'pid'), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(await readFile(join(lock, 'pid'), 'utf8').catch(() => '0'));
      if (!alive(owner)) {
        // The owner may have created the folder but not yet written its pid: give it a moment.
        await sleep(200);
        const again = Number(await readFile(join(lock, 'pid'), 'utf8').catch(() => '0'));
        if (!alive(again)) await rm(lock, { recursive: true, force: true });
        continue;
      }
      if (!announced) log.info('waiting for another orchard process to finish', { lock, owner });
      announced = true;
      await sleep(500);
    }
  }
  try {
    return await work();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}
