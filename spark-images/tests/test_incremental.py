"""Incremental runs end to end in local Spark on file: inputs and outputs (ETags on S3 are checked
in test_incremental_s3a.py): day 0 full, day 1 with added, changed and deleted images, forced full
runs, PCA reused or refitted, and runs killed mid-write that leave the previous dataset as parent."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from imagegen import fruit, jpeg_bytes, make_dataset
from orchard_featurize import lineage
from orchard_featurize.job import LISTING_THRESHOLD_KEY, Args, only_files, run, scan_images

PCA_K = 4
SIZE = 32
ADDED_PER_CLASS = 3
SPLIT_CONF = ("spark.sql.files.maxPartitionBytes", "spark.sql.files.openCostInBytes", "spark.sql.files.minPartitionNum")


def args(inp: Path, root: Path, name: str, model_path: str, **over) -> Args:
    base = {"input": str(inp), "output": f"{root}/{lineage.RUN_PLACEHOLDER}", "run_name": name, "model": model_path,
            "image_size": SIZE, "pca_components": PCA_K, "batch_size": 16, "partitions": 2, "incremental": True,
            "probe": False}
    return Args(**(base | over))


def rows(dataset: Path) -> dict[str, dict]:
    """path (without file:) -> {"label", "features" bytes, "pca" bytes} of a dataset's Parquet rows."""
    table = pq.ParquetDataset([str(p) for p in sorted(dataset.glob("part-*.parquet"))]).read().to_pydict()
    out = {}
    for i, path in enumerate(table["path"]):
        out[path.removeprefix("file:")] = {
            "label": table["label"][i],
            "features": np.asarray(table["features"][i], np.float32).tobytes(),
            "pca": np.asarray(table["pca"][i], np.float32).tobytes() if "pca" in table else None}
    return out


def copy_root(src: Path, dst: Path) -> Path:
    """A job's root as day 0 left it, for a scenario of its own."""
    shutil.copytree(src, dst)
    pointer = dst / "_orchard" / lineage.POINTER_FILE
    pointer.write_text(lineage.pointer_json(f"file:{dst}/day0", "day0"))
    (pointer.parent / f".{pointer.name}.crc").unlink()  # Hadoop's local checksum of the old text
    return dst


@pytest.fixture(scope="module")
def day0(spark, model_path, tmp_path_factory):
    base = tmp_path_factory.mktemp("incremental")
    ds = make_dataset(base / "imgs", per_class=6)
    root = base / "root"
    m = run(spark, args(ds.root, root, "day0", model_path))
    return ds, root, m, rows(root / "day0")


@pytest.fixture(scope="module")
def day1_input(day0):
    """Day 1's input: ADDED_PER_CLASS new images per class, two re-encoded, two deleted."""
    ds, _, _, _ = day0
    rng = np.random.default_rng(11)
    good = sorted(p for p in ds.good if p.endswith("_100.jpg"))
    changed, deleted = good[:2], good[-2:]
    for p in changed:
        Path(p).write_bytes(jpeg_bytes(fruit(rng), quality=80))
        os.utime(p, ns=(os.stat(p).st_atime_ns, os.stat(p).st_mtime_ns + 10**9))  # clocks coarser than a write
    for p in deleted:
        os.remove(p)
    added = []
    for c in {ds.good[p] for p in good}:
        for i in range(ADDED_PER_CLASS):
            p = ds.root / c / f"new{i}_100.jpg"
            p.write_bytes(jpeg_bytes(fruit(rng)))
            added.append(str(p))
    return changed, deleted, added


@pytest.fixture(scope="module")
def day1(spark, model_path, day0, day1_input, tmp_path_factory):
    ds, root, _, _ = day0
    scenario = copy_root(root, tmp_path_factory.mktemp("day1") / "root")
    m = run(spark, args(ds.root, scenario, "day1", model_path))
    return scenario, m, rows(scenario / "day1")


def test_day0_is_full_with_no_parent_and_points_the_root_at_itself(day0, metrics_validator):
    ds, root, m, day0_rows = day0
    metrics_validator.validate(m)
    lin = m["lineage"]
    assert (lin["mode"], lin["parent"], lin["run"]) == ("full", None, "day0")
    assert lin["reason"] == f"full run: no complete dataset under file:{root}"
    n = len(ds.good) + len(ds.bad)
    assert lin["images"] == {"reused": 0, "featurized": n, "removed": 0}
    assert lin["pca"]["action"] == "fitted" and lin["pca"]["explained_variance_new"] is None
    assert m["output"] == f"file:{root}/day0" and set(day0_rows) == set(ds.good)
    assert json.loads((root / "_orchard" / lineage.POINTER_FILE).read_text())["dataset"] == f"file:{root}/day0"
    inputs = lineage.parse_inputs((root / "day0" / "_orchard" / lineage.INPUTS_FILE).read_text(), "day0")
    assert {p.removeprefix("file:") for p in inputs} == set(ds.good)  # failed images have no row, no identity


def test_day1_reuses_unchanged_rows_bit_for_bit_and_featurizes_only_new_and_changed(
        day0, day1_input, day1, metrics_validator):
    ds, root, _, day0_rows = day0
    changed, deleted, added = day1_input
    scenario, m, day1_rows = day1
    metrics_validator.validate(m)
    lin = m["lineage"]
    assert lin["mode"] == "incremental" and lin["parent"] == f"file:{scenario}/day0"
    assert "its pointer latest.json" in lin["reason"]
    unchanged = set(day0_rows) - set(changed) - set(deleted)
    # The bad files have no row in day 0, so they are tried again (and fail again, still listed).
    assert lin["images"] == {"reused": len(unchanged), "featurized": len(changed) + len(added) + len(ds.bad),
                             "removed": len(deleted)}
    # No reused image reached the model (Spark's scan drops the empty file before it).
    assert m["profile"]["images"] == lin["images"]["featurized"] - 1
    assert m["images"]["failed"] == len(ds.bad) and m["rows_written"] == len(day1_rows)
    assert set(day1_rows) == unchanged | set(changed) | set(added)
    for p in unchanged:
        assert day1_rows[p] == day0_rows[p], p  # features, pca and label: the parent's bytes
    for p in changed:
        assert day1_rows[p]["features"] != day0_rows[p]["features"], p
    assert lin["pca"]["action"] == "reused" and "too few to judge" in lin["pca"]["reason"]
    assert m["pca"]["source"] == "reused" and m["label_counts"] == {
        c: sum(1 for p in day1_rows if day1_rows[p]["label"] == c) for c in set(ds.good.values())}
    assert json.loads((scenario / "_orchard" / lineage.POINTER_FILE).read_text())["dataset"] == f"file:{scenario}/day1"


@pytest.mark.parametrize("over,words", [
    ({"image_size": 48}, "image size changed from 32 to 48 px"),
    ({"model": "int8"}, "precision and model changed from"),
], ids=["image-size", "precision"])
def test_a_model_precision_or_size_change_forces_a_full_run(spark, model_path, setup_env, day0, day1_input,
                                                            tmp_path, over, words):
    ds, root, _, _ = day0
    if over.get("model") == "int8":
        over = {"model": setup_env.get("ORCHARD_TEST_MODEL_INT8")}
        if not (over["model"] and Path(over["model"]).exists()):
            pytest.skip("no int8 test model (ORCHARD_TEST_MODEL_INT8): run spark-images/setup.sh")
    scenario = copy_root(root, tmp_path / "root")
    m = run(spark, args(ds.root, scenario, "day1", model_path, **over))
    lin = m["lineage"]
    assert (lin["mode"], lin["parent"]) == ("full", None)
    assert lin["reason"].startswith(f"full run: {words}") and f"{scenario}/day0" in lin["reason"]
    assert lin["images"]["reused"] == 0 and lin["images"]["featurized"] == m["images"]["considered"]
    assert lin["pca"]["action"] == "fitted"


def test_refit_pca_keeps_the_features_and_projects_every_row_again(spark, model_path, day0, day1_input, day1,
                                                                   tmp_path):
    ds, root, _, day0_rows = day0
    changed, deleted, _ = day1_input
    _, _, day1_rows = day1
    scenario = copy_root(root, tmp_path / "root")
    m = run(spark, args(ds.root, scenario, "day1", model_path, refit_pca=True))
    lin = m["lineage"]
    assert lin["mode"] == "incremental" and lin["pca"]["action"] == "refitted"
    assert lin["pca"]["reason"].startswith("--refit-pca")
    assert m["pca"]["source"] == "fitted"
    refit = rows(scenario / "day1")
    unchanged = set(day0_rows) - set(changed) - set(deleted)
    assert all(refit[p]["features"] == day0_rows[p]["features"] for p in unchanged)
    assert sum(refit[p]["pca"] != day1_rows[p]["pca"] for p in unchanged) == len(unchanged)


@pytest.mark.parametrize("pointer", ["kept", "deleted"])
def test_a_run_killed_mid_write_leaves_the_previous_dataset_as_parent(spark, model_path, day0, day1_input,
                                                                      tmp_path, pointer):
    ds, root, _, day0_rows = day0
    changed, deleted, _ = day1_input
    scenario = copy_root(root, tmp_path / "root")
    # Killed during the write: parts, no _SUCCESS. Killed after the commit, before the metrics:
    # _SUCCESS, no metrics. Both newer than day 0, and a listing would see them first.
    (scenario / "day1-killed").mkdir()
    shutil.copy(next((scenario / "day0").glob("part-*.parquet")), scenario / "day1-killed")
    (scenario / "day1-unrecorded").mkdir()
    (scenario / "day1-unrecorded" / "_SUCCESS").write_text("{}")
    (scenario / "day1-unrecorded" / "_orchard").mkdir()
    (scenario / "day1-unrecorded" / "_orchard" / lineage.INPUTS_FILE).write_text("{}")
    if pointer == "deleted":
        (scenario / "_orchard" / lineage.POINTER_FILE).unlink()
        # The killed runs' metrics.json would be newer still, had they written one.
        (scenario / "day1-killed" / "_orchard").mkdir()
        (scenario / "day1-killed" / "_orchard" / "metrics.json").write_text("{}")
    m = run(spark, args(ds.root, scenario, "day1", model_path))
    lin = m["lineage"]
    assert lin["mode"] == "incremental" and lin["parent"] == f"file:{scenario}/day0"
    assert ("pointer" in lin["reason"]) if pointer == "kept" else ("listed: no usable pointer" in lin["reason"])
    assert lin["images"]["reused"] == len(set(day0_rows) - set(changed) - set(deleted))


def test_new_rows_that_the_parents_pca_explains_badly_refit_it(spark, model_path, tmp_path):
    ds = make_dataset(tmp_path / "imgs", per_class=12, with_bad=False)
    root = tmp_path / "root"
    m0 = run(spark, args(ds.root, root, "day0", model_path, pca_components=2))
    # Day 1's photos are noise, nothing like day 0's fruit on a light background.
    rng = np.random.default_rng(5)
    from PIL import Image
    for i in range(lineage.PCA_JUDGE_MIN_ROWS + 20):
        pixels = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(ds.root / "Kiwi" / f"noise{i:03d}.png")
    m = run(spark, args(ds.root, root, "day1", model_path, pca_components=2))
    pca_lineage = m["lineage"]["pca"]
    assert pca_lineage["action"] == "refitted", pca_lineage
    assert pca_lineage["reason"].startswith("refitted: the parent's model explains")
    assert pca_lineage["explained_variance_new"] < lineage.PCA_REFIT_RATIO * m0["pca"]["explained_variance_total"]
    assert m["pca"]["source"] == "fitted"


def test_a_run_with_nothing_new_reads_its_parent_in_spark_s_own_splits(spark, model_path, tmp_path):
    # The JPEG split sizes are the session's: an incremental run with nothing new once read its
    # parent's Parquet in splits of 80 bytes (1,730 tasks for 60 rows on the node).
    ds = make_dataset(tmp_path / "imgs", per_class=2, with_bad=False)  # bad files are tried again each run
    root = tmp_path / "root"
    run(spark, args(ds.root, root, "first", model_path))
    before = {key: spark.conf.get(key, None) for key in SPLIT_CONF}
    tracker = spark.sparkContext.statusTracker()
    seen = set(tracker.getJobIdsForGroup(None))
    m = run(spark, args(ds.root, root, "second", model_path))
    assert m["lineage"]["images"] == {"reused": len(ds.good), "featurized": 0, "removed": 0}
    assert {key: spark.conf.get(key, None) for key in SPLIT_CONF} == before
    jobs = [tracker.getJobInfo(j) for j in set(tracker.getJobIdsForGroup(None)) - seen]
    tasks = [tracker.getStageInfo(stage).numTasks for job in jobs for stage in job.stageIds
             if tracker.getStageInfo(stage) is not None]
    # A few hundred KB of Parquet: Spark's default splits make one task per file at most.
    assert max(tasks) <= 2 * len(list((root / "first").glob("part-*.parquet"))) + 2, tasks


def test_only_files_reads_exactly_the_named_files_whatever_their_names(spark, tmp_path):
    # Names that the scan's file_path spells otherwise than the listing (a space is %20, % is %25,
    # # is %23, a '+' stays '+') and that SQL quoting must survive (' and \).
    names = ["Apple Braeburn/r 1.jpg", "Apple Braeburn/r 2.jpg", "Kiwi+Gold/a+b.jpg", "Kiwi+Gold/a b.jpg",
             "Pear/100%.jpg", "Pear/100%25.jpg", "Pear/n#1.jpg", "Pêche/plain.jpg", "Pêche/back\\slash.jpg",
             "Pêche/é'1.jpg"]
    for name in names:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(name.encode())
    everything = scan_images(spark, str(tmp_path))
    by_name = {r["path"].split(str(tmp_path) + "/", 1)[1]: r["path"] for r in everything.select("path").collect()}
    assert sorted(by_name) == sorted(names)
    # Each beside a name it must not match: "a+b" against "a b", "100%" against "100%25".
    wanted = [by_name[n] for n in names[0:9:2]] + [by_name["Pêche/é'1.jpg"]]
    picked = everything.where(only_files(wanted)).select("path", "content")
    got = {r["path"]: bytes(r["content"]) for r in picked.collect()}
    assert got == {p: p.split(str(tmp_path) + "/", 1)[1].encode() for p in wanted}
    # Pruned in the file index, so the others are never opened: the scan read as many files as named.
    assert scan_metric(picked, "numFiles") == len(wanted)


def test_the_scan_lists_many_class_folders_on_the_driver_and_leaves_the_session_as_it_was(spark, tmp_path):
    # Past 32 folders Spark lists in a job on the executors: 7.9 s of S3A start-up on the node.
    for c in range(40):
        (tmp_path / f"class{c:02d}").mkdir()
        (tmp_path / f"class{c:02d}" / "a.jpg").write_bytes(b"x")
    tracker = spark.sparkContext.statusTracker()
    seen = set(tracker.getJobIdsForGroup(None))
    before = spark.conf.get(LISTING_THRESHOLD_KEY, None)
    everything = scan_images(spark, str(tmp_path))
    assert set(tracker.getJobIdsForGroup(None)) == seen
    assert spark.conf.get(LISTING_THRESHOLD_KEY, None) == before
    assert everything.count() == 40


def scan_metric(df, name: str) -> int:
    """A metric of the file scan in df's executed plan (after an action)."""
    nodes = [df._jdf.queryExecution().executedPlan()]
    while nodes:
        node = nodes.pop()
        if node.nodeName().startswith("Scan"):
            return int(node.metrics().apply(name).value())
        children = node.children().iterator()
        while children.hasNext():
            nodes.append(children.next())
    raise AssertionError(f"no scan in {df._jdf.queryExecution().executedPlan().toString()}")
