"""Pure helpers for the job's metrics JSON, its output layout and its partition sizing."""

from __future__ import annotations

import math
import posixpath

# Output layout (documented in README): <output>/part-*.snappy.parquet + _SUCCESS, and the job's
# own side files under <output>/_orchard/, which Spark and Parquet readers skip (leading "_").
SIDE_DIR = "_orchard"
METRICS_FILE = "metrics.json"
PCA_MODEL_DIR = "pca-model"
# A Parquet file of ~20k rows x 8 KiB of features is ~170 MB: a sensible S3 object size.
ROWS_PER_OUTPUT_FILE = 20_000
# Images per inference task: enough batches to amortise a task, small enough to balance cores.
IMAGES_PER_TASK = 1024
# Open cost per file, in average file sizes: see inference_split_bytes.
OPEN_COST_FACTOR = 32


def side_path(output: str, *names: str) -> str:
    return posixpath.join(output.rstrip("/"), SIDE_DIR, *names)


def output_partitions(requested: int, rows: int) -> int:
    """--partitions if given, else one file per ROWS_PER_OUTPUT_FILE rows; a function of the data only."""
    if requested > 0:
        return requested
    return max(1, math.ceil(rows / ROWS_PER_OUTPUT_FILE))


def inference_split_bytes(total_bytes: int, files: int, parallelism: int) -> tuple[int, int]:
    """(maxPartitionBytes, openCostInBytes) so the binaryFile scan gives a multiple of ``parallelism``
    tasks holding about the same number of images.

    Spark packs files, largest first, into a task until it would pass maxPartitionBytes, counting
    each file as its size plus openCostInBytes; with the 4 MB default and 5 KB JPEGs every task would
    hold ~32 images. A model run costs the same for any JPEG size, so tasks must balance by count:
    an open cost of OPEN_COST_FACTOR average files makes size differences negligible. Two open costs
    of slack keep a last task of a few leftover images from appearing (the job also sets
    spark.sql.files.minPartitionNum to 1, so Spark's own per-core cap does not undo the slack).
    """
    files = max(1, files)
    avg = max(1, total_bytes // files)
    open_cost = avg * OPEN_COST_FACTOR
    tasks = max(1, math.ceil(files / IMAGES_PER_TASK))
    tasks = parallelism * math.ceil(tasks / max(1, parallelism))
    cost = total_bytes + files * open_cost
    return math.ceil(cost / tasks) + 2 * open_cost, open_cost


def build_metrics(*, input_uri: str, output_uri: str, found: int, considered: int, decoded: int,
                  failed: list[dict], rows_written: int, label_counts: dict[str, int],
                  pca: dict | None, files: list[dict], success: dict | None, timings: dict[str, float],
                  model: dict, versions: dict, args: dict, profile: dict | None = None,
                  probe: dict | None = None, featurized: int | None = None, lineage: dict | None = None) -> dict:
    """``featurized``: the images sent through the model (all considered ones unless an incremental
    run reused rows), which the inference rate divides by."""
    wall = timings.get("wall_s", 0.0)
    infer = timings.get("inference_s", 0.0)
    featurized = considered if featurized is None else featurized
    return {
        "schema": "orchard.featurize.metrics/v1",
        "input": input_uri,
        "output": output_uri,
        "images": {
            "found": found,
            "considered": considered,
            "decoded": decoded,
            "failed": len(failed),
            "failures": sorted(failed, key=lambda f: f["path"]),
        },
        "rows_written": rows_written,
        "label_counts": dict(sorted(label_counts.items())),
        "pca": pca,
        "probe": probe,
        **({"lineage": lineage} if lineage is not None else {}),
        "files": sorted(files, key=lambda f: f["name"]),
        "success_manifest": success,
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "profile": profile,
        "images_per_second": round(featurized / infer, 2) if infer > 0 else None,
        "images_per_second_wall": round(considered / wall, 2) if wall > 0 else None,
        "model": model,
        "versions": versions,
        "args": args,
    }
