"""Quick throughput numbers on this machine: the job on the Fruits-360 sample at 224 and 100 px.

    source ~/.cache/orchard/setup.env && $ORCHARD_PYTHON_BIN spark-images/bench_quick.py [--limit 600]
Prints one JSON line per size; also the pure model throughput (no Spark) for comparison.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--limit", type=int, default=600)
    p.add_argument("--model", default=os.environ.get("ORCHARD_TEST_MODEL"), required="ORCHARD_TEST_MODEL" not in os.environ)
    p.add_argument("--input", default=str(HERE.parent.parent / "shared" / "data" / "fruits-360" / "Training"))
    p.add_argument("--sizes", default="224,100")
    a = p.parse_args()
    import numpy as np

    from orchard_featurize import images
    from orchard_featurize.model import Model

    files = sorted(Path(a.input).glob("*/*.jpg"))[:256]
    raws = [f.read_bytes() for f in files]
    for size in map(int, a.sizes.split(",")):
        m = Model(a.model, os.cpu_count() or 1)
        batch, _, _ = images.decode_batch(raws[:64], size)
        m.infer(batch[:8])
        t0 = time.monotonic()
        m.infer(batch, max_batch=32)
        dt = time.monotonic() - t0
        print(json.dumps({"bench": "onnxruntime-only", "size": size, "threads": os.cpu_count(),
                          "images_per_second": round(len(batch) / dt, 2)}), flush=True)

    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # Local Spark binds to the host's first interface otherwise; everything local stays on loopback.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    from orchard_featurize.job import Args, run

    t0 = time.monotonic()
    spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false").config("spark.driver.memory", "4g").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    print(json.dumps({"bench": "spark_start", "seconds": round(time.monotonic() - t0, 2)}), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for size in map(int, a.sizes.split(",")):
            m = run(spark, Args(input=a.input, output=f"{tmp}/out{size}", model=a.model, image_size=size,
                                limit=a.limit, batch_size=32))
            print(json.dumps({"bench": "job", "size": size, "images": m["images"]["considered"],
                              "images_per_second": m["images_per_second"],
                              "images_per_second_wall": m["images_per_second_wall"],
                              "timings": m["timings"]}), flush=True)
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
