"""The job end to end on generated images, local Spark, file:// output."""

import json
from itertools import pairwise
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from orchard_featurize.job import Args, JobError, run

PCA_K = 6


def read_output(out: Path):
    parts = sorted(out.glob("part-*.parquet"))
    table = pq.ParquetDataset([str(p) for p in parts]).read()
    return parts, table.to_pydict()


def norm(path: str) -> str:
    return path.removeprefix("file:")


@pytest.fixture(scope="module")
def first_run(spark, model_path, generated, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "features"
    args = Args(input=str(generated.root), output=str(out), model=model_path, image_size=64,
                pca_components=PCA_K, batch_size=8, partitions=3)
    return args, run(spark, args), out


def test_one_row_per_good_image_with_folder_labels(first_run, generated):
    _, m, out = first_run
    parts, rows = read_output(out)
    got = {norm(p): label for p, label in zip(rows["path"], rows["label"], strict=True)}
    assert got == generated.good
    assert all(len(f) == 2048 for f in rows["features"])
    assert all(np.isfinite(np.asarray(f, np.float32)).all() for f in rows["features"])
    assert rows["path"] == sorted(rows["path"])  # sorted across files: parts are range partitions
    assert not any(p in got for p in generated.ignored)


def test_schema_and_compression(first_run):
    _, _, out = first_run
    part = sorted(out.glob("part-*.parquet"))[0]
    schema = pq.read_schema(part)
    assert schema.names == ["path", "label", "features", "pca"]
    assert str(schema.field("features").type) == "list<element: float>"
    # vector_to_array yields non-null elements; Spark reads both as array<float>.
    assert str(schema.field("pca").type) in ("list<element: float>", "list<element: float not null>")
    assert pq.ParquetFile(part).metadata.row_group(0).column(2).compression == "SNAPPY"
    assert part.name.endswith(".snappy.parquet")


def test_bad_files_counted_and_listed_never_written(first_run, generated):
    _, m, _ = first_run
    failures = {norm(f["path"]): f["reason"] for f in m["images"]["failures"]}
    assert set(failures) == set(generated.bad)
    for path, word in generated.bad.items():
        assert word in failures[path], (path, failures[path])
    assert m["images"]["found"] == len(generated.good) + len(generated.bad)
    assert m["images"]["decoded"] == len(generated.good)
    assert m["images"]["failed"] == len(generated.bad)


def test_pca_width_and_explained_variance(first_run, generated):
    _, m, out = first_run
    _, rows = read_output(out)
    assert all(len(v) == PCA_K for v in rows["pca"])
    ev = m["pca"]["explained_variance"]
    assert len(ev) == PCA_K and all(a >= b for a, b in pairwise(ev)) and 0 < sum(ev) <= 1 + 1e-9
    assert m["pca"]["source"] == "fitted" and m["pca"]["centred"]
    # centred PCA: every component has mean ~0 over the fitted rows
    pca = np.asarray(rows["pca"], np.float64)
    assert np.abs(pca.mean(axis=0)).max() < 1e-3 * (np.abs(pca).max() + 1)
    assert (out / "_orchard" / "pca-model" / "model.json").is_file()


def test_metrics_json_consistent_with_parquet(first_run, metrics_validator):
    args, m, out = first_run
    on_disk = json.loads((out / "_orchard" / "metrics.json").read_text())
    metrics_validator.validate(on_disk)  # src/api/job-metrics.schema.json, the file's one definition
    assert on_disk == json.loads(json.dumps(m))
    parts, rows = read_output(out)
    assert on_disk["rows_written"] == len(rows["path"]) == sum(pq.ParquetFile(p).metadata.num_rows for p in parts)
    assert sorted(f["name"] for f in on_disk["files"]) == sorted(p.name for p in parts)
    assert all(f["bytes"] == (out / f["name"]).stat().st_size for f in on_disk["files"])
    counts = {}
    for label in rows["label"]:
        counts[label] = counts.get(label, 0) + 1
    assert on_disk["label_counts"] == counts
    assert on_disk["model"]["random_weights"] is True and len(on_disk["model"]["sha256"]) == 64
    assert on_disk["versions"]["spark"].startswith("3.5.") and on_disk["versions"]["hadoop"] == "3.3.4"
    assert "wall_s" in on_disk["timings"] and "images_per_second" in on_disk
    assert len(parts) == args.partitions
    assert (out / "_SUCCESS").exists()


def test_rerun_replaces_output_and_features_are_identical(spark, first_run, model_path):
    args, _, out = first_run
    _, before = read_output(out)
    old_parts = {p.name for p in out.glob("part-*.parquet")}
    # Different file count, so any surviving old part would show up as a mix.
    again = Args(**{**args.__dict__, "partitions": 2})
    m = run(spark, again)
    new_parts = {p.name for p in out.glob("part-*.parquet")}
    assert len(new_parts) == 2 and not (old_parts & new_parts)
    assert sorted(f["name"] for f in m["files"]) == sorted(new_parts)
    _, after = read_output(out)
    assert after["path"] == before["path"]
    assert np.array_equal(np.asarray(after["features"], np.float32), np.asarray(before["features"], np.float32))
    np.testing.assert_allclose(np.asarray(after["pca"]), np.asarray(before["pca"]), rtol=1e-4, atol=1e-3)


def test_reuse_saved_pca_model_projects_into_same_space(spark, first_run, tmp_path):
    args, _, out = first_run
    _, base = read_output(out)
    saved = tmp_path / "pca-model-copy"
    import shutil

    shutil.copytree(out / "_orchard" / "pca-model", saved)
    out2 = tmp_path / "reused"
    m = run(spark, Args(**{**args.__dict__, "output": str(out2), "pca_components": 0, "pca_model": str(saved)}))
    assert m["pca"]["source"] == "reused" and m["pca"]["k"] == PCA_K
    _, rows = read_output(out2)
    by_path = dict(zip(base["path"], base["pca"], strict=True))
    for p, v in zip(rows["path"], rows["pca"], strict=True):
        np.testing.assert_allclose(v, by_path[p], rtol=1e-4, atol=1e-3)
    with pytest.raises(JobError, match="disagrees"):
        run(spark, Args(**{**args.__dict__, "output": str(tmp_path / "x"), "pca_components": 3,
                           "pca_model": str(saved)}))


def test_limit_takes_first_images_by_path(spark, model_path, generated, tmp_path):
    m = run(spark, Args(input=f"file://{generated.root}", output=str(tmp_path / "o"), model=model_path,
                        image_size=32, limit=5, batch_size=4))
    assert m["images"]["considered"] == 5
    _, rows = read_output(tmp_path / "o")
    every = sorted(list(generated.good) + list(generated.bad))
    assert sorted(map(norm, rows["path"])) == [p for p in every[:5] if p in generated.good]


def test_fails_fast_with_uri_and_fix(spark, model_path, tmp_path, generated):
    empty = tmp_path / "empty-prefix"
    (empty / "Kiwi").mkdir(parents=True)
    (empty / "Kiwi" / "notes.txt").write_text("no images here")
    with pytest.raises(JobError, match=f"no .jpg/.jpeg/.png files under {empty}.*check the prefix"):
        run(spark, Args(input=str(empty), output=str(tmp_path / "o1"), model=model_path))
    with pytest.raises(JobError, match="does not exist.*check the prefix"):
        run(spark, Args(input=str(tmp_path / "missing"), output=str(tmp_path / "o2"), model=model_path))
    with pytest.raises(JobError, match=r"model file .*nope.onnx not found.*build_model"):
        run(spark, Args(input=str(generated.root), output=str(tmp_path / "o3"), model=str(tmp_path / "nope.onnx")))
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where the output folder's parent should be")
    with pytest.raises(JobError, match=f"output {blocker}/out is not writable.*check the URI"):
        run(spark, Args(input=str(generated.root), output=str(blocker / "out"), model=model_path))


def test_entry_point_fails_fast_on_missing_model_without_spark(tmp_path, capsys):
    import featurize

    rc = featurize.main(["--input", str(tmp_path), "--output", str(tmp_path / "o"),
                         "--model", str(tmp_path / "m.onnx")])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(err)
    assert record["level"] == "error" and "m.onnx not found" in record["error"]
