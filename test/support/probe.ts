import type { JobProbeMetrics } from '../../src/api/job-metrics.ts';

/**
 * The `probe` section of _orchard/metrics.json as spark-images/orchard_featurize/job.py writes it
 * (tests/test_metrics_schema.py checks the job's against the same schema), for a dataset of the
 * labels in test/support/dataset.ts: measured at `top1`, with the gate `minTop1` (null: none).
 */
/** What every probe section says about how it was measured: the method, the split and the gate. */
function probeSettings(minTop1: number | null) {
  return { method: 'ridge', split: { key: 'sha1(<Class>/<file>)', test_fraction: 0.2 }, alpha: 0.001, min_top1: minTop1 };
}

export function probeMetrics(top1: number, minTop1: number | null = null): JobProbeMetrics & Record<string, unknown> {
  return {
    ...probeSettings(minTop1),
    features: 'pca',
    width: 50,
    classes: 4,
    train_images: 160,
    test_images: 40,
    top1,
    top5: 1,
    chance_top1: 0.25,
    per_class_recall: { 'Apple Braeburn': 0.5, Banana: 0.9, 'Cherry 1': 1, Pear: 1 },
    worst_classes: [
      { label: 'Apple Braeburn', recall: 0.5, images: 10, confused_with: 'Cherry 1' },
      { label: 'Banana', recall: 0.9, images: 10, confused_with: 'Pear' },
      { label: 'Cherry 1', recall: 1, images: 10, confused_with: null },
      { label: 'Pear', recall: 1, images: 10, confused_with: null },
    ],
    confused_pairs: [
      { label: 'Apple Braeburn', predicted: 'Cherry 1', count: 5, share: 0.5 },
      { label: 'Banana', predicted: 'Pear', count: 1, share: 0.1 },
    ],
  };
}

/** The probe section of a job that could not measure: too few images per class. */
export function skippedProbeMetrics(minTop1: number | null = null): JobProbeMetrics & Record<string, unknown> {
  return {
    ...probeSettings(minTop1),
    skipped: '1 of 4 classes have fewer than 10 images (Pear: 3): too few to hold any out; add images or run on the full dataset',
  };
}
