"""``python -m orchard_bench.scale``: the scale mode of ``orchard bench`` (src/cli/bench.ts drives it).

    generate --source DIR --counts 1000,10000,90380 --cache DIR
        makes (once, cached) a folder of exactly N images per count, and prints {"sets": {N: folder}}
    run --input N=s3a://... [--input ...] --output-root s3a://... --spark-conf F --json F
        runs the job once per input in one local Spark session, through s3a:// with the deployed
        S3A settings, and prints time per stage and how it grows with N

The S3 server's access log (``--access-log``) is read between runs to count the requests each run
made, by operation: the small-files cost (one GET per image, and what else per image) in numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import time
import traceback
from collections import Counter
from pathlib import Path

from .console import split_output
from .summary import probe_cell, text_table

# The job's stages as the scale table names them: metrics.json "timings" key -> column. "commit" is
# taken out of the write stage: the S3A committer's own clock for commitJob, from _SUCCESS. The
# probe is a stage of its own, so that its cost at each N is read off, not hidden in "start".
STAGES = {"listing_s": "listing", "planning_s": "planning", "inference_s": "featurizing", "pca_s": "PCA",
          "probe_s": "probe", "write_s": "write", "commit_s": "commit", "verify_s": "verify"}
# A versitygw access-log line: "<owner> <bucket> [<time>] <ip> <requester> <request id> <operation> <key> ..."
_LOG_OPERATION = re.compile(r"^\S+ \S+ \[[^\]]*\] \S+ \S+ \S+ (\S+) ")


def count_requests(log_path: str | None, start: int, end: int) -> dict[str, int]:
    """Requests by S3 operation in bytes [start, end) of the server's access log."""
    if not log_path:
        return {}
    with open(log_path, "rb") as f:
        f.seek(start)
        chunk = f.read(end - start).decode("utf-8", "replace")
    ops = Counter(m.group(1).removeprefix("s3_") for m in map(_LOG_OPERATION.match, chunk.splitlines()) if m)
    return dict(sorted(ops.items()))


def log_size(log_path: str | None) -> int:
    return os.path.getsize(log_path) if log_path and os.path.exists(log_path) else 0


def commit_seconds(success_manifest: dict | None) -> float:
    """commitJob's duration as the S3A committer measured it (its IOStatistics in _SUCCESS)."""
    ms = ((success_manifest or {}).get("iostatistics") or {}).get("maximums", {}).get("committer_commit_job.max", -1)
    return ms / 1000 if ms and ms > 0 else 0.0


def stage_rows(runs: list[dict]) -> list[dict]:
    """Per run: seconds per stage, the rest of the wall time as ``start``, and per-image costs."""
    out = []
    for r in runs:
        t = dict(r["timings"])
        t["commit_s"] = commit_seconds(r.get("success_manifest"))
        t["write_s"] = max(0.0, t.get("write_s", 0.0) - t["commit_s"])
        stages = {name: t.get(key, 0.0) for key, name in STAGES.items()}
        n = r["images"]
        fixed = t["wall_s"] - stages["featurizing"]
        out.append({
            "images": n, "wall_s": t["wall_s"], "stages": stages,
            "start_s": max(0.0, t["wall_s"] - sum(stages.values())),
            "images_per_second": n / t["wall_s"], "featurizing_images_per_second": n / stages["featurizing"],
            "outside_featurizing_s": fixed, "tasks": r["profile"]["tasks"] if r.get("profile") else None,
            "requests": r.get("requests", {}),
            "requests_per_image": {op: c / n for op, c in r.get("requests", {}).items()},
            "probe": probe_summary(r.get("probe"), stages["probe"], t["wall_s"]),
        })
    return out


def probe_summary(probe: dict | None, seconds: float, wall_s: float) -> dict | None:
    """The probe's accuracy on its held-out images and its share of the wall time; None when it did
    not run, and the reason when it was skipped."""
    if not probe:
        return None
    if "top1" not in probe:
        return {"skipped": probe.get("skipped")}
    return {"features": probe["features"], "width": probe["width"], "train_images": probe["train_images"],
            "test_images": probe["test_images"], "top1": probe["top1"], "top5": probe["top5"],
            "chance_top1": probe["chance_top1"], "seconds": seconds, "share_of_wall": seconds / wall_s}


def render(rows: list[dict]) -> str:
    head = ["images", "tasks", "wall s", *STAGES.values(), "start", "img/s", "featurizing img/s",
            "probe top-1 / top-5 (held out)", "probe % of wall", "S3 requests per image"]
    lines = []
    for r in rows:
        per, q = r["requests_per_image"], r.get("probe")
        reqs = ", ".join(f"{op} {v:.2f}" for op, v in sorted(per.items(), key=lambda kv: -kv[1]) if v >= 0.005) or "-"
        lines.append([f"{r['images']:,}", str(r["tasks"] or "-"), f"{r['wall_s']:.1f}",
                      *(f"{r['stages'][s]:.2f}" for s in STAGES.values()), f"{r['start_s']:.2f}",
                      f"{r['images_per_second']:.1f}", f"{r['featurizing_images_per_second']:.1f}",
                      probe_cell(q), f"{100 * q['share_of_wall']:.1f}%" if q and "share_of_wall" in q else "-", reqs])
    return text_table(head, lines, left=(len(head) - 3, len(head) - 1))


class StageProgress:
    """While a run goes, prints its inference tasks done out of all, at each tenth (or each tick on a terminal)."""

    def __init__(self, spark, out, label: str) -> None:
        self.tracker, self.out, self.label = spark.sparkContext.statusTracker(), out, label
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = time.monotonic()

    def _run(self) -> None:
        last = -1
        while not self._stop.wait(2.0):
            done = total = 0
            for sid in self.tracker.getActiveStageIds():
                info = self.tracker.getStageInfo(sid)
                if info and info.numTasks > total:
                    done, total = info.numCompletedTasks, info.numTasks
            if total >= 4 and (self.out.isatty() or done * 10 // total != last):
                last = done * 10 // total
                self.out.write(f"       {self.label}: {done}/{total} tasks of the running stage  "
                               f"({time.monotonic() - self._t0:.0f}s)\n")
                self.out.flush()

    def __enter__(self) -> StageProgress:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _generate(a) -> int:
    from . import augment

    t0 = time.monotonic()
    sets = augment.ensure_sets(Path(a.source), a.counts, Path(a.cache))
    print(json.dumps({"sets": {str(n): str(p) for n, p in sets.items()}, "seconds": round(time.monotonic() - t0, 1)}))
    return 0


def _run(a, ui) -> int:
    from orchard_featurize import spark_conf
    from orchard_featurize.job import Args, _hadoop_fs, _read_text, run

    from .job_case import warmup_images
    from .spark_local import local_session

    app_conf = json.loads(Path(a.spark_conf).read_text())
    spark = local_session(a.cores, a.jars, "orchard-bench-scale", conf=spark_conf.session_conf(app_conf))
    runs = []
    try:
        smallest = min(a.inputs)
        ui.write(f"warm-up: {warmup_images(a.cores)} images of {a.inputs[smallest]} (untimed)\n")
        run(spark, Args(input=a.inputs[smallest], output=f"{a.output_root}/warmup", model=a.model,
                        image_size=a.size, limit=warmup_images(a.cores), pca_components=a.pca_components))
        for n in sorted(a.inputs):
            label = f"{n:,} images"
            ui.write(f"{label}: {a.inputs[n]} -> {a.output_root}/n{n}\n")
            before = log_size(a.access_log)
            with StageProgress(spark, ui, label):
                m = run(spark, Args(input=a.inputs[n], output=f"{a.output_root}/n{n}", model=a.model,
                                    image_size=a.size, pca_components=a.pca_components))
            if m["images"]["decoded"] != n:
                raise RuntimeError(f"{a.inputs[n]}: the job decoded {m['images']['decoded']} of {n} images "
                                   f"(first failure: {m['images']['failures'][:1]})")
            time.sleep(0.5)  # the server appends its log line after answering
            success = _read_text(spark, f"{a.output_root}/n{n}/_SUCCESS")
            runs.append({"images": n, "input": a.inputs[n], "timings": m["timings"], "profile": m.get("profile"),
                         "probe": m.get("probe"),
                         "files": m["files"], "success_manifest": json.loads(success) if success else None,
                         "requests": count_requests(a.access_log, before, log_size(a.access_log))})
            t = m["timings"]
            ui.write(f"{label}: {t['wall_s']:.1f} s, {n / t['wall_s']:.1f} img/s "
                     f"(featurizing {n / t['inference_s']:.1f} img/s); probe {probe_cell(m.get('probe'))} "
                     f"in {t.get('probe_s', 0.0):.1f} s\n")
            fs, path = _hadoop_fs(spark, f"{a.output_root}/n{n}")
            fs.delete(path, True)  # the next bench run starts from the same bucket
    finally:
        spark.stop()
    rows = stage_rows(runs)
    report = {"schema": "orchard.bench.scale/v1", "cores": a.cores, "size": a.size, "model": a.model,
              "pca_components": a.pca_components, "runs": runs, "rows": rows, "table": render(rows)}
    Path(a.json).write_text(json.dumps(report, indent=2) + "\n")
    sys.stdout.write(report["table"])
    return 0


def _inputs(values: list[str]) -> dict[int, str]:
    out = {}
    for v in values:
        n, sep, uri = v.partition("=")
        if not sep or not n.isdigit() or not uri.startswith("s3a://"):
            raise argparse.ArgumentTypeError(f"--input {v!r}: give N=s3a://bucket/prefix, N the images under it")
        out[int(n)] = uri.rstrip("/")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="orchard_bench.scale", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--source", required=True)
    g.add_argument("--counts", required=True, type=lambda s: [int(x) for x in s.split(",") if x])
    g.add_argument("--cache", required=True)
    r = sub.add_parser("run")
    r.add_argument("--input", action="append", required=True, dest="inputs")
    r.add_argument("--output-root", required=True)
    r.add_argument("--spark-conf", required=True, help="the SparkApplication's conf JSON: {sparkConf, hadoopConf}")
    r.add_argument("--model", required=True)
    r.add_argument("--size", type=int, default=224)
    r.add_argument("--pca-components", type=int, default=50)
    r.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    r.add_argument("--jars", default=os.environ.get("ORCHARD_JARS_DIR"))
    r.add_argument("--access-log", help="the S3 server's access log, to count requests per run")
    r.add_argument("--json", required=True)
    r.add_argument("--log", help="Spark's and the job's logs (default: beside --json)")
    a = p.parse_args(argv)
    if a.command == "generate":
        return _generate(a)
    try:
        a.inputs = _inputs(a.inputs)
    except argparse.ArgumentTypeError as e:
        p.error(str(e))
    if not a.jars:
        p.error("--jars: the S3A jars folder (setup.sh's ORCHARD_JARS_DIR) is needed for s3a://")
    json_path = Path(a.json)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    log_path = Path(a.log) if a.log else json_path.with_suffix(".log")
    ui = split_output(log_path)
    try:
        return _run(a, ui)
    except Exception as e:
        traceback.print_exc()
        ui.write(f"\nerror: {type(e).__name__}: {e}\n  the full traceback and Spark's log are in {log_path}\n")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
