import { parquetMetadata, type SchemaElement } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { describe, expect, it } from 'vitest';
import { FOOTER_FETCH_BYTES, readParquetFooter, sparkColumns, type RangeReader } from '../../src/parquet/footer.ts';
import { featureParquet } from '../support/feature-file.ts';

/**
 * The schema elements of a file Spark 3.5.8 wrote (`spark.range(5)` cast to each type), as hyparquet
 * parses them, with the type names Spark itself printed for it (`dataType.simpleString()`).
 */
const SPARK_SCHEMA: SchemaElement[] = [
  { name: 'spark_schema', num_children: 20 },
  { type: 'INT32', repetition_type: 'REQUIRED', name: 'i' },
  { type: 'INT64', repetition_type: 'REQUIRED', name: 'b' },
  { type: 'INT32', repetition_type: 'REQUIRED', name: 'sm', converted_type: 'INT_16', logical_type: { type: 'INTEGER', bitWidth: 16, isSigned: true } },
  { type: 'INT32', repetition_type: 'REQUIRED', name: 't', converted_type: 'INT_8', logical_type: { type: 'INTEGER', bitWidth: 8, isSigned: true } },
  { type: 'FLOAT', repetition_type: 'REQUIRED', name: 'f' },
  { type: 'DOUBLE', repetition_type: 'REQUIRED', name: 'd' },
  { type: 'BOOLEAN', repetition_type: 'OPTIONAL', name: 'bo' },
  { type: 'BYTE_ARRAY', repetition_type: 'REQUIRED', name: 's', converted_type: 'UTF8', logical_type: { type: 'STRING' } },
  { type: 'BYTE_ARRAY', repetition_type: 'REQUIRED', name: 'bin' },
  { type: 'INT64', repetition_type: 'OPTIONAL', name: 'dec', converted_type: 'DECIMAL', scale: 2, precision: 10, logical_type: { type: 'DECIMAL', scale: 2, precision: 10 } },
  {
    type: 'FIXED_LEN_BYTE_ARRAY',
    type_length: 13,
    repetition_type: 'REQUIRED',
    name: 'bigdec',
    converted_type: 'DECIMAL',
    scale: 4,
    precision: 30,
    logical_type: { type: 'DECIMAL', scale: 4, precision: 30 },
  },
  { type: 'INT32', repetition_type: 'REQUIRED', name: 'dt', converted_type: 'DATE', logical_type: { type: 'DATE' } },
  { type: 'INT96', repetition_type: 'REQUIRED', name: 'ts' },
  { type: 'INT64', repetition_type: 'REQUIRED', name: 'ntz', converted_type: 'TIMESTAMP_MICROS', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: false, unit: 'MICROS' } },
  { repetition_type: 'REQUIRED', name: 'features', num_children: 1, converted_type: 'LIST', logical_type: { type: 'LIST' } },
  { repetition_type: 'REPEATED', name: 'list', num_children: 1 },
  { type: 'FLOAT', repetition_type: 'REQUIRED', name: 'element' },
  { repetition_type: 'REQUIRED', name: 'nested', num_children: 1, converted_type: 'LIST', logical_type: { type: 'LIST' } },
  { repetition_type: 'REPEATED', name: 'list', num_children: 1 },
  { repetition_type: 'REQUIRED', name: 'element', num_children: 1, converted_type: 'LIST', logical_type: { type: 'LIST' } },
  { repetition_type: 'REPEATED', name: 'list', num_children: 1 },
  { type: 'INT32', repetition_type: 'REQUIRED', name: 'element' },
  { repetition_type: 'REQUIRED', name: 'm', num_children: 1, converted_type: 'MAP', logical_type: { type: 'MAP' } },
  { repetition_type: 'REPEATED', name: 'key_value', num_children: 2 },
  { type: 'BYTE_ARRAY', repetition_type: 'REQUIRED', name: 'key', converted_type: 'UTF8', logical_type: { type: 'STRING' } },
  { type: 'INT64', repetition_type: 'REQUIRED', name: 'value' },
  { repetition_type: 'REQUIRED', name: 'mm', num_children: 1, converted_type: 'MAP', logical_type: { type: 'MAP' } },
  { repetition_type: 'REPEATED', name: 'key_value', num_children: 2 },
  { type: 'BYTE_ARRAY', repetition_type: 'REQUIRED', name: 'key', converted_type: 'UTF8', logical_type: { type: 'STRING' } },
  { repetition_type: 'REQUIRED', name: 'value', num_children: 1, converted_type: 'LIST', logical_type: { type: 'LIST' } },
  { repetition_type: 'REPEATED', name: 'list', num_children: 1 },
  { repetition_type: 'REQUIRED', name: 'element', num_children: 1 },
  { type: 'INT32', repetition_type: 'REQUIRED', name: 'x' },
  { repetition_type: 'REQUIRED', name: 'st', num_children: 3 },
  { type: 'INT32', repetition_type: 'REQUIRED', name: 'a' },
  { type: 'BYTE_ARRAY', repetition_type: 'REQUIRED', name: 'b', converted_type: 'UTF8', logical_type: { type: 'STRING' } },
  { repetition_type: 'REQUIRED', name: 'c', num_children: 1, converted_type: 'LIST', logical_type: { type: 'LIST' } },
  { repetition_type: 'REPEATED', name: 'list', num_children: 1 },
  { type: 'DOUBLE', repetition_type: 'REQUIRED', name: 'element' },
  { repetition_type: 'REQUIRED', name: 'arrst', num_children: 1, converted_type: 'LIST', logical_type: { type: 'LIST' } },
  { repetition_type: 'REPEATED', name: 'list', num_children: 1 },
  { repetition_type: 'REQUIRED', name: 'element', num_children: 2 },
  { type: 'INT32', repetition_type: 'REQUIRED', name: 'p' },
  { type: 'BYTE_ARRAY', repetition_type: 'REQUIRED', name: 'q', converted_type: 'UTF8', logical_type: { type: 'STRING' } },
];

/** The same data written with `spark.sql.parquet.writeLegacyFormat=true`: 2-level lists named `array`. */
const SPARK_LEGACY_SCHEMA: SchemaElement[] = [
  ...SPARK_SCHEMA.slice(0, 10),
  { type: 'FIXED_LEN_BYTE_ARRAY', type_length: 5, repetition_type: 'OPTIONAL', name: 'dec', converted_type: 'DECIMAL', scale: 2, precision: 10 },
  ...SPARK_SCHEMA.slice(11, 16),
  { type: 'FLOAT', repetition_type: 'REPEATED', name: 'array' },
  { repetition_type: 'REQUIRED', name: 'nested', num_children: 1, converted_type: 'LIST', logical_type: { type: 'LIST' } },
  { repetition_type: 'REPEATED', name: 'array', num_children: 1, converted_type: 'LIST', logical_type: { type: 'LIST' } },
  { type: 'INT32', repetition_type: 'REPEATED', name: 'array' },
  { repetition_type: 'REQUIRED', name: 'm', num_children: 1, converted_type: 'MAP', logical_type: { type: 'MAP' } },
  { repetition_type: 'REPEATED', name: 'key_value', num_children: 2, converted_type: 'MAP_KEY_VALUE' },
  { type: 'BYTE_ARRAY', repetition_type: 'REQUIRED', name: 'key', converted_type: 'UTF8', logical_type: { type: 'STRING' } },
  { type: 'INT64', repetition_type: 'REQUIRED', name: 'value' },
  { repetition_type: 'REQUIRED', name: 'mm', num_children: 1, converted_type: 'MAP', logical_type: { type: 'MAP' } },
  { repetition_type: 'REPEATED', name: 'key_value', num_children: 2, converted_type: 'MAP_KEY_VALUE' },
  { type: 'BYTE_ARRAY', repetition_type: 'REQUIRED', name: 'key', converted_type: 'UTF8', logical_type: { type: 'STRING' } },
  { repetition_type: 'REQUIRED', name: 'value', num_children: 1, converted_type: 'LIST', logical_type: { type: 'LIST' } },
  { repetition_type: 'REPEATED', name: 'array', num_children: 1 },
  { type: 'INT32', repetition_type: 'REQUIRED', name: 'x' },
  { repetition_type: 'REQUIRED', name: 'st', num_children: 3 },
  { type: 'INT32', repetition_type: 'REQUIRED', name: 'a' },
  { type: 'BYTE_ARRAY', repetition_type: 'REQUIRED', name: 'b', converted_type: 'UTF8', logical_type: { type: 'STRING' } },
  { repetition_type: 'REQUIRED', name: 'c', num_children: 1, converted_type: 'LIST', logical_type: { type: 'LIST' } },
  { type: 'DOUBLE', repetition_type: 'REPEATED', name: 'array' },
  { repetition_type: 'REQUIRED', name: 'arrst', num_children: 1, converted_type: 'LIST', logical_type: { type: 'LIST' } },
  { repetition_type: 'REPEATED', name: 'array', num_children: 2 },
  { type: 'INT32', repetition_type: 'REQUIRED', name: 'p' },
  { type: 'BYTE_ARRAY', repetition_type: 'REQUIRED', name: 'q', converted_type: 'UTF8', logical_type: { type: 'STRING' } },
];

const SPARK_TYPES = [
  ['i', 'int'],
  ['b', 'bigint'],
  ['sm', 'smallint'],
  ['t', 'tinyint'],
  ['f', 'float'],
  ['d', 'double'],
  ['bo', 'boolean'],
  ['s', 'string'],
  ['bin', 'binary'],
  ['dec', 'decimal(10,2)'],
  ['bigdec', 'decimal(30,4)'],
  ['dt', 'date'],
  ['ts', 'timestamp'],
  ['ntz', 'timestamp_ntz'],
  ['features', 'array<float>'],
  ['nested', 'array<array<int>>'],
  ['m', 'map<string,bigint>'],
  ['mm', 'map<string,array<struct<x:int>>>'],
  ['st', 'struct<a:int,b:string,c:array<double>>'],
  ['arrst', 'array<struct<p:int,q:string>>'],
].map(([name, type]) => ({ name, type }));

const root = (children: number): SchemaElement => ({ name: 'schema', num_children: children });

describe('sparkColumns', () => {
  it("names every type as Spark does for a file Spark wrote, in Spark's standard layout", () => {
    expect(sparkColumns(SPARK_SCHEMA)).toEqual(SPARK_TYPES);
  });

  it("and in Spark's legacy layout (2-level lists, MAP_KEY_VALUE, decimals as fixed bytes)", () => {
    expect(sparkColumns(SPARK_LEGACY_SCHEMA)).toEqual(SPARK_TYPES);
  });

  it('applies the remaining backward-compatibility rules for lists of other writers', () => {
    expect(
      sparkColumns([
        root(4),
        // parquet-thrift: the repeated group named <list>_tuple is the element.
        { name: 'pairs', repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
        { name: 'pairs_tuple', repetition_type: 'REPEATED', num_children: 1 },
        { name: 'left', type: 'INT64', repetition_type: 'REQUIRED' },
        // A repeated group with one field, not named array or _tuple, wraps the element (3-level).
        { name: 'tags', repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
        { name: 'bag', repetition_type: 'REPEATED', num_children: 1 },
        { name: 'item', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
        // A bare repeated field, with no LIST group around it, is an array of itself.
        { name: 'scores', type: 'DOUBLE', repetition_type: 'REPEATED' },
        { name: 'points', repetition_type: 'REPEATED', num_children: 2 },
        { name: 'x', type: 'FLOAT', repetition_type: 'REQUIRED' },
        { name: 'y', type: 'FLOAT', repetition_type: 'REQUIRED' },
      ]),
    ).toEqual([
      { name: 'pairs', type: 'array<struct<left:bigint>>' },
      { name: 'tags', type: 'array<string>' },
      { name: 'scores', type: 'array<double>' },
      { name: 'points', type: 'array<struct<x:float,y:float>>' },
    ]);
  });

  it('widens unsigned integers and names the other annotated primitives', () => {
    const columns = sparkColumns([
      root(11),
      { name: 'u8', type: 'INT32', converted_type: 'UINT_8' },
      { name: 'u16', type: 'INT32', logical_type: { type: 'INTEGER', bitWidth: 16, isSigned: false } },
      { name: 'u32', type: 'INT32', converted_type: 'UINT_32' },
      { name: 'u64', type: 'INT64', converted_type: 'UINT_64' },
      { name: 'millis', type: 'INT64', converted_type: 'TIMESTAMP_MILLIS' },
      { name: 'utc', type: 'INT64', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'NANOS' } },
      { name: 'json', type: 'BYTE_ARRAY', converted_type: 'JSON' },
      { name: 'kind', type: 'BYTE_ARRAY', logical_type: { type: 'ENUM' } },
      { name: 'uuid', type: 'FIXED_LEN_BYTE_ARRAY', type_length: 16, logical_type: { type: 'UUID' } },
      { name: 'price', type: 'INT32', converted_type: 'DECIMAL', precision: 7, scale: 2 },
      { name: 'v', repetition_type: 'OPTIONAL', num_children: 0, logical_type: { type: 'VARIANT' } },
    ]);
    expect(Object.fromEntries(columns.map((c) => [c.name, c.type]))).toEqual({
      u8: 'smallint',
      u16: 'int',
      u32: 'bigint',
      u64: 'decimal(20,0)',
      millis: 'timestamp',
      utc: 'timestamp',
      json: 'string',
      kind: 'string',
      uuid: 'binary',
      price: 'decimal(7,2)',
      v: 'variant',
    });
  });

  it('throws on a LIST or MAP group of the wrong shape, naming the column', () => {
    expect(() =>
      sparkColumns([
        root(1),
        { name: 'features', converted_type: 'LIST', num_children: 2 },
        { name: 'a', type: 'FLOAT', repetition_type: 'REPEATED' },
        { name: 'b', type: 'FLOAT', repetition_type: 'REPEATED' },
      ]),
    ).toThrow('LIST column features must hold exactly one repeated field, has 2 fields');
    expect(() =>
      sparkColumns([
        root(1),
        { name: 'm', converted_type: 'MAP', num_children: 1 },
        { name: 'key_value', repetition_type: 'REPEATED', num_children: 1 },
        { name: 'key', type: 'BYTE_ARRAY', repetition_type: 'REQUIRED' },
      ]),
    ).toThrow('MAP column m: key_value has 1 fields, expected key and value');
  });
});

/** A file shaped like the featurize job's output: path, label, features, pca. */
function featureFile(rows: number, rowGroupSize: number, width = 8): Uint8Array {
  const floats = (i: number, n: number) => Array.from({ length: n }, (_, j) => Math.fround(i + j / 8));
  return featureParquet(
    {
      path: Array.from({ length: rows }, (_, i) => `s3a://fruits/Training/Apple/img-${i}.jpg`),
      label: Array.from({ length: rows }, (_, i) => ['Apple', 'Banana', 'Cherry'][i % 3]!),
      features: Array.from({ length: rows }, (_, i) => floats(i, width)),
      pca: Array.from({ length: rows }, (_, i) => floats(i, 2)),
    },
    rowGroupSize,
  );
}

const FEATURE_COLUMNS = [
  { name: 'path', type: 'string' },
  { name: 'label', type: 'string' },
  { name: 'features', type: 'array<float>' },
  { name: 'pca', type: 'array<float>' },
];

/** A file whose footer outgrows the first read: one statistics-carrying chunk per column. */
function wideFile(columns: number): Uint8Array {
  return new Uint8Array(
    parquetWriteBuffer({
      columnData: Array.from({ length: columns }, (_, c) => ({ name: `pc_${String(c).padStart(4, '0')}`, data: [c, c + 0.5, c + 0.25], type: 'DOUBLE' as const })),
    }),
  );
}

/** Serves ranges of `file`, recording each read, like S3 serves ranged GETs. */
function memoryReader(file: Uint8Array) {
  const reads: [offset: number, length: number][] = [];
  const read: RangeReader = async (offset, length) => {
    reads.push([offset, length]);
    expect(offset + length).toBeLessThanOrEqual(file.length);
    return file.slice(offset, offset + length);
  };
  return { read, reads };
}

function footerLengthOf(file: Uint8Array): number {
  return new DataView(file.buffer, file.byteOffset, file.byteLength).getUint32(file.length - 8, true);
}

describe('readParquetFooter', () => {
  it('reads a small file in one read of the whole file: rows over several row groups and the schema', async () => {
    const file = featureFile(25, 10);
    expect(parquetMetadata(file).row_groups.map((group) => group.num_rows)).toEqual([10n, 10n, 5n]);
    const { read, reads } = memoryReader(file);
    expect(await readParquetFooter(read, file.length)).toEqual({ readable: true, rows: 25, schema: FEATURE_COLUMNS });
    expect(reads).toEqual([[0, file.length]]);
  });

  it('reads only the last 64 KiB of a large file whose footer fits in them', async () => {
    const file = featureFile(3000, 1000, 16);
    expect(file.length).toBeGreaterThan(2 * FOOTER_FETCH_BYTES);
    const { read, reads } = memoryReader(file);
    expect(await readParquetFooter(read, file.length)).toEqual({ readable: true, rows: 3000, schema: FEATURE_COLUMNS });
    expect(reads).toEqual([[file.length - FOOTER_FETCH_BYTES, FOOTER_FETCH_BYTES]]);
  });

  it('reads a footer longer than 64 KiB with exactly one more read, of exactly the missing bytes', async () => {
    const file = wideFile(1500);
    const footerLength = footerLengthOf(file);
    expect(footerLength + 8).toBeGreaterThan(FOOTER_FETCH_BYTES);
    const { read, reads } = memoryReader(file);
    const footer = await readParquetFooter(read, file.length);
    expect(reads).toEqual([
      [file.length - FOOTER_FETCH_BYTES, FOOTER_FETCH_BYTES],
      [file.length - footerLength - 8, footerLength + 8 - FOOTER_FETCH_BYTES],
    ]);
    expect(footer.readable && footer.rows).toBe(3);
    expect(footer.readable && footer.schema).toEqual(Array.from({ length: 1500 }, (_, c) => ({ name: `pc_${String(c).padStart(4, '0')}`, type: 'double' })));
  });

  it('reports content that is not Parquet as unreadable, with what was wrong', async () => {
    const good = featureFile(25, 10);
    const withFooterLength = (length: number) => {
      const file = good.slice();
      new DataView(file.buffer).setUint32(file.length - 8, length, true);
      return file;
    };
    const garbledFooter = good.slice();
    garbledFooter.fill(0xff, good.length - 8 - footerLengthOf(good), good.length - 8);
    const encrypted = good.slice();
    encrypted.set(new TextEncoder().encode('PARE'), good.length - 4);
    const cases: [string, Uint8Array, string][] = [
      ['truncated upload', good.slice(0, 1000), `last 4 bytes are not PAR1 (found ${hexAt(good, 996)})`],
      ['JSON under a .parquet name', new TextEncoder().encode('{"rows": 25, "note": "not parquet"}'), 'last 4 bytes are not PAR1 (found 65 74 22 7d)'],
      ['empty object', new Uint8Array(0), 'file size 0 is too short for Parquet (magic, footer length and magic alone take 12 bytes)'],
      ['footer length beyond the file', withFooterLength(123_456), `footer length 123456 exceeds file size ${good.length}`],
      ['footer length without room for the header', withFooterLength(good.length - 10), `footer length ${good.length - 10} leaves no room for the leading PAR1 in a file of ${good.length} bytes`],
      ['garbled footer', garbledFooter, `footer of ${footerLengthOf(good)} bytes is not valid Parquet metadata: `],
      ['encrypted footer', encrypted, 'footer is encrypted (last 4 bytes are PARE); orchard reads plaintext footers only'],
    ];
    for (const [what, file, error] of cases) {
      const { read } = memoryReader(file);
      const footer = await readParquetFooter(read, file.length);
      expect(footer.readable, what).toBe(false);
      expect(!footer.readable && footer.error, what).toContain(error);
    }
  });

  it("passes the reader's own failures through: a transport error is not a property of the file", async () => {
    const failure = new Error('connect ECONNREFUSED 127.0.0.1:9');
    await expect(readParquetFooter(() => Promise.reject(failure), 1000)).rejects.toBe(failure);
  });
});

function hexAt(file: Uint8Array, offset: number): string {
  return Array.from(file.subarray(offset, offset + 4), (byte) => byte.toString(16).padStart(2, '0')).join(' ');
}
