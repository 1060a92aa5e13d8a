"""The job on the real Fruits-360 sample (../shared/data/fruits-360), skipped with a message where absent."""

import os

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import FRUITS, report
from orchard_featurize.job import Args, run

LIMIT = int(os.environ.get("ORCHARD_FRUITS_LIMIT", "300"))


@pytest.fixture(scope="module")
def training():
    root = FRUITS / "Training"
    if not root.is_dir():
        pytest.skip(f"Fruits-360 sample not found at {root}: the generated-image tests still ran")
    return root


def test_fruits360_sample(spark, model_path, training, tmp_path, metrics_validator):
    out = tmp_path / "fruits"
    m = run(spark, Args(input=f"file://{training}", output=str(out), model=model_path, image_size=224,
                        pca_components=16, limit=LIMIT, batch_size=32, probe_full=True, probe_min_top1=0.5))
    metrics_validator.validate(m)
    parts = sorted(out.glob("part-*.parquet"))
    rows = pq.ParquetDataset([str(p) for p in parts]).read().to_pydict()
    assert m["images"]["failed"] == 0 and len(rows["path"]) == m["rows_written"] == min(LIMIT, m["images"]["found"])
    for path, label in zip(rows["path"], rows["label"], strict=True):
        assert path.split("/")[-2] == label and (training / label).is_dir()
    assert all(len(f) == 2048 for f in rows["features"]) and all(len(v) == 16 for v in rows["pca"])
    assert np.isfinite(np.asarray(rows["features"], np.float32)).all()
    assert sum(m["label_counts"].values()) == m["rows_written"]
    ev = m["pca"]["explained_variance"]
    assert len(ev) == 16 and 0 < sum(ev) <= 1 + 1e-9
    # The probe: the class folders are predictable from the features (even random-weight ones),
    # far above chance, on images the classifier never saw.
    q = m["probe"]
    assert q["features"] == "pca" and q["width"] == 16 and q["classes"] == len(m["label_counts"])
    assert q["train_images"] + q["test_images"] == m["rows_written"] and q["min_top1"] == 0.5
    assert q["top1"] > 5 * q["chance_top1"] and q["top5"] >= q["top1"] and q["full"]["top1"] > 5 * q["chance_top1"]
    assert set(q["per_class_recall"]) <= set(m["label_counts"])
    assert q["worst_classes"][0]["recall"] == min(q["per_class_recall"].values())
    report(f"probe on {q['test_images']} held-out of {m['rows_written']} images, {q['classes']} classes: "
           f"top-1 {q['top1']:.3f} (PCA {q['width']}), {q['full']['top1']:.3f} (2048), top-5 {q['top5']:.3f}; "
           f"{m['timings']['probe_s']} s of {m['timings']['wall_s']} s")
    report(f"Fruits-360 {m['images']['considered']} images at 224px: "
          f"{m['images_per_second']} images/s (inference), wall {m['timings']['wall_s']} s, "
          f"{len(m['label_counts'])} labels, PCA(16) explains {sum(ev):.3f}")
