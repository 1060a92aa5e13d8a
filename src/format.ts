/** Bytes in binary units for people: `965 KiB`, `24.3 MiB`. `digits` fixes the decimals; by default 1 below 10, else none. */
export function formatBytes(bytes: number, digits?: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(digits ?? (value < 10 ? 1 : 0))} ${units[unit]}`;
}

/** formatBytes, or nothing for an unknown size (an empty table cell). */
export function humanBytes(bytes: number | undefined): string {
  return bytes === undefined ? '' : formatBytes(bytes);
}

/** A JSON value in a few words, for error messages. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value);
  return `${typeof value} ${text.length > 40 ? `${text.slice(0, 40)}...` : text}`;
}
