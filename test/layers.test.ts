import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../src/paths.ts';

const run = promisify(execFile);
const CONFIG = join(REPO_ROOT, '.dependency-cruiser.cjs');
const DEPCRUISE = join(REPO_ROOT, 'node_modules', '.bin', 'depcruise');
const SOURCES = ['src', 'cdk8s', 'scripts', 'bin', 'test'];

interface Rule {
  readonly name: string;
  readonly from: { readonly path?: string };
}

interface Cruised {
  readonly modules: readonly { readonly source: string; readonly dependencies: readonly { readonly resolved: string }[] }[];
  readonly summary: { readonly violations: readonly { readonly rule: { readonly name: string }; readonly from: string; readonly to: string }[] };
}

async function cruise(cwd: string, sources: readonly string[]): Promise<Cruised> {
  // depcruise exits non-zero when it finds violations; the JSON on stdout is what is read either way.
  const result = await run(DEPCRUISE, [...sources, '--config', CONFIG, '--output-type', 'json'], { cwd, maxBuffer: 256 << 20 }).catch(
    (error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }),
  );
  return JSON.parse(result.stdout) as Cruised;
}

/** The layer rules of the one config, in order: each module belongs to the first whose `from` matches. */
function layerOf(): (path: string) => string | undefined {
  const rules = (createRequire(import.meta.url)(CONFIG) as { forbidden: Rule[] }).forbidden.filter((rule) => rule.name.startsWith('layer-'));
  return (path) => rules.find((rule) => new RegExp(rule.from.path!).test(path))?.name.slice('layer-'.length) ?? (path.startsWith('test/') ? 'test' : undefined);
}

describe('layers: imports point one way', () => {
  it('finds no cycle and no forbidden edge in the project, and prints the layer graph', async () => {
    const cruised = await cruise(REPO_ROOT, SOURCES);
    const violations = cruised.summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`);
    expect(violations, `move what both sides need into a lower layer (see .dependency-cruiser.cjs)`).toEqual([]);

    const layer = layerOf();
    const edges = new Map<string, number>();
    for (const module of cruised.modules) {
      const from = layer(module.source);
      for (const dependency of module.dependencies) {
        const to = layer(dependency.resolved);
        if (from && to && from !== to) edges.set(`${from} -> ${to}`, (edges.get(`${from} -> ${to}`) ?? 0) + 1);
      }
    }
    expect(edges.size).toBeGreaterThan(5);
    process.stdout.write(`layer graph (imports per edge):\n${[...edges].sort().map(([edge, n]) => `  ${edge.padEnd(26)} ${n}`).join('\n')}\n`);
  });

  it('fails on a planted edge: the controller importing the CLI, and a cycle', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'orchard-layers-'));
    const files: Record<string, string> = {
      'tsconfig.json': JSON.stringify({ compilerOptions: { module: 'nodenext', allowImportingTsExtensions: true, noEmit: true } }),
      'src/cli/main.ts': "export const main = 1;\n",
      'src/controller/reconcile.ts': "import { main } from '../cli/main.ts';\nexport const planted = main;\n",
      'src/kube/a.ts': "import { b } from './b.ts';\nexport const a = b;\n",
      'src/kube/b.ts': "import { a } from './a.ts';\nexport const b = () => a;\n",
    };
    for (const [path, text] of Object.entries(files)) {
      await mkdir(dirname(join(dir, path)), { recursive: true });
      await writeFile(join(dir, path), text);
    }
    const violations = (await cruise(dir, ['src'])).summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`);
    expect(violations).toContain('layer-controller: src/controller/reconcile.ts -> src/cli/main.ts');
    expect(violations.filter((v) => v.startsWith('no-circular:'))).not.toEqual([]);
  });
});
