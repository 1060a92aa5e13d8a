import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OrchardError } from '../../src/errors.ts';
import { freePort, isGone, isRunning, startDetached, stopProcess, waitUntilReady } from '../../src/dev/process.ts';

const SH = '/bin/sh';

async function logFile(): Promise<string> {
  return join(await mkdtemp(join(tmpdir(), 'orchard-proc-')), 'server.log');
}

describe('local server processes', () => {
  it('reports a server that exits before it is ready, with the end of its log and the fix', async () => {
    const log = await logFile();
    const started = startDetached(SH, ['-c', 'echo "listen tcp 127.0.0.1:1: bind: address already in use" >&2; exit 3'], log);
    const error = (await waitUntilReady(async () => false, { what: 'test server', timeoutMs: 10_000, log, pid: started.pid, executable: SH, hint: 'free the port' }).catch(
      (e: unknown) => e,
    )) as OrchardError;
    expect(error).toBeInstanceOf(OrchardError);
    expect(error.message).toBe('test server exited before it became ready');
    expect(error.describe()).toContain('address already in use');
    expect(error.describe()).toContain(`log: ${log}`);
    expect(error.describe()).toContain('fix: free the port');
  });

  it('times out on a server that runs but never answers, then stops its whole process group', async () => {
    const log = await logFile();
    const started = startDetached(SH, ['-c', 'sleep 60 & wait'], log);
    await expect(
      waitUntilReady(async () => false, { what: 'silent server', timeoutMs: 500, log, pid: started.pid, executable: SH, hint: 'read the log' }),
    ).rejects.toThrow('silent server did not become ready within 1 s');
    expect(isRunning(started.pid, SH)).toBe(true);
    expect(await stopProcess(started.pid)).toBe('stopped');
    expect(isGone(started.pid)).toBe(true);
    expect(await stopProcess(started.pid)).toBe('absent');
  });

  it('finds a free loopback port', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(1024);
  });
});
