import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { requirePythonSetup } from '../../src/dev/tools.ts';
import { generatedImages } from '../../src/demo/images.ts';
import { orchard } from '../support/cli.ts';

describe('orchard demo (CLI)', () => {
  it('runs the whole path on its own stack: runner, controller, summary, kubectl view and report', async () => {
    const python = requirePythonSetup();
    const images = await generatedImages(python, { perClass: 6, withBad: true });
    const state = join(await mkdtemp(join(tmpdir(), 'orchard-demo-')), 'dev');
    const result = await orchard('demo', '--input', images, '--image-size', '64', '--pca-components', '2', '--state', state);
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toMatch(/ParquetOutput\s+featurize-[\d-]+-[0-9a-f]{10}: Recorded/);
    expect(result.stdout).toMatch(/\$ kubectl get parquetoutputs -n orchard\nNAME\s+URI\s+ROWS\s+FILES\s+SIZE\s+PHASE\s+AGE\n/);
    const decoded = Number(/images decoded\s+(\d+)/.exec(result.stdout)?.[1]);
    const rows = Number(/rows \(Parquet footers\)\s+(\d+)/.exec(result.stdout)?.[1]);
    expect(decoded).toBeGreaterThan(0);
    expect(rows).toBe(decoded);
    expect(Number(/images failed\s+(\d+)/.exec(result.stdout)?.[1])).toBeGreaterThan(0);
    const runDir = /run folder\s+(\S+)/.exec(result.stdout)![1]!;
    expect(readdirSync(runDir).sort()).toEqual(['controller.log', 'driver.log', 'manifests', 'report.html']);
    expect(readdirSync(join(runDir, 'manifests'))).toEqual(['00-crds.yaml', '10-platform.yaml', '20-featurize.yaml']);
    expect(readFileSync(join(runDir, 'report.html'), 'utf8')).toContain('data-plot="scatter"');
    // The stack was stopped and its state removed; the run folder stays.
    expect(existsSync(join(state, 'state.json'))).toBe(false);
  }, 600_000);
});
