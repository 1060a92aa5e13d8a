import random

import pytest

from orchard_featurize import metrics


def test_output_partitions_is_a_function_of_rows_or_explicit():
    assert metrics.output_partitions(7, 10) == 7
    assert metrics.output_partitions(0, 1) == 1
    assert metrics.output_partitions(0, 67_692) == 4


def spark_packing(sizes: list[int], split: int, open_cost: int) -> list[int]:
    """Images per task as Spark 3.5 packs files (FilePartition.getFilePartitions: largest first,
    a new task when the next file would pass the split)."""
    counts, current, n = [], 0, 0
    for size in sorted(sizes, reverse=True):
        if n and current + size > split:
            counts.append(n)
            current, n = 0, 0
        current += size + open_cost
        n += 1
    return counts + [n]


@pytest.mark.parametrize("files,parallelism", [(400, 2), (600, 2), (1000, 2), (3030, 2), (90380, 8), (90380, 2)])
def test_inference_split_balances_tasks_by_image_count(files, parallelism):
    rng = random.Random(files)
    sizes = [int(rng.lognormvariate(8.5, 0.4)) for _ in range(files)]  # 100x100 JPEGs: ~5 KB, spread
    split, open_cost = metrics.inference_split_bytes(sum(sizes), files, parallelism)
    counts = spark_packing(sizes, split, open_cost)
    assert len(counts) % parallelism == 0, counts
    even = files / len(counts)
    assert max(counts) <= metrics.IMAGES_PER_TASK * 1.05, counts
    if len(counts) == parallelism:
        # One wave: every slot ends within a few images of the others, none idles at the end.
        assert max(counts) - min(counts) <= 0.02 * even + 4, counts
    else:
        # Many waves are balanced by the scheduler; no task is so small or large that it makes a tail.
        assert 0.75 * even <= min(counts) and max(counts) <= 1.25 * even, counts


def test_inference_split_with_spark_defaults_would_make_tiny_tasks():
    # Why the job sets its own: 4 MB open cost and 128 MB splits pack ~32 images per task.
    rng = random.Random(1)
    sizes = [int(rng.lognormvariate(8.5, 0.4)) for _ in range(3030)]
    counts = spark_packing(sizes, 128 << 20, 4 << 20)
    assert len(counts) > 90 and max(counts) <= 32


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
