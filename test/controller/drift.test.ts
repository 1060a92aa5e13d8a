import { describe, expect, it } from 'vitest';
import type { ParquetOutput } from '../../src/api/parquet-output.ts';
import { predecessorOf, schemaChange } from '../../src/controller/drift.ts';

const columns = [
  { name: 'path', type: 'string' },
  { name: 'pca', type: 'array<double>' },
];

function record(name: string, created: string, phase: 'Recorded' | 'Incomplete' = 'Recorded', schema = columns): ParquetOutput {
  return {
    apiVersion: 'orchard.fruits.dev/v1alpha1',
    kind: 'ParquetOutput',
    metadata: { name, creationTimestamp: created } as ParquetOutput['metadata'],
    spec: { source: { kind: 'SparkApplication', name, uid: `uid-${name}` }, uri: `s3a://fruits/features/nightly/${name}/` },
    status: { phase, schema },
  };
}

describe('drift between the datasets of one job', () => {
  it('compares a dataset with the newest Recorded one created before it, names breaking ties', () => {
    const current = record('nightly-3', '2026-12-04T02:05:00Z');
    const records = [record('nightly-1', '2026-12-02T02:05:00Z'), record('nightly-2', '2026-12-03T02:05:00Z'), record('nightly-2b', '2026-12-03T02:06:00Z', 'Incomplete'), current, record('nightly-4', '2026-12-05T02:05:00Z')];
    expect(predecessorOf(records, current)).toEqual({ name: 'nightly-2', uri: 's3a://fruits/features/nightly/nightly-2/', schema: columns });
    expect(predecessorOf([record('a', '2026-12-04T02:05:00Z'), record('b', '2026-12-04T02:05:00Z')], record('c', '2026-12-04T02:05:00Z'))?.name).toBe('b');
    expect(predecessorOf([current], current)).toBeUndefined();
  });

  it('names the columns added, removed and retyped, and nothing when only the order differs', () => {
    expect(schemaChange(columns, [...columns].reverse())).toBeUndefined();
    expect(schemaChange(columns, [{ name: 'path', type: 'string' }, { name: 'pca', type: 'array<float>' }, { name: 'label', type: 'string' }])).toBe('added label (string); retyped pca array<double> -> array<float>');
    expect(schemaChange(columns, [{ name: 'path', type: 'string' }])).toBe('removed pca (array<double>)');
  });
});
