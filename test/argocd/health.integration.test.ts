import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { API_VERSION, PHASES, PLURAL, type ParquetOutput } from '../../src/api/parquet-output.ts';
import { argocdCmPatch, argocdCmPatchYaml, HEALTH_CHECK_DIR, HEALTH_KEY, OPEN_LIBS_KEY } from '../../src/argocd/health.ts';
import { requireTool } from '../../src/dev/tools.ts';
import { kubeRequest, statusMessage } from '../../src/kube/raw.ts';
import { HealthCheckError, runHealthCheck, runHealthChecks, type HealthStatus } from '../support/argocd-lua.ts';
import { freshNamespace, kubeConfig } from '../support/kube.ts';
import { TESTDATA, testdataYaml } from './parquet-outputs.ts';

/** health_test.yaml, in Argo CD's format (util/lua/health_test.go reads the same fields). */
interface HealthTest {
  readonly healthStatus: { readonly status: string; readonly message?: string };
  readonly inputPath: string;
}

// Read while collecting, so that each case is a test of its own, named by its input as Argo CD names them.
const TESTS = (parse(readFileSync(join(HEALTH_CHECK_DIR, 'health_test.yaml'), 'utf8')) as { tests: HealthTest[] }).tests;
const HEALTH_CODES = ['Healthy', 'Progressing', 'Degraded', 'Suspended', 'Missing', 'Unknown'];

interface Shipped {
  readonly script: string;
  readonly openLibs: boolean;
}

async function input(path: string): Promise<ParquetOutput> {
  return parse(await readFile(join(HEALTH_CHECK_DIR, path), 'utf8')) as ParquetOutput;
}

let lua: string;
let shipped: Shipped;

beforeAll(async () => {
  lua = requireTool('lua');
  // What Argo CD gets is the ConfigMap, so the tests run the script and the library setting from it.
  const data = (await argocdCmPatch()).data as Record<string, string>;
  shipped = { script: data[HEALTH_KEY]!, openLibs: data[OPEN_LIBS_KEY] === 'true' };
});

const check = (obj: unknown, options: Partial<Shipped> = {}): Promise<HealthStatus> =>
  runHealthCheck(options.script ?? shipped.script, obj, { lua, openLibs: options.openLibs ?? shipped.openLibs });

describe('testdata', () => {
  for (const [file, object] of TESTDATA) {
    it(`${file} is what the controller writes`, async () => {
      await expect(testdataYaml(file, object)).toMatchFileSnapshot(join(HEALTH_CHECK_DIR, 'testdata', file));
    });
  }

  it('holds one file per case of health_test.yaml, and a case for every file', async () => {
    const files = (await readdir(join(HEALTH_CHECK_DIR, 'testdata'))).map((f) => `testdata/${f}`).sort();
    expect(TESTS.map((t) => t.inputPath).sort()).toEqual(files);
    expect([...TESTDATA.keys()].map((f) => `testdata/${f}`).sort()).toEqual(files);
  });

  it('covers every phase of the CRD and an object with no status yet, so a new phase needs a health mapping', async () => {
    // A stale status is judged by its generation, not its phase, so it shows no phase's mapping.
    const objects = await Promise.all(TESTS.map((t) => input(t.inputPath)));
    const phases = new Set(objects.filter((o) => !o.status || o.status.observedGeneration === o.metadata.generation).map((o) => o.status?.phase));
    for (const phase of PHASES) expect(phases.has(phase), `no case in health_test.yaml has phase ${phase}`).toBe(true);
    expect(phases.has(undefined), 'no case in health_test.yaml has no status').toBe(true);
  });
});

describe('health.lua, as Argo CD runs it from argocd-cm', () => {
  for (const test of TESTS) {
    it(test.inputPath, async () => {
      expect(await check(await input(test.inputPath))).toEqual({ status: test.healthStatus.status, message: test.healthStatus.message ?? '' });
    });
  }

  it('never errors on an object with a field missing or of the wrong type, with or without useOpenLibs', async () => {
    const variants = [...TESTDATA].flatMap(([file, object]) => [...mutations(file, object)]);
    expect(variants.length).toBeGreaterThan(500);
    const batches = Array.from({ length: Math.ceil(variants.length / 100) }, (_, i) => variants.slice(i * 100, (i + 1) * 100));
    // Without the string library, indexing a string is an error; with it, it quietly gives nil.
    for (const openLibs of [true, false]) {
      const results = (await Promise.all(batches.map((batch) => runHealthChecks(shipped.script, batch.map((v) => v.object), { lua, openLibs })))).flat();
      const failures = results.flatMap((result, i) =>
        result instanceof HealthCheckError || !HEALTH_CODES.includes(result.status) || result.message === 'Lua returned an invalid health status'
          ? [`${variants[i]!.what}: ${result instanceof HealthCheckError ? result.message : JSON.stringify(result)}`]
          : [],
      );
      expect(failures, `openLibs ${openLibs}`).toEqual([]);
    }
  });

  it('still works without useOpenLibs, then keeping messages whole', async () => {
    const object = TESTDATA.get('incomplete-classic-committer.yaml')!;
    const complete = object.status!.conditions!.find((c) => c.type === 'Complete')!;
    expect(complete.message).toContain('\n');
    expect(await check(object, { openLibs: false })).toEqual({ status: 'Degraded', message: `${complete.reason}: ${complete.message}` });
  });
});

describe('against the API server', () => {
  it('takes every testdata object as a ParquetOutput and stores its status unpruned', async () => {
    const kc = kubeConfig();
    const ns = await freshNamespace(kc, 'argocd-health');
    for (const [file, object] of TESTDATA) {
      const path = `/apis/${API_VERSION}/namespaces/${ns}/${PLURAL}`;
      // No ownerReferences: the job does not exist here, and the garbage collector would delete what it owns.
      const metadata = { name: file.replace(/\.yaml$/, ''), namespace: ns, labels: object.metadata.labels };
      const created = await kubeRequest(kc, 'POST', path, { ...object, metadata });
      expect(created.status, `${file}: ${statusMessage(created)}`).toBe(201);
      if (!object.status) continue;
      const stored = JSON.parse(created.body) as ParquetOutput;
      const updated = await kubeRequest(kc, 'PUT', `${path}/${stored.metadata.name}/status`, { ...stored, status: object.status });
      expect(updated.status, `${file}: ${statusMessage(updated)}`).toBe(200);
      expect((JSON.parse(updated.body) as ParquetOutput).status, file).toEqual(object.status);
    }
  });

  it('patches an existing argocd-cm with kubectl patch semantics, keeping its other keys', async () => {
    const kc = kubeConfig();
    const ns = await freshNamespace(kc, 'argocd-cm');
    const existing = { url: 'https://argocd.example.com', 'resource.customizations.health.cert-manager.io_Certificate': 'hs = {}\nreturn hs\n' };
    const created = await kubeRequest(kc, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'argocd-cm' }, data: existing });
    expect(created.status, statusMessage(created)).toBe(201);
    // What `kubectl patch --patch-file` sends: the file as a strategic merge patch.
    const patch = parse(await argocdCmPatchYaml({ namespace: ns })) as Record<string, unknown>;
    const patched = await kubeRequest(kc, 'PATCH', `/api/v1/namespaces/${ns}/configmaps/argocd-cm`, patch, 'application/strategic-merge-patch+json');
    expect(patched.status, statusMessage(patched)).toBe(200);
    expect((JSON.parse(patched.body) as { data: Record<string, string> }).data).toEqual({ ...existing, ...(patch.data as Record<string, string>) });
  });
});

describe('the argocd-cm patch', () => {
  it('carries health.lua byte for byte and turns on the string library it uses', async () => {
    const patch = parse(await argocdCmPatchYaml()) as { metadata: { name: string; namespace: string }; data: Record<string, string> };
    expect(patch.metadata).toEqual({ name: 'argocd-cm', namespace: 'argocd' });
    expect(patch.data[HEALTH_KEY]).toBe(await readFile(join(HEALTH_CHECK_DIR, 'health.lua'), 'utf8'));
    expect(patch.data[OPEN_LIBS_KEY]).toBe('true');
    expect(Object.keys(patch.data)).toEqual(['resource.customizations.health.orchard.fruits.dev_ParquetOutput', 'resource.customizations.useOpenLibs.orchard.fruits.dev_ParquetOutput']);
  });
});

describe('the Lua harness', () => {
  it('hands objects to Lua intact: strings with any byte, numbers, arrays from 1, null as nil', async () => {
    const tricky = 'quote " backslash \\ newline \n tab \t nul \u0000 then 12 é 🍎 ]] [[ \\n \\065';
    const obj = { s: tricky, n: [0, -7, 2.5, 1e21, 123456789012], list: ['first', 'second'], gone: null, nested: { 'key with "quotes"': true } };
    const script = `return { status = "Healthy", message = table.concat({ obj.s, tostring(obj.n[1]), tostring(obj.n[2]), tostring(obj.n[3]), tostring(obj.n[4] == 1e21), tostring(obj.n[5]),
      obj.list[1], tostring(#obj.list), tostring(obj.gone == nil), tostring(obj.nested['key with "quotes"']) }, "|") }`;
    expect(await check(obj, { script })).toEqual({ status: 'Healthy', message: [tricky, '0', '-7', '2.5', 'true', '123456789012', 'first', '2', 'true', 'true'].join('|') });
  });

  it('fails where Argo CD fails the check: a Lua error, a result that is not a table, a message that is not a string', async () => {
    await expect(check({}, { script: 'return { status = obj.status.phase }' })).rejects.toThrow(/health\.lua:1: attempt to index field 'status' \(a nil value\)/);
    await expect(check({}, { script: 'return "Healthy"' })).rejects.toThrow(new HealthCheckError('expect table output from Lua script, not string'));
    await expect(check({}, { script: 'return { status = "Healthy", message = 3 }' })).rejects.toThrow(/cannot unmarshal number into Go struct field HealthStatus\.message/);
    await expect(check({}, { script: 'return {' })).rejects.toThrow(/health\.lua:1:/);
  });

  it('judges results as ExecuteHealthLua does: an unknown status, the last of several values, nothing at all', async () => {
    expect(await check({}, { script: 'return { status = "Fine" }' })).toEqual({ status: 'Unknown', message: 'Lua returned an invalid health status' });
    expect(await check({}, { script: 'return { status = "Healthy" }, { status = "Degraded", message = "last" }' })).toEqual({ status: 'Degraded', message: 'last' });
    expect(await check({}, { script: 'local hs = {}' })).toEqual({ status: '', message: '' });
  });

  it("keeps Lua's standard libraries from a script unless useOpenLibs is set", async () => {
    const script = 'return { status = "Healthy", message = ("ab"):upper() .. string.rep("c", 2) .. math.floor(2.5) }';
    expect(await check({}, { script, openLibs: true })).toEqual({ status: 'Healthy', message: 'ABcc2' });
    await expect(check({}, { script, openLibs: false })).rejects.toThrow(/attempt to index a string value/);
    await expect(check({}, { script: 'return { status = "Healthy", message = string.rep("c", 2) }', openLibs: false })).rejects.toThrow(/global 'string'/);
    expect(await check({}, { script: 'return { status = "Healthy", message = type(os.time()) .. type(os.execute) .. type(table.concat) }', openLibs: false })).toEqual({
      status: 'Healthy',
      message: 'numbernilfunction',
    });
  });
});

interface Variant {
  readonly what: string;
  readonly object: unknown;
}

/** The object with each field under metadata and status in turn deleted, made a string, and made a table. */
function* mutations(file: string, object: object): Generator<Variant> {
  const paths: (string | number)[][] = [];
  const walk = (value: unknown, path: (string | number)[]) => {
    if (path.length > 0) paths.push(path);
    if (value && typeof value === 'object') for (const [key, item] of Object.entries(value)) walk(item, [...path, Array.isArray(value) ? Number(key) : key]);
  };
  const record = object as Record<string, unknown>;
  walk(record.metadata, ['metadata']);
  walk(record.status, ['status']);
  for (const path of paths) {
    for (const [how, replacement] of [['deleted', undefined], ['a string', '?'], ['a table', {}]] as const) {
      const copy = structuredClone(object) as Record<string | number, unknown>;
      let parent: Record<string | number, unknown> = copy;
      for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
      const last = path.at(-1)!;
      if (replacement !== undefined) parent[last] = structuredClone(replacement);
      else if (Array.isArray(parent)) parent.splice(last as number, 1);
      else delete parent[last];
      yield { what: `${file} with ${path.join('.')} ${how}`, object: copy };
    }
  }
}
