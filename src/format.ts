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
