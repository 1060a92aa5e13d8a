"""Case 1: the real job (orchard_featurize.job.run) end to end in Spark local mode, file:// in, Parquet out."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import fields

from orchard_featurize.job import Args, run

from .spark_local import WorkerMemory, local_session

# The job's own default, so the bench measures what a SparkApplication runs.
BATCH_SIZE = next(f.default for f in fields(Args) if f.name == "batch_size")


def warmup_images(cores: int, batch_size: int = BATCH_SIZE) -> int:
    """Enough images for every core's Python worker to start and load the model once, untimed."""
    return 2 * cores * batch_size


def measure_job(*, input_dir: str, images: int, model: str, model_label: str, size: int, runs: int,
                cores: int, jars_dir: str | None, on_run: Callable[[int, float], None]) -> dict:
    """Runs of the job over ``input_dir`` (``images`` images), on a fresh session, so its Python
    workers hold this model only and their memory is this case's."""
    spark = local_session(cores, jars_dir, f"orchard-bench-job-{model_label}-{size}")
    tmp = tempfile.mkdtemp(prefix="orchard-bench-job-")
    try:
        def once(limit: int, i: int) -> dict:
            return run(spark, Args(input=input_dir, output=f"{tmp}/out-{i}", model=model, image_size=size,
                                   limit=limit, batch_size=BATCH_SIZE))

        warmup = warmup_images(cores)
        once(warmup if warmup < images else 0, 0)
        ips, inference, timings, profiles, quality = [], [], [], [], None
        with WorkerMemory() as memory:
            for i in range(1, runs + 1):
                m = once(0, i)  # input_dir holds exactly the bench's images
                if m["images"]["decoded"] != images:
                    raise RuntimeError(f"the job decoded {m['images']['decoded']} of {images} images at {size} px "
                                       f"(first failure: {m['images']['failures'][:1]}): the bench needs clean images")
                # Where a run's time goes: the stages, and inside inference the tasks' own phases.
                timings.append(m["timings"])
                profiles.append(m["profile"])
                quality = m["probe"]  # the same split and features every run: one is enough
                ips.append(images / m["timings"]["wall_s"])
                inference.append(m["images_per_second"])
                shutil.rmtree(f"{tmp}/out-{i}", ignore_errors=True)
                on_run(i, ips[-1])
    finally:
        spark.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return {"case": "job", "label": f"job {model_label}", "model": model_label, "size": size, "images": images,
            "runs": ips, "inference_runs": inference, "timings": timings, "profiles": profiles, "local_cores": cores,
            "batch_size": BATCH_SIZE, "probe": quality, "worker_rss_peak_bytes": memory.peak_total,
            "worker_rss_max_one_bytes": memory.peak_one}
