"""``python -m orchard_bench``: run the cases, print progress and the table, write the JSON report.

    source ~/.cache/orchard/setup.env && cd spark-images && $ORCHARD_PYTHON_BIN -m orchard_bench \
        --input ../../shared/data/fruits-360/Training --images 1000 --runs 3 --json /tmp/bench.json

``orchard bench`` (src/cli/bench.ts) runs this with the same flags. Progress goes to stderr, the table
to stdout; Spark's and the job's own logs go to --log, so neither hides the progress.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from .console import split_output

CASES = ("ort", "job", "baseline", "peak", "settings")
# "settings" (ONNX Runtime's layout, batch and optimization alternatives) only when asked for.
DEFAULT_CASES = CASES[:4]
MODELS = ("fp32", "int8")
EXIT_USAGE = 2


class Progress:
    """``[ 3/14] job int8 224 px  run 1/3  41.2 img/s``; on a terminal the running step ticks its elapsed time."""

    def __init__(self, out, total: int) -> None:
        self.out, self.total, self.done = out, total, 0
        self.tty = out.isatty()
        self._label, self._t0 = "", 0.0
        self._stop = threading.Event()
        if self.tty:
            threading.Thread(target=self._tick, daemon=True).start()

    def _write(self, text: str, final: bool) -> None:
        self.out.write(("\r\x1b[K" if self.tty else "") + text + ("\n" if final or not self.tty else ""))
        self.out.flush()

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            if self._label:
                self._write(f"{self._head()} {self._label}  {time.monotonic() - self._t0:.0f}s", final=False)

    def _head(self) -> str:
        w = len(str(self.total))
        return f"[{self.done + 1:>{w}}/{self.total}]"

    def start(self, label: str) -> None:
        self._label, self._t0 = label, time.monotonic()
        if not self.tty:
            self._write(f"{self._head()} {label} ...", final=True)

    def run_done(self, label: str, text: str) -> None:
        self._label = ""
        self._write(f"{self._head()} {label}  {text}  ({time.monotonic() - self._t0:.0f}s)", final=True)
        self.done += 1
        self._t0 = time.monotonic()

    def note(self, text: str) -> None:
        self._write(f"       {text}", final=True)

    def close(self) -> None:
        self._stop.set()


def bench_files(root: Path, n: int) -> list[Path]:
    """The first ``n`` images by path: the same ones the job's --limit takes."""
    from orchard_featurize import images

    files = sorted(p for p in root.rglob("*") if p.is_file() and images.has_image_extension(p.name))
    if len(files) < n:
        raise ValueError(f"--images {n}: {root} holds {len(files)} images; pass --images {len(files)} or less, "
                         "or a larger --input")
    return files[:n]


def stage_images(files: list[Path], root: Path, into: Path) -> Path:
    """Copies of ``files`` under ``into`` with their <Class>/<image> layout, so the job and the baseline
    list and read exactly the bench's images, as a production job does its input (the job's --limit
    would still list every file of a larger folder)."""
    for f in files:
        target = into / f.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, target)
    return into


def parse(argv: list[str] | None):
    p = argparse.ArgumentParser(prog="orchard_bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", required=True, help="folder of images, <Class>/<image>.jpg")
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--cases", default=",".join(DEFAULT_CASES), help=f"subset of {','.join(CASES)}")
    p.add_argument("--models", default=",".join(MODELS), help=f"subset of {','.join(MODELS)}")
    p.add_argument("--sizes", default="224,100", help="model input sizes in px")
    p.add_argument("--model", default=os.environ.get("ORCHARD_TEST_MODEL"), help="fp32 ONNX model")
    p.add_argument("--calibration", help="real images to calibrate the int8 model on (default: --input)")
    p.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="local[N] and ONNX Runtime processes")
    p.add_argument("--jars", default=os.environ.get("ORCHARD_JARS_DIR"), help="S3A jars folder (setup.sh)")
    p.add_argument("--json", required=True, help="where to write the report")
    p.add_argument("--log", help="Spark's and the job's logs (default: beside --json)")
    a = p.parse_args(argv)
    a.cases = [c for c in a.cases.split(",") if c]
    a.models = [m for m in a.models.split(",") if m]
    try:
        a.sizes = [int(s) for s in a.sizes.split(",") if s]
    except ValueError:
        p.error(f"--sizes {a.sizes!r}: give pixel sizes separated by commas, e.g. 224,100")
    bad = [c for c in a.cases if c not in CASES] + [m for m in a.models if m not in MODELS]
    if bad or not a.cases or not a.models or not a.sizes:
        p.error(f"unknown or empty --cases/--models {bad}: cases are {','.join(CASES)}, models {','.join(MODELS)}")
    if a.images < 1 or a.runs < 1 or a.cores < 1 or any(not 32 <= s <= 1024 for s in a.sizes):
        p.error("--images, --runs and --cores must be >= 1 and --sizes within 32..1024")
    if not a.model or not Path(a.model).is_file():
        p.error(f"--model {a.model}: no fp32 model there; run spark-images/setup.sh (it builds one) and "
                "source ~/.cache/orchard/setup.env, or pass --model")
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse(argv)
    try:
        files = bench_files(Path(a.input), a.images)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    json_path = Path(a.json)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    log_path = Path(a.log) if a.log else json_path.with_suffix(".log")
    ui = split_output(log_path)
    staged = stage_images(files, Path(a.input), Path(tempfile.mkdtemp(prefix="orchard-bench-images-")))
    try:
        return _run(a, files, staged, json_path, log_path, ui)
    except Exception as e:
        traceback.print_exc()
        ui.write(f"\nerror: {type(e).__name__}: {e}\n  the full traceback and Spark's log are in {log_path}\n")
        return 1
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def _run(a, files: list[Path], staged: Path, json_path: Path, log_path: Path, ui) -> int:
    from orchard_featurize import quantize

    from . import flops, summary

    staged_files = bench_files(staged, len(files))
    sizes = sorted(set(a.sizes), reverse=True)
    image_cases = [c for c in ("ort", "job", "settings") if c in a.cases]
    from .job_case import BATCH_SIZE
    from .ort_case import settings_grid

    grid = settings_grid(a.cores, BATCH_SIZE)
    total = (sum(a.runs for c in image_cases if c != "settings" for _ in a.models for _ in sizes)
             + (a.runs if "baseline" in a.cases else 0) + (a.runs if "peak" in a.cases else 0)
             + (a.runs * len(grid) if "settings" in a.cases else 0))
    progress = Progress(ui, total)
    ui.write(f"orchard bench: {len(files)} images from {a.input}, {a.runs} run(s) per case, {a.cores} cores; "
             f"logs in {log_path}\n")

    import onnx

    models = {"fp32": a.model}
    if "int8" in a.models and image_cases:
        t0 = time.monotonic()
        progress.note("int8 model: quantizing (cached after the first build) ...")
        models["int8"] = quantize.cached_int8(a.model, a.calibration or a.input, quantize.default_cache())
        progress.note(f"int8 model: {models['int8']} ({time.monotonic() - t0:.0f}s)")
    fp32_graph = onnx.load(a.model)
    macs = {str(s): flops.graph_macs(fp32_graph, s, s) for s in sorted(set(sizes) | {224})}
    del fp32_graph

    def on_run(label: str):
        return lambda i, ips: progress.run_done(label, f"run {i}/{a.runs}  {ips:.1f} img/s")

    cases: list[dict] = []
    decode: dict[str, float] = {}
    features: dict[tuple[str, int], object] = {}
    if "ort" in a.cases:
        from .ort_case import decode_tensors, measure_ort

        for size in sizes:
            tensors, seconds = decode_tensors(staged_files, size)
            decode[str(size)] = len(files) / seconds
            progress.note(f"decode + resize to {size} px on one core: {decode[str(size)]:.0f} img/s")
            for m in a.models:
                label = f"ONNX Runtime alone {m} {size} px"
                progress.start(label)
                result, feats = measure_ort(tensors=tensors, model=models[m], model_label=m, size=size, runs=a.runs,
                                            processes=a.cores, threads=1, batch=BATCH_SIZE, on_run=on_run(label))
                cases.append(result)
                features[(m, size)] = feats
            del tensors
    if "settings" in a.cases:
        from .ort_case import decode_tensors, measure_ort

        # The job's default precision at its default size: where a setting would pay off.
        m, size = ("int8" if "int8" in models else "fp32"), max(sizes)
        tensors, _ = decode_tensors(staged_files, size)
        for g in grid:
            label = (f"ONNX Runtime {m} {size} px: {g['processes']} process(es) x {g['threads']} thread(s), "
                     f"batch {g['batch']}, optimization {g['optimization']}")
            progress.start(label)
            result, _ = measure_ort(tensors=tensors, model=models[m], model_label=m, size=size, runs=a.runs,
                                    processes=g["processes"], threads=g["threads"], batch=g["batch"],
                                    optimization=g["optimization"], on_run=on_run(label))
            cases.append({**result, "case": "settings", "label": label, "is_job_setting": g == grid[0]})
        del tensors
    if "job" in a.cases:
        from .job_case import measure_job

        for size in sizes:
            for m in a.models:
                label = f"job {m} {size} px"
                progress.start(label)
                cases.append(measure_job(input_dir=str(staged), images=len(files), model=models[m], model_label=m,
                                         size=size, runs=a.runs, cores=a.cores, jars_dir=a.jars, on_run=on_run(label)))
    if "baseline" in a.cases:
        from .baseline_case import measure_baseline
        from .job_case import warmup_images

        label = "P8 baseline (Keras) 224 px"
        progress.start(label)
        cases.append(measure_baseline(input_dir=str(staged), images=len(files), runs=a.runs, cores=a.cores,
                                      jars_dir=a.jars, warmup=min(len(files), warmup_images(a.cores)),
                                      on_run=on_run(label)))
    if "peak" in a.cases:
        peaks = []
        for i in range(1, a.runs + 1):
            progress.start("fp32 matmul peak")
            peaks.append(flops.matmul_flops(threads=a.cores))
            progress.run_done("fp32 matmul peak", f"run {i}/{a.runs}  {peaks[-1]['peak'] / 1e9:.1f} GFLOP/s "
                              f"(numpy {peaks[-1]['numpy'] / 1e9:.1f}, "
                              f"ONNX Runtime {peaks[-1]['onnxruntime'] / 1e9:.1f})")
        cases.append({"case": "peak", "runs": [p["peak"] for p in peaks], "by_library": peaks,
                      "matrix": flops.PEAK_MATRIX})
    progress.close()

    report = {
        "schema": "orchard.bench/v1",
        "machine": {"cores": a.cores, "cpu_count": os.cpu_count(), "cpu": _cpu_model(),
                    "python": platform.python_version(), "load_average_end": list(os.getloadavg())},
        "settings": {"input": str(Path(a.input).resolve()), "images": len(files), "runs": a.runs, "cases": a.cases,
                     "models": {k: v for k, v in models.items() if k in a.models}, "sizes": sizes},
        "macs": macs,
        "decode_images_per_second_one_core": decode,
        "fidelity": _fidelity(features, files, a.calibration or a.input),
        "quality": _quality(features, files),
        "cases": cases,
    }
    report["rows"] = summary.rows(report)
    report["table"] = summary.render_table(report["rows"])
    report["settings_table"] = summary.render_settings([c for c in cases if c["case"] == "settings"])
    report["time_rows"] = summary.time_rows(report)
    report["time_table"] = summary.render_time_table(report["time_rows"]) if report["time_rows"] else ""
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    sys.stdout.write(report["table"])
    if report["settings_table"]:
        sys.stdout.write("\nONNX Runtime settings, one change at a time from the job's (first row)\n"
                         + report["settings_table"])
    if report["time_table"]:
        sys.stdout.write("\nwhere the job's time goes (its median run, seconds)\n" + report["time_table"])
    ui.write(f"report: {json_path}\n")
    return 0


def _fidelity(features: dict, files: list[Path], calibration_root: str) -> dict:
    """int8 vs fp32 cosine per size, on the bench images that were not used to calibrate."""
    from orchard_featurize import quantize

    calibrated = {f.resolve() for f in quantize.calibration_files(calibration_root)}
    keep = [i for i, f in enumerate(files) if f.resolve() not in calibrated]
    out = {}
    for (m, size), int8 in features.items():
        fp32 = features.get(("fp32", size))
        if m != "int8" or fp32 is None or not keep:
            continue
        cos = quantize.cosine_rows(fp32[keep], int8[keep])
        out[str(size)] = {"min": float(cos.min()), "mean": float(cos.mean()), "images": len(keep),
                          "source": "images not used for calibration"}
    return out


def _quality(features: dict, files: list[Path]) -> dict:
    """The job's linear probe (same classifier, same split) on each model and size's features of the
    bench images, by "<model>/<size>": what each precision and size costs in accuracy, beside its speed."""
    from collections import Counter

    from orchard_featurize import probe

    labels = [f.parent.name for f in files]
    reason = probe.skip_reason(dict(Counter(labels)))
    out = {}
    for (m, size), feats in features.items():
        try:
            if reason:
                raise ValueError(reason)
            measured = probe.measure(feats, labels, [str(f) for f in files])
            kept = ("top1", "top5", "chance_top1", "test_images", "train_images")
            out[f"{m}/{size}"] = {k: measured[k] for k in kept}
        except ValueError as e:
            out[f"{m}/{size}"] = {"skipped": str(e)}
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    raise SystemExit(main())
