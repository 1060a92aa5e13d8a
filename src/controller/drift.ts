/**
 * Drift between a job's datasets: each dataset is compared with the previous Recorded one of the
 * same job (`orchard.fruits.dev/job`), so a run that changes the columns a consumer reads is flagged
 * on its record, whichever dataset the job itself started from.
 */
import type { ParquetOutput } from '../api/parquet-output.ts';
import type { Column } from '../parquet/footer.ts';

/** The condition type on a record whose columns differ from the previous dataset's. */
export const SCHEMA_CHANGED = 'SchemaChanged';

/** The dataset a new one is compared with: its record's name, URI and columns. */
export interface Predecessor {
  readonly name: string;
  readonly uri: string;
  readonly schema: readonly Column[];
}

/**
 * Where a record stands among its job's, as a string that sorts oldest first: creation times tie
 * at a second, and then names decide, so every reconcile (and every gauge) picks the same one.
 */
export function recordOrder(o: Pick<ParquetOutput, 'metadata'>): string {
  return `${(o.metadata as { creationTimestamp?: string }).creationTimestamp ?? ''}\n${o.metadata.name}`;
}

/** The newest Recorded dataset among `records` (one job's) created before `current`. */
export function predecessorOf(records: readonly ParquetOutput[], current: ParquetOutput): Predecessor | undefined {
  const before = records
    .filter((o) => o.metadata.name !== current.metadata.name && o.status?.phase === 'Recorded' && recordOrder(o) < recordOrder(current))
    .sort((a, b) => (recordOrder(a) < recordOrder(b) ? 1 : -1))[0];
  return before ? { name: before.metadata.name, uri: before.spec.uri, schema: before.status?.schema ?? [] } : undefined;
}

/** What changed between two schemas, as one line a person reads; undefined when nothing did. */
export function schemaChange(before: readonly Column[], after: readonly Column[]): string | undefined {
  const was = new Map(before.map((c) => [c.name, c.type]));
  const now = new Map(after.map((c) => [c.name, c.type]));
  const added = after.filter((c) => !was.has(c.name)).map((c) => `${c.name} (${c.type})`);
  const removed = before.filter((c) => !now.has(c.name)).map((c) => `${c.name} (${c.type})`);
  const retyped = after.filter((c) => was.has(c.name) && was.get(c.name) !== c.type).map((c) => `${c.name} ${was.get(c.name)} -> ${c.type}`);
  const parts = [
    ...(added.length ? [`added ${added.join(', ')}`] : []),
    ...(removed.length ? [`removed ${removed.join(', ')}`] : []),
    ...(retyped.length ? [`retyped ${retyped.join(', ')}`] : []),
  ];
  return parts.length ? parts.join('; ') : undefined;
}
