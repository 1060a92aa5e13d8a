import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { chartYaml, stageApp } from '../../cdk8s/app.ts';
import type { Manifest } from '../../src/api/manifest.ts';
import { stack } from '../support/kube.ts';
import { STAGE_NAMES, testStage } from './stages.ts';

const run = promisify(execFile);

function kubectl(args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
  return run(stack().kubectl, ['--kubeconfig', stack().kubeconfig, ...args]);
}

describe.each(STAGE_NAMES)('stage %s against the dev stack\'s kube-apiserver', (name) => {
  it('has every synthesized object accepted by kubectl apply --dry-run=server, with no Pod Security warning', async () => {
    // A server dry run of objects in a namespace that does not exist fails with NotFound, so the
    // stage's namespace (fresh per run) is created for real, from the synthesized object itself.
    const namespace = `cdk8s-${name}-${Date.now().toString(36)}`;
    const charts = stageApp({ ...testStage(name), namespace }).files;
    const dir = await mkdtemp(join(tmpdir(), `orchard-cdk8s-${name}-`));
    const namespaces = charts.flatMap(({ chart }) => chart.toJson() as Manifest[]).filter((o) => o.kind === 'Namespace');
    expect(namespaces.map((o) => o.metadata.name)).toEqual([namespace]);
    await writeFile(join(dir, 'namespace.yaml'), stringify(namespaces[0]));
    await kubectl(['apply', '-f', join(dir, 'namespace.yaml')]);

    for (const { file, chart } of charts) {
      await writeFile(join(dir, file), chartYaml(chart));
      const { stdout, stderr } = await kubectl(['apply', '--dry-run=server', '-f', join(dir, file)]);
      const objects = (chart.toJson() as Manifest[]).length;
      expect(stdout.trim().split('\n'), file).toHaveLength(objects);
      for (const line of stdout.trim().split('\n')) expect(line, file).toMatch(/\((server dry run)\)$/);
      expect(stderr, file).not.toMatch(/PodSecurity/);
    }
  });
});
