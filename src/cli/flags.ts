import { UsageError } from './exit.ts';

/** A whole-number flag, checked: commander passes every value as a string. */
export function integerFlag(flag: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag} must be an integer >= ${min}, got ${JSON.stringify(value)}`, `pass for example ${flag} ${Math.max(min, 1)}`);
  return n;
}

/** A duration flag in seconds (fractions allowed), returned in milliseconds. */
export function secondsFlag(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a positive number of seconds, got ${JSON.stringify(value)}`, `pass for example ${flag} 2`);
  return Math.round(n * 1000);
}
