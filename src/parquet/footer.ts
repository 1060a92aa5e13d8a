import { parquetMetadata, parquetSchema, type SchemaElement, type SchemaTree } from 'hyparquet';

/** One column of a Parquet file's schema. */
export interface Column {
  readonly name: string;
  /** Spark-like type name: `string`, `int`, `double`, `array<float>`, `struct<a:int,b:string>`... */
  readonly type: string;
}

/**
 * Bytes read from the end of a file in the first request. Spark's footers for orchard's three
 * columns and a few row groups are a few KiB, so one request nearly always holds the whole footer,
 * and 64 KiB costs no more latency than 8 KiB. hyparquet's own default (512 KiB) would move 170 MB
 * for a 340-file dataset to learn a few hundred KiB.
 */
export const FOOTER_FETCH_BYTES = 64 * 1024;

/** "PAR1" + footer length + "PAR1": the smallest file that can hold a footer at all. */
const FRAMING_BYTES = 12;
const MAGIC = 'PAR1';
// Parquet modular encryption ends files with PARE; the footer is then ciphertext.
const ENCRYPTED_MAGIC = 'PARE';

/** Reads exactly `length` bytes at `offset` of one file (an S3 ranged GET in production). */
export type RangeReader = (offset: number, length: number) => Promise<Uint8Array>;

export type ParquetFooter =
  | { readonly readable: true; readonly rows: number; readonly schema: readonly Column[] }
  | { readonly readable: false; readonly error: string };

/**
 * Row count and top-level schema of a Parquet file of `size` bytes, from at most two range reads:
 * the last min(size, 64 KiB), then exactly the part of a longer footer that the first one missed.
 * Content that is not Parquet comes back as `readable: false` with what was wrong; only the
 * reader's own errors (S3 transport) are thrown.
 */
export async function readParquetFooter(read: RangeReader, size: number): Promise<ParquetFooter> {
  if (size < FRAMING_BYTES) {
    return unreadable(`file size ${size} is too short for Parquet (magic, footer length and magic alone take ${FRAMING_BYTES} bytes)`);
  }
  const fetched = Math.min(size, FOOTER_FETCH_BYTES);
  const tail = await read(size - fetched, fetched);
  const magic = ascii(tail.subarray(fetched - 4));
  if (magic === ENCRYPTED_MAGIC) return unreadable('footer is encrypted (last 4 bytes are PARE); orchard reads plaintext footers only');
  if (magic !== MAGIC) return unreadable(`last 4 bytes are not PAR1 (found ${hex(tail.subarray(fetched - 4))})`);

  const footerLength = new DataView(tail.buffer, tail.byteOffset, tail.byteLength).getUint32(fetched - 8, true);
  if (footerLength > size) return unreadable(`footer length ${footerLength} exceeds file size ${size}`);
  if (footerLength > size - FRAMING_BYTES) {
    return unreadable(`footer length ${footerLength} leaves no room for the leading PAR1 in a file of ${size} bytes`);
  }

  // hyparquet parses a buffer that ends with footer, length and magic.
  const needed = footerLength + 8;
  const footer = needed <= fetched ? tail.subarray(fetched - needed) : concat(await read(size - needed, needed - fetched), tail);

  try {
    // GeoParquet columns are plain binary to orchard: skip hyparquet's parsing of their metadata.
    const metadata = parquetMetadata(footer, { geoparquet: false });
    const rows = Number(metadata.num_rows);
    const groupRows = metadata.row_groups.reduce((sum, group) => sum + Number(group.num_rows), 0);
    if (rows !== groupRows) return unreadable(`footer says ${rows} rows but its ${metadata.row_groups.length} row groups hold ${groupRows}`);
    return { readable: true, rows, schema: sparkColumns(metadata.schema) };
  } catch (error) {
    return unreadable(`footer of ${footerLength} bytes is not valid Parquet metadata: ${(error as Error).message}`);
  }
}

/** Top-level columns with the type names Spark would show (`df.schema.simpleString`). */
export function sparkColumns(schema: readonly SchemaElement[]): Column[] {
  if (schema.length === 0) throw new Error('schema has no root element');
  return parquetSchema({ schema: [...schema] }).children.map((node) => ({ name: node.element.name, type: fieldType(node) }));
}

/**
 * Spark's reading of a Parquet field (ParquetToSparkSchemaConverter): a repeated field outside a
 * LIST or MAP group is an array of itself.
 */
function fieldType(node: SchemaTree): string {
  const type = valueType(node);
  return node.element.repetition_type === 'REPEATED' ? `array<${type}>` : type;
}

function valueType(node: SchemaTree): string {
  const { element } = node;
  if (!element.type) return groupType(node);
  return primitiveType(element);
}

function groupType(node: SchemaTree): string {
  const { element, children } = node;
  const annotation = element.logical_type?.type ?? element.converted_type;
  if (annotation === 'LIST') return listType(node);
  if (annotation === 'MAP' || annotation === 'MAP_KEY_VALUE') return mapType(node);
  if (annotation === 'VARIANT') return 'variant';
  return `struct<${children.map((child) => `${child.element.name}:${fieldType(child)}`).join(',')}>`;
}

function listType(node: SchemaTree): string {
  const repeated = onlyRepeatedChild(node, 'LIST');
  // The backward-compatibility rules of the Parquet spec (LogicalTypes.md, "Lists"), as Spark
  // applies them: in these shapes the repeated field is the element itself (2-level lists
  // written by old parquet-avro, parquet-thrift and Hive); otherwise it wraps the element.
  const twoLevel =
    repeated.children.length !== 1 || repeated.element.name === 'array' || repeated.element.name === `${node.element.name}_tuple`;
  if (twoLevel) return `array<${valueType(repeated)}>`;
  return `array<${fieldType(repeated.children[0]!)}>`;
}

function mapType(node: SchemaTree): string {
  const keyValue = onlyRepeatedChild(node, 'MAP');
  const [key, value] = keyValue.children;
  if (!key || !value || keyValue.children.length !== 2) {
    throw new Error(`MAP column ${node.path.join('.')}: ${keyValue.element.name} has ${keyValue.children.length} fields, expected key and value`);
  }
  return `map<${valueType(key)},${fieldType(value)}>`;
}

function onlyRepeatedChild(node: SchemaTree, annotation: string): SchemaTree {
  const [child] = node.children;
  if (!child || node.children.length !== 1 || child.element.repetition_type !== 'REPEATED') {
    throw new Error(`${annotation} column ${node.path.join('.')} must hold exactly one repeated field, has ${node.children.length} fields`);
  }
  return child;
}

function primitiveType(element: SchemaElement): string {
  const logical = element.logical_type;
  const converted = element.converted_type;
  if (logical?.type === 'DECIMAL') return `decimal(${logical.precision},${logical.scale})`;
  if (converted === 'DECIMAL') return `decimal(${element.precision ?? 0},${element.scale ?? 0})`;
  switch (element.type) {
    case 'BOOLEAN':
      return 'boolean';
    case 'FLOAT':
      return 'float';
    case 'DOUBLE':
      return 'double';
    // Spark reads the legacy INT96 nanosecond timestamps of Hive and Impala as timestamps.
    case 'INT96':
      return 'timestamp';
    case 'INT32':
      if (logical?.type === 'DATE' || converted === 'DATE') return 'date';
      if (logical?.type === 'TIME' || converted === 'TIME_MILLIS') return 'time';
      return integerType(element, 32);
    case 'INT64':
      if (logical?.type === 'TIMESTAMP') return logical.isAdjustedToUTC ? 'timestamp' : 'timestamp_ntz';
      if (converted === 'TIMESTAMP_MILLIS' || converted === 'TIMESTAMP_MICROS') return 'timestamp';
      if (logical?.type === 'TIME' || converted === 'TIME_MICROS') return 'time';
      return integerType(element, 64);
    case 'BYTE_ARRAY':
      if (logical?.type === 'STRING' || logical?.type === 'ENUM' || logical?.type === 'JSON') return 'string';
      if (converted === 'UTF8' || converted === 'ENUM' || converted === 'JSON') return 'string';
      return 'binary';
    default:
      // FIXED_LEN_BYTE_ARRAY without a decimal annotation: UUID, FLOAT16, INTERVAL and raw bytes.
      return 'binary';
  }
}

/** Spark widens unsigned integers to the next signed type that holds them all. */
function integerType(element: SchemaElement, physicalBits: 32 | 64): string {
  const logical = element.logical_type;
  const fromConverted = /^(U?)INT_(8|16|32|64)$/.exec(element.converted_type ?? '');
  const bits = logical?.type === 'INTEGER' ? logical.bitWidth : fromConverted ? Number(fromConverted[2]) : physicalBits;
  const signed = logical?.type === 'INTEGER' ? logical.isSigned : fromConverted?.[1] !== 'U';
  const widened = signed ? bits : bits * 2;
  if (widened <= 8) return 'tinyint';
  if (widened <= 16) return 'smallint';
  if (widened <= 32) return 'int';
  if (widened <= 64) return 'bigint';
  return 'decimal(20,0)';
}

function unreadable(error: string): ParquetFooter {
  return { readable: false, error };
}

function concat(head: Uint8Array, tail: Uint8Array): Uint8Array {
  const joined = new Uint8Array(head.length + tail.length);
  joined.set(head);
  joined.set(tail, head.length);
  return joined;
}

function ascii(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join(' ');
}
