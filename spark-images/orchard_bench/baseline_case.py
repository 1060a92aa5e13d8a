"""Case 3: the baseline, the classic P8 notebook's featurization as it was written.

Keras ``ResNet50(include_top=False, weights=None, pooling="avg")`` built on the driver, its
``get_weights()`` broadcast with ``sc.broadcast``, and a Series-to-Series pandas UDF that, for every
Arrow batch, builds a fresh ResNet50, copies the broadcast weights into it, decodes and resizes each
image with PIL to 224x224, applies Keras ``preprocess_input`` and calls ``model.predict``. The
images come from ``binaryFile`` with Spark's default partitioning, the result is written as Parquet.
TensorFlow keeps its own defaults (every core per worker), as the notebook did. Weights are random:
same architecture, same cost, and nothing is downloaded.
"""

# No `from __future__ import annotations`: PySpark reads the pandas UDF's type hints as real types
# to pick the Series-to-Series flavour.
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from orchard_featurize.images import has_image_extension

from .spark_local import WorkerMemory, local_session

# The notebook's input size: ResNet50's ImageNet resolution, whatever the photo's size.
SIZE = 224
# The Arrow batch of the Databricks featurization notebook that P8 follows: a model is built per
# batch of at most this many images (fewer when a task holds fewer files).
MAX_RECORDS_PER_BATCH = 1024


def _featurize_udf(spark):
    import io

    import numpy as np
    from PIL import Image
    from pyspark.sql.functions import pandas_udf
    from tensorflow.keras.applications.resnet50 import ResNet50, preprocess_input
    from tensorflow.keras.preprocessing.image import img_to_array

    model = ResNet50(include_top=False, weights=None, pooling="avg")
    bc_model_weights = spark.sparkContext.broadcast(model.get_weights())

    def model_fn():
        m = ResNet50(include_top=False, weights=None, pooling="avg")
        m.set_weights(bc_model_weights.value)
        return m

    def preprocess(content):
        img = Image.open(io.BytesIO(content)).resize([SIZE, SIZE])
        return preprocess_input(img_to_array(img))

    def featurize_series(m, content_series):
        batch = np.stack(content_series.map(preprocess))
        preds = m.predict(batch, verbose=0)
        return pd.Series([p.flatten() for p in preds])

    @pandas_udf("array<float>")
    def featurize_udf(content_series: pd.Series) -> pd.Series:
        return featurize_series(model_fn(), content_series)

    return featurize_udf, bc_model_weights


def measure_baseline(*, input_dir: str, images: int, runs: int, cores: int, jars_dir: str | None,
                     warmup: int, on_run: Callable[[int, float], None]) -> dict:
    from pyspark.sql import functions as F

    spark = local_session(cores, jars_dir, "orchard-bench-p8-baseline",
                          {"spark.sql.execution.arrow.maxRecordsPerBatch": str(MAX_RECORDS_PER_BATCH)})
    tmp = tempfile.mkdtemp(prefix="orchard-bench-p8-")
    paths = sorted(str(p) for p in Path(input_dir).rglob("*") if p.is_file() and has_image_extension(p.name))
    try:
        udf, weights = _featurize_udf(spark)

        def once(source: str | list[str], i: int) -> float:
            t0 = time.monotonic()
            df = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(source)
            features = df.select(F.col("path"), F.element_at(F.split("path", "/"), -2).alias("label"),
                                     udf("content").alias("features"))
            features.write.mode("overwrite").parquet(f"{tmp}/out-{i}")
            seconds = time.monotonic() - t0
            shutil.rmtree(f"{tmp}/out-{i}", ignore_errors=True)
            return seconds

        once(paths[:warmup], 0)
        ips = []
        with WorkerMemory() as memory:
            for i in range(1, runs + 1):
                ips.append(images / once(input_dir, i))
                on_run(i, ips[-1])
        weights.destroy()
    finally:
        spark.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return {"case": "baseline", "label": "P8 baseline (Keras, broadcast weights)", "model": "keras-fp32",
            "size": SIZE, "images": images, "runs": ips, "local_cores": cores,
            "max_records_per_batch": MAX_RECORDS_PER_BATCH, "worker_rss_peak_bytes": memory.peak_total,
            "worker_rss_max_one_bytes": memory.peak_one}
