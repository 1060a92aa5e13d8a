/**
 * The layout of a dataset folder as the featurize job writes it: which keys are data, and where its
 * own side files live. The controller and the report read folders by these rules.
 */

/** orchard's job metrics, under the job's hidden side folder of the output. */
export const METRICS_KEY = '_orchard/metrics.json';
export const METRICS_SCHEMA = 'orchard.featurize.metrics/v1';

/**
 * Hadoop's rule for what a dataset reader skips (FileInputFormat's hidden-file filter, which Spark
 * applies too): any path component starting with `_` or `.`, such as `_temporary/`, `__magic/`,
 * `.spark-staging-*` and orchard's own `_orchard/`.
 */
export function isDataFile(relativeKey: string): boolean {
  return relativeKey.endsWith('.parquet') && relativeKey.split('/').every((part) => !part.startsWith('_') && !part.startsWith('.'));
}

/**
 * What a failed run of the S3A magic committer leaves under its output: the `__magic*` paths
 * holding pending-commit data and manifests, which a successful job commit deletes.
 */
export function isPartialPath(relativeKey: string): boolean {
  return relativeKey.split('/').some((part) => part.startsWith('__magic'));
}
