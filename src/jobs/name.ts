/** A name that sorts by time and is new on every run, so the operator runs it instead of finding it done. */
export function runName(now = new Date()): string {
  return `featurize-${now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15).toLowerCase()}`;
}
