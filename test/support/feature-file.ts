import type { SchemaElement } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';

/** The columns of a file the featurize job writes, one entry per row. */
export interface FeatureColumns {
  readonly path: readonly string[];
  readonly label: readonly string[];
  readonly features: readonly (readonly number[])[];
  /** Absent when the job ran with `--pca-components 0`. */
  readonly pca?: readonly (readonly number[])[];
}

/**
 * Spark's layout of an `array<float>` column: a 3-level LIST of nullable floats. hyparquet-writer
 * infers no nested type from the data, so list columns need these schema elements spelled out.
 */
export function floatListSchema(name: string): SchemaElement[] {
  return [
    { name, repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
    { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
    { name: 'element', type: 'FLOAT', repetition_type: 'OPTIONAL' },
  ];
}

function stringSchema(name: string): SchemaElement {
  return { name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' };
}

/** A Parquet file with the featurize job's columns and Spark's schema for them (snappy, like Spark). */
export function featureParquet(columns: FeatureColumns, rowGroupSize?: number): Uint8Array {
  const lists = columns.pca ? (['features', 'pca'] as const) : (['features'] as const);
  return new Uint8Array(
    parquetWriteBuffer({
      columnData: [
        { name: 'path', data: [...columns.path] },
        { name: 'label', data: [...columns.label] },
        ...lists.map((name) => ({ name, data: columns[name]!.map((row) => [...row]) })),
      ],
      schema: [{ name: 'spark_schema', num_children: 2 + lists.length }, stringSchema('path'), stringSchema('label'), ...lists.flatMap(floatListSchema)],
      ...(rowGroupSize ? { rowGroupSize } : {}),
    }),
  );
}
