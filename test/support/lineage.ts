import type { Lineage } from '../../src/api/parquet-output.ts';

/** An incremental run's lineage as a ParquetOutput records it: from `parent`, reusing its PCA model. */
export function incrementalLineage(parent: string, images: Lineage['images']): Lineage {
  return {
    mode: 'incremental',
    parent,
    reason: `newest complete dataset under ${parent.replace(/\/[^/]+\/?$/, '')}`,
    images,
    pca: { action: 'reused', reason: "kept the parent's model", explainedVarianceFitted: 0.63, explainedVarianceNew: 0.61 },
  };
}
