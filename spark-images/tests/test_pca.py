"""numpy PCA: exact merged moments, the same axes and variances as Spark ML's PCA, a readable model file."""

from itertools import pairwise

import numpy as np
import pytest

from orchard_featurize import pca


def correlated(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Features like ResNet's: positive, large mean against their spread, correlated.
    return rng.gamma(2.0, 1.0, (n, d)) @ rng.normal(0, 1, (d, d)) + 50.0


def test_merged_moments_equal_the_whole_sets():
    x = correlated(1000, 16)
    parts = [x[:1], x[1:300], x[300:301], x[301:]]
    merged = pca.Moments(0, np.zeros(0), np.zeros((0, 0)))
    for p in parts:
        merged = pca.combine(merged, pca.moments(p))
    whole = pca.moments(x)
    assert merged.n == 1000
    np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-12)
    np.testing.assert_allclose(merged.m2, whole.m2, rtol=1e-9)
    np.testing.assert_allclose(merged.m2 / 999, np.cov(x, rowvar=False), rtol=1e-9)


def test_fit_gives_orthonormal_axes_by_falling_variance_with_fixed_signs():
    x = correlated(500, 12)
    model = pca.fit(pca.moments(x), 5)
    np.testing.assert_allclose(model.components.T @ model.components, np.eye(5), atol=1e-10)
    ev = model.explained_variance
    assert all(a >= b for a, b in pairwise(ev)) and 0 < ev.sum() <= 1
    svals = np.linalg.svd(x - x.mean(0), compute_uv=False) ** 2
    np.testing.assert_allclose(ev, svals[:5] / svals.sum(), rtol=1e-8)
    assert (model.components[np.abs(model.components).argmax(0), range(5)] > 0).all()
    projected = model.project(x)
    assert projected.dtype == np.float32 and np.abs(projected.mean(0)).max() < 1e-3 * np.abs(projected).max()


def test_model_file_round_trips_and_bad_ones_say_what_is_wrong():
    model = pca.fit(pca.moments(correlated(100, 8)), 3)
    back = pca.PcaModel.from_json(model.to_json(), "s3a://b/out/_orchard/pca-model")
    np.testing.assert_array_equal(back.components, model.components)
    np.testing.assert_array_equal(back.mean, model.mean)
    assert back.k == 3 and back.features == 8
    with pytest.raises(ValueError, match=r"s3a://b/x is not an orchard PCA model: schema None"):
        pca.PcaModel.from_json('{"class": "org.apache.spark.ml.PipelineModel"}', "s3a://b/x")
    with pytest.raises(ValueError, match="is not an orchard PCA model"):
        pca.PcaModel.from_json("not json", "s3a://b/x")


def test_fit_refuses_what_has_no_principal_axes():
    with pytest.raises(ValueError, match="at least 2 rows"):
        pca.fit(pca.moments(np.ones((1, 4))), 2)
    with pytest.raises(ValueError, match="between 1 and 4"):
        pca.fit(pca.moments(np.ones((9, 4))), 5)


def test_same_axes_and_variances_as_spark_ml(spark):
    """Spark ML's PCA (what the job ran before) as the reference: same explained variance, same
    projections up to each axis's sign, once both are centred."""
    from pyspark.ml.feature import PCA, StandardScaler
    from pyspark.ml.linalg import Vectors

    x = correlated(400, 24, seed=3)
    df = spark.createDataFrame([(Vectors.dense(r),) for r in x.tolist()], ["v"])
    centred = StandardScaler(withMean=True, withStd=False, inputCol="v", outputCol="c").fit(df).transform(df)
    ref = PCA(k=6, inputCol="c", outputCol="p").fit(centred)
    ours = pca.fit(pca.moments(x), 6)
    np.testing.assert_allclose(ours.explained_variance, ref.explainedVariance.toArray(), rtol=1e-6)
    theirs = np.array([r["p"].toArray() for r in ref.transform(centred).select("p").collect()])
    mine = ours.project(x).astype(np.float64)
    signs = np.sign((theirs * mine).sum(0))
    np.testing.assert_allclose(mine * signs, theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max())
