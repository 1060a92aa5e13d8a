import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { StackState } from '../../src/dev/stack.ts';
import { readState } from '../../src/dev/stack.ts';
import { isGone } from '../../src/dev/process.ts';
import { orchard } from '../support/cli.ts';

const exec = promisify(execFile);

describe('orchard dev (CLI)', () => {
  // The control plane alone: the node has its own test (test/dev/node), and one node per machine.
  it('brings a second stack up, reuses it, exports a working environment, and takes it down by pid', async () => {
    const state = join(await mkdtemp(join(tmpdir(), 'orchard-cli-')), 'dev');

    const first = await orchard('dev', 'up', '--no-node', '--state', state);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^dev stack started in [\d.]+ s \(binaries/);
    const started = (await readState(state)) as StackState;

    const second = await orchard('dev', 'up', '--no-node', '--state', state);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/^dev stack reused the running stack/);
    expect(second.stdout).toContain('node           none (--no-node)');
    expect((await readState(state))?.processes).toEqual(started.processes);

    const status = await orchard('dev', 'status', '--state', state);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('healthy');
    // etcd, kube-apiserver, kube-controller-manager and the S3 server.
    expect(status.stdout.match(/ running /g)).toHaveLength(4);

    const env = await orchard('dev', 'env', '--state', state);
    expect(env.code).toBe(0);
    const { stdout: crds } = await exec('bash', ['-c', `${env.stdout}\nkubectl get crds -o name && kubectl version --client -o json`]);
    expect(crds).toContain('customresourcedefinition.apiextensions.k8s.io/parquetoutputs.orchard.fruits.dev');
    expect(crds).toContain('customresourcedefinition.apiextensions.k8s.io/sparkapplications.sparkoperator.k8s.io');
    expect(crds).toContain(`"gitVersion": "${started.versions.kubernetes}"`);

    const down = await orchard('dev', 'down', '--state', state);
    expect(down.code).toBe(0);
    expect(down.stdout).toContain('stopped kube-controller-manager, kube-apiserver, etcd, s3');
    for (const record of Object.values(started.processes)) expect(isGone(record.pid), `pid ${record.pid}`).toBe(true);

    const after = await orchard('dev', 'status', '--state', state);
    expect(after.code).toBe(3);
    const noEnv = await orchard('dev', 'env', '--state', state);
    expect(noEnv.code).toBe(3);
    expect(noEnv.stderr).toContain('fix: start one with `npx orchard dev up`');
  }, 180_000);

  it('exits 2 with usage on an unknown command', async () => {
    const result = await orchard('dev', 'frobnicate');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unknown command 'frobnicate'");
  });
});
