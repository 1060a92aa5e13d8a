import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { API_VERSION, PLURAL } from '../../src/api/parquet-output.ts';
import { kubeRequest } from '../../src/kube/raw.ts';
import { humanBytes } from '../../src/format.ts';
import { age, leftoversCell, lineageCells, outputsTable, top1Cell } from '../../src/cli/outputs.ts';
import { orchard } from '../support/cli.ts';
import { freshNamespace, kubeConfig, stack } from '../support/kube.ts';

describe('orchard outputs (CLI)', () => {
  it('lists recorded outputs as a table, JSON or YAML, as kubectl does', async () => {
    const kc = kubeConfig();
    const ns = await freshNamespace(kc, 'cli-outputs');
    const path = `/apis/${API_VERSION}/namespaces/${ns}/${PLURAL}`;
    const created = await kubeRequest(kc, 'POST', path, {
      apiVersion: API_VERSION,
      kind: 'ParquetOutput',
      metadata: { name: 'featurize-0123456789' },
      spec: { source: { kind: 'SparkApplication', name: 'featurize', uid: 'u-1', submissionAttempt: 1 }, uri: 's3a://orchard-dev/features/run-1/' },
    });
    expect(created.status).toBe(201);
    const object = JSON.parse(created.body);
    const featureQuality = { method: 'ridge', split: 'sha1(<Class>/<file>), 20% held out', features: 'pca', width: 50, classes: 101, testImages: 606, top1: 0.9632, top5: 0.995, worstClasses: [{ label: 'Apple Red 2', recall: 0.5, images: 6, confusedWith: 'Apple Red 3' }] };
    const status = { phase: 'Recorded', files: 3, rows: 3030, bytes: 25_165_824, committer: 'magic', featureQuality, conditions: [] };
    expect((await kubeRequest(kc, 'PUT', `${path}/featurize-0123456789/status`, { ...object, status })).status).toBe(200);

    const dev = ['--dev', '--state', stack().stateDir, '-n', ns];
    const table = await orchard('outputs', ...dev);
    expect(table.code, table.stderr).toBe(0);
    const [header, row] = table.stdout.trimEnd().split('\n');
    expect(header!.split(/\s{3,}/)).toEqual(['NAME', 'JOB', 'URI', 'ROWS', 'FILES', 'SIZE', 'PHASE', 'AGE']);
    expect(row!.split(/\s{3,}/).slice(0, 7)).toEqual(['featurize-0123456789', 'featurize', 's3a://orchard-dev/features/run-1/', '3030', '3', '24 MiB', 'Recorded']);

    // The probe's accuracy only in the wide table, as the CRD's priority-1 column is in kubectl's.
    const wide = await orchard('outputs', ...dev, '-o', 'wide');
    const [wideHeader, wideRow] = wide.stdout.trimEnd().split('\n');
    // By column position: the MESSAGE of a complete output is empty.
    const starts = [...wideHeader!.matchAll(/\S+/g)].map((m) => [m[0], m.index] as const);
    const cells = Object.fromEntries(starts.map(([h, at], i) => [h, wideRow!.slice(at, starts[i + 1]?.[1]).trim()]));
    expect(cells).toMatchObject({ COMMITTER: 'magic', 'TOP-1': '96.3%', PHASE: 'Recorded' });

    const json = await orchard('outputs', ...dev, '-o', 'json');
    const list = JSON.parse(json.stdout);
    expect(list).toMatchObject({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: API_VERSION, kind: 'ParquetOutput', status }] });
    const yaml = await orchard('outputs', ...dev, '-o', 'yaml');
    expect(parse(yaml.stdout)).toEqual(list);

    const empty = await orchard('outputs', '--dev', '--state', stack().stateDir, '-n', `${ns}-none`);
    expect(empty.code).toBe(0);
    expect(empty.stderr).toBe(`No resources found in ${ns}-none namespace.\n`);
    const bad = await orchard('outputs', ...dev, '-o', 'xml');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown output format "xml"\n {2}fix: use -o table, -o wide, -o json, -o yaml/);
  });

  it('shows the probe accuracy, its failed gate, or that it was skipped, in the wide table only', () => {
    const quality = { method: 'ridge', split: 'sha1(<Class>/<file>), 20% held out' };
    expect([top1Cell(undefined), top1Cell({ ...quality, top1: 0.9632 }), top1Cell({ ...quality, top1: 0.84, minTop1: 0.9 }), top1Cell({ ...quality, top1: 0.95, minTop1: 0.9 }), top1Cell({ ...quality, skipped: 'only one class' })]).toEqual([
      '',
      '96.3%',
      '84.0% < 90%',
      '95.0%',
      'skipped',
    ]);
    const output = { apiVersion: API_VERSION, kind: 'ParquetOutput', metadata: { name: 'o' }, spec: { source: { kind: 'SparkApplication', name: 'j', uid: 'u' }, uri: 's3a://b/o' }, status: { phase: 'Recorded', featureQuality: { ...quality, top1: 0.5 } } } as const;
    expect(outputsTable([output], { namespaces: false, wide: false })).not.toMatch(/TOP-1|50\.0%/);
    expect(outputsTable([output], { namespaces: false, wide: true })).toMatch(/TOP-1[\s\S]*50\.0%/);
  });

  it('shows the lineage in the wide table: mode, parent, images reused/featurized/removed', () => {
    expect(lineageCells(undefined)).toEqual(['', '', '']);
    const lineage = { mode: 'incremental', parent: 's3a://b/f/nightly-1', reason: 'newest', images: { reused: 9800, featurized: 1200, removed: 100 }, pca: { action: 'reused', reason: 'kept' } } as const;
    expect(lineageCells(lineage)).toEqual(['incremental', 's3a://b/f/nightly-1', '9800/1200/100']);
    const output = { apiVersion: API_VERSION, kind: 'ParquetOutput', metadata: { name: 'o' }, spec: { source: { kind: 'SparkApplication', name: 'j', uid: 'u' }, uri: 's3a://b/f/nightly-2' }, status: { phase: 'Recorded', lineage } } as const;
    expect(outputsTable([output], { namespaces: false, wide: true })).toMatch(/MODE +PARENT +REUSED\/NEW\/REMOVED[\s\S]*incremental +s3a:\/\/b\/f\/nightly-1 +9800\/1200\/100/);
  });

  it('counts what gc would remove in the wide table', () => {
    expect([leftoversCell(undefined), leftoversCell({ pendingUploads: 2, partialObjects: 5, partialBytes: 10 }), leftoversCell({ pendingUploads: 0, partialObjects: 1, partialBytes: 1 })]).toEqual(['', '2 uploads, 5 partial', '1 partial']);
  });

  it('formats sizes and ages like kubectl', () => {
    expect([humanBytes(0), humanBytes(1023), humanBytes(1536), humanBytes(25_165_824), humanBytes(5 * 1024 ** 4)]).toEqual(['0 B', '1023 B', '1.5 KiB', '24 MiB', '5.0 TiB']);
    const now = Date.parse('2026-11-24T12:00:00Z');
    const ago = (s: number) => age(new Date(now - s * 1000).toISOString(), now);
    expect([ago(5), ago(150), ago(3600), ago(5 * 3600 + 240), ago(30 * 3600), ago(3 * 86400)]).toEqual(['5s', '2m30s', '60m', '5h4m', '30h', '3d']);
  });
});
