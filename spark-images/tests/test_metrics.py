from orchard_featurize import metrics


def test_output_partitions_is_a_function_of_rows_or_explicit():
    assert metrics.output_partitions(7, 10) == 7
    assert metrics.output_partitions(0, 1) == 1
    assert metrics.output_partitions(0, 67_692) == 4


def test_inference_split_gives_multiple_of_parallelism():
    files, size = 3030, 5000
    split, open_cost = metrics.inference_split_bytes(files * size, files, 2)
    assert open_cost == size
    tasks = -(-(files * (size + open_cost)) // split)
    assert tasks % 2 == 0 and tasks >= 2
    assert files / tasks <= metrics.IMAGES_PER_TASK


def test_side_paths_are_hidden_from_parquet_readers():
    p = metrics.side_path("s3a://b/features/run-1/", metrics.METRICS_FILE)
    assert p == "s3a://b/features/run-1/_orchard/metrics.json"
    assert p.rsplit("/", 2)[1].startswith("_")


def test_build_metrics_is_consistent():
    m = metrics.build_metrics(
        input_uri="in", output_uri="out", found=5, considered=4, decoded=3,
        failed=[{"path": "b", "reason": "empty file"}, {"path": "a", "reason": "x"}], rows_written=3,
        label_counts={"z": 1, "a": 2}, pca=None, files=[{"name": "part-1", "bytes": 2}, {"name": "part-0", "bytes": 1}],
        success=None, timings={"wall_s": 2.0, "inference_s": 1.0}, model={}, versions={}, args={})
    assert m["images"]["failed"] == 2 and [f["path"] for f in m["images"]["failures"]] == ["a", "b"]
    assert list(m["label_counts"]) == ["a", "z"]
    assert [f["name"] for f in m["files"]] == ["part-0", "part-1"]
    assert m["images_per_second"] == 4.0 and m["images_per_second_wall"] == 2.0
