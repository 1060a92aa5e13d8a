"""``python -m orchard_bench.incremental``: an incremental run against a full one, on the scale sets.

Day 0 is a full run of 10,000 images (the scale mode's set of that size, uploaded to a fresh prefix
of the S3 server). Day 1 adds the next 1,000 images of the sequence, re-encodes 200 (new bytes, new
ETags) and deletes 100; the incremental run must keep every unchanged image's row bit for bit and
featurize only the 1,200 new and changed ones. A full run over the same 10,900 images gives the
wall time it is measured against (the issue's target: at most 20% of it). Each run's S3 requests
come from the server's access log (``--access-log``), by operation.

It prints; it asserts nothing about time. It fails only when the rows are wrong.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
import uuid
from pathlib import Path

from .scale import count_requests, log_size

DAY0 = 10_000
ADDED = 1_000
REENCODED = 200
DELETED = 100
TARGET_RATIO = 0.20


def day1_changes(paths: list[str]) -> tuple[list[str], list[str]]:
    """(re-encoded, deleted): spread evenly over day 0's sorted paths, disjoint."""
    picked = paths[::len(paths) // (REENCODED + DELETED)][:REENCODED + DELETED]
    return ([q for i, q in enumerate(picked) if i % 3 != 2][:REENCODED],
            [q for i, q in enumerate(picked) if i % 3 == 2][:DELETED])


def reencode(content: bytes) -> bytes:
    """The same photo saved again at another quality: other bytes, so another ETag."""
    from PIL import Image

    with Image.open(io.BytesIO(content)) as img:
        buf = io.BytesIO()
        img.convert("RGB").save(buf, "JPEG", quality=85)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="orchard_bench.incremental", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", required=True, help="the Fruits-360 sample the scale sets are made from")
    p.add_argument("--cache", required=True, help="where the scale sets are kept (the scale mode's cache)")
    p.add_argument("--prefix", required=True, help="s3a://bucket/folder: a fresh sub-folder is used per run")
    p.add_argument("--spark-conf", required=True, help="the SparkApplication's conf JSON: {sparkConf, hadoopConf}")
    p.add_argument("--model", required=True)
    p.add_argument("--size", type=int, default=100)
    p.add_argument("--pca-components", type=int, default=50)
    p.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    p.add_argument("--jars", default=os.environ.get("ORCHARD_JARS_DIR"))
    p.add_argument("--access-log", help="the S3 server's access log, to count requests per run")
    p.add_argument("--json", required=True)
    a = p.parse_args(argv)

    from orchard_featurize import spark_conf
    from orchard_featurize.job import Args, _hadoop_fs, _write_bytes, run

    from . import augment
    from .spark_local import local_session

    def say(text: str) -> None:
        sys.stderr.write(f"{text}\n")
        sys.stderr.flush()

    t0 = time.monotonic()
    sets = augment.ensure_sets(Path(a.source), [DAY0, DAY0 + ADDED], Path(a.cache))
    day0_local, all_local = sets[DAY0], sets[DAY0 + ADDED]
    day0_files = sorted(q.relative_to(day0_local).as_posix() for q in day0_local.rglob("*.jpg"))
    added_files = sorted(set(q.relative_to(all_local).as_posix() for q in all_local.rglob("*.jpg")) - set(day0_files))
    say(f"image sets ready in {time.monotonic() - t0:.0f} s: {len(day0_files)} + {len(added_files)}")

    base = f"{a.prefix.rstrip('/')}/{uuid.uuid4().hex[:8]}"
    images = f"{base}/images"
    conf = spark_conf.session_conf(json.loads(Path(a.spark_conf).read_text()))
    spark = local_session(a.cores, a.jars, "orchard-bench-incremental", conf=conf)
    report: dict = {"schema": "orchard.bench.incremental/v1", "cores": a.cores, "size": a.size, "model": a.model,
                    "pca_components": a.pca_components, "prefix": base, "runs": {}}
    try:
        t = time.monotonic()
        fs, dst = _hadoop_fs(spark, images)
        fs.copyFromLocalFile(False, True, spark.sparkContext._jvm.org.apache.hadoop.fs.Path(f"file://{day0_local}"),
                             dst)
        say(f"day 0 uploaded: {len(day0_files)} images in {time.monotonic() - t:.0f} s")

        def job(name: str, root: str, incremental: bool, **over) -> dict:
            before = log_size(a.access_log)
            t = time.monotonic()
            m = run(spark, Args(input=images, output=f"{root}/{{run}}", run_name=name, model=a.model,
                                image_size=a.size, pca_components=a.pca_components, incremental=incremental, **over))
            wall = time.monotonic() - t
            time.sleep(0.5)  # the server appends its log line after answering
            requests = count_requests(a.access_log, before, log_size(a.access_log))
            n = m["images"]["considered"]
            entry = {"wall_s": round(wall, 2), "images": n, "lineage": m["lineage"], "timings": m["timings"],
                     "requests": requests, "requests_per_image": {k: round(v / n, 3) for k, v in requests.items()},
                     "requests_per_image_total": round(sum(requests.values()) / n, 3)}
            report["runs"][name] = entry
            lin = m["lineage"]
            say(f"{name}: {wall:.1f} s, {lin['mode']}, reused {lin['images']['reused']}, featurized "
                f"{lin['images']['featurized']}, removed {lin['images']['removed']}; "
                f"{entry['requests_per_image_total']} S3 requests per image")
            say("  stages: " + ", ".join(f"{k.removesuffix('_s')} {v:.1f} s" for k, v in m["timings"].items()
                                         if k.endswith("_s") and k != "wall_s" and isinstance(v, (int, float))))
            return m

        say("warm-up: 200 images (untimed)")
        run(spark, Args(input=images, output=f"{base}/warmup/{{run}}", run_name="warmup", model=a.model,
                        image_size=a.size, pca_components=a.pca_components, limit=200, probe=False))
        job("day0", f"{base}/features", True)

        t = time.monotonic()
        reencoded, deleted = day1_changes(day0_files)
        for rel in added_files:
            _write_bytes(spark, f"{images}/{rel}", (all_local / rel).read_bytes())
        for rel in reencoded:
            _write_bytes(spark, f"{images}/{rel}", reencode((day0_local / rel).read_bytes()))
        for rel in deleted:
            fs.delete(spark.sparkContext._jvm.org.apache.hadoop.fs.Path(f"{images}/{rel}"), False)
        say(f"day 1: {len(added_files)} added, {len(reencoded)} re-encoded, {len(deleted)} deleted "
            f"in {time.monotonic() - t:.0f} s")

        m1 = job("day1", f"{base}/features", True)
        job("day1-full", f"{base}/full", False)

        # The rows: every unchanged image's features and pca as day 0 wrote them.
        from pyspark.sql import functions as F
        d0 = spark.read.parquet(f"{base}/features/day0").alias("d0")
        d1 = spark.read.parquet(f"{base}/features/day1").alias("d1")
        changed_paths = {f"{images}/{rel}" for rel in reencoded}
        unchanged = d0.join(d1, "path").where(~F.col("path").isin(list(changed_paths)))
        same = unchanged.where((F.col("d0.features") == F.col("d1.features")) & (F.col("d0.pca") == F.col("d1.pca")))
        changed = d0.join(d1, "path").where(F.col("path").isin(list(changed_paths)))
        checks = {"unchanged_rows": unchanged.count(), "bit_identical": same.count(),
                  "changed_rows_differ": changed.where(F.col("d0.features") != F.col("d1.features")).count(),
                  "day1_rows": m1["rows_written"],
                  "expected": {"reused": DAY0 - REENCODED - DELETED, "featurized": ADDED + REENCODED,
                               "removed": DELETED, "rows": DAY0 + ADDED - DELETED}}
        report["checks"] = checks
    finally:
        spark.stop()

    runs = report["runs"]
    ratio = runs["day1"]["wall_s"] / runs["day1-full"]["wall_s"]
    report["ratio_incremental_to_full"] = round(ratio, 4)
    Path(a.json).write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'run':<10} {'images':>7} {'mode':<12} {'reused':>7} {'featurized':>10} {'removed':>7} {'wall s':>8} "
          f"{'S3 req/img':>10}  by operation")
    for name, r in runs.items():
        lin = r["lineage"]["images"]
        ops = ", ".join(f"{k} {v:.2f}" for k, v in sorted(r["requests_per_image"].items(), key=lambda kv: -kv[1])
                        if v >= 0.005)
        print(f"{name:<10} {r['images']:>7,} {r['lineage']['mode']:<12} {lin['reused']:>7,} {lin['featurized']:>10,} "
              f"{lin['removed']:>7,} {r['wall_s']:>8.1f} {r['requests_per_image_total']:>10.2f}  {ops}")
    print(f"incremental / full over {DAY0 + ADDED - DELETED:,} images: {ratio:.1%} (target <= {TARGET_RATIO:.0%})")
    print(f"rows: {json.dumps(checks)}")
    exp = checks["expected"]
    got = runs["day1"]["lineage"]["images"]
    ok = (got == {k: exp[k] for k in ("reused", "featurized", "removed")} and checks["day1_rows"] == exp["rows"]
          and checks["unchanged_rows"] == exp["reused"] == checks["bit_identical"]
          and checks["changed_rows_differ"] == REENCODED)
    print("rows check: " + ("every unchanged row bit-identical, counts as expected" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
