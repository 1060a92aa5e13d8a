"""The Spark side: wires the pure functions (images, model, metrics) into one feature-extraction run.

Flow: list images once (binaryFile's file index: count and bytes without reading a file) -> fail
fast on an empty prefix -> size the scan's tasks -> infer in an iterator-of-batches pandas UDF
(decode + resize + ONNX Runtime, timed per phase), cached -> count by label and list failures
-> PCA with numpy over Arrow batches (fit once, or reuse a saved model) -> linear probe of the
features against the class folders (ridge, sums per task, solved on the driver) -> sort by path,
fixed partitioning, overwrite as snappy Parquet through whatever committer the session is
configured with (S3A magic on s3a://) -> save the PCA model, the images' identity and the metrics JSON
under <output>/_orchard/, then the root's pointer to the newest dataset.

Incremental runs (--incremental, docs/incremental.md) list the input with ETags, find the parent
dataset from S3 alone, keep its rows of unchanged images and send only new and changed ones
through the model; the decisions are lineage.py's pure functions.
"""


# No `from __future__ import annotations` here: PySpark reads the pandas UDF's type hints as
# real types to pick the iterator-of-batches flavour.
import argparse
import json
import os
import platform
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from . import images, lineage, listing, live, metrics, pca, probe, profile
from .logs import log
from .model import FEATURE_DIM, inspect

# Where the image holds the job and the models: image_layout.json, beside this file, is the one
# definition, read here, by src/spark/application.ts and as the Dockerfile's build arguments.
IMAGE_LAYOUT = json.loads(Path(__file__).with_name("image_layout.json").read_text())
# The image's int8 model, the job's default precision; fp32 sits beside it.
DEFAULT_MODEL = f"{IMAGE_LAYOUT['IMAGE_MODEL_DIR']}/{IMAGE_LAYOUT['IMAGE_MODEL_INT8']}"
# Partial PCA sums sent to the driver, at most, and the rows each task sums at once (see _fit_pca).
PCA_PARTIALS = 4
PCA_BLOCK_ROWS = 4096
LISTING_THRESHOLD_KEY = "spark.sql.sources.parallelPartitionDiscovery.threshold"
# Up to this many folders under the input, the driver lists them itself; one request each, so
# beyond it (thousands of classes) a listing job on the executors is the faster one.
DRIVER_LISTED_FOLDERS = 1024


class JobError(Exception):
    """A condition the user must fix; the message names the URI and the fix."""


# What S3A and the AWS SDK v1 throw once S3 stops answering (refused, silent or unknown host, 5xx),
# as they appear in a Java stack trace that py4j passes on.
S3_UNAVAILABLE_MARKERS = (
    "Unable to execute HTTP request", "Connection refused", "ConnectTimeoutException", "SocketTimeoutException",
    "UnknownHostException", "NoHttpResponseException", "AWSStatus500Exception", "AWSServiceThrottledException",
)
RETRY_SETTINGS = ("fs.s3a.retry.limit", "fs.s3a.retry.interval")
S3A_SETTINGS = ("fs.s3a.endpoint", "fs.s3a.connection.ssl.enabled", "fs.s3a.endpoint.region", *RETRY_SETTINGS)


def s3_unavailable_cause(trace: str) -> str | None:
    """The line of a Java stack trace that says S3 did not answer; None when something else failed."""
    if "org.apache.hadoop.fs.s3a" not in trace:
        return None
    causes = [line.strip() for line in trace.splitlines() if any(m in line for m in S3_UNAVAILABLE_MARKERS)]
    # The deepest cause is the most specific: "Connect to host:port failed: Connection refused".
    return causes[-1].removeprefix("Caused by: ")[:300] if causes else None


def s3_unavailable_message(trace: str, endpoint: str, retry: dict[str, str | None]) -> str | None:
    """The run's failure in words, when S3 not answering caused it; None for any other failure."""
    cause = s3_unavailable_cause(trace)
    if cause is None:
        return None
    limit, interval = (retry.get(k) or "default" for k in RETRY_SETTINGS)
    return (f"S3 at {endpoint} did not answer, and S3A gave up after its retries ({RETRY_SETTINGS[0]} {limit}, "
            f"{RETRY_SETTINGS[1]} {interval}): {cause}. Nothing of this run was committed. Once S3 answers the pods "
            "again, the SparkApplication's restartPolicy runs the job again (or rerun it); docs/configuration.md "
            "says how long an outage the job rides out")


def output_s3a_settings(spark, output: str) -> dict[str, str | None]:
    """The S3A settings that name the endpoint and its retries, as the output bucket's filesystem
    holds them (with any per-bucket ones applied); none for an output outside S3A."""
    if not output.startswith("s3a://"):
        return {}
    conf = _hadoop_fs(spark, "/".join(output.split("/", 3)[:3]) + "/")[0].getConf()
    return {key: conf.get(key) for key in S3A_SETTINGS}


def failure_message(error: BaseException, s3a_settings: dict[str, str | None]) -> str:
    """What the failed line says of an error the job did not foresee: S3 named when it was S3, else
    the error's first line (the log holds the whole trace)."""
    trace = str(error)
    explained = s3_unavailable_message(trace, live.s3_endpoint(s3a_settings), s3a_settings) if s3a_settings else None
    first = next((line.strip() for line in trace.splitlines() if line.strip()), type(error).__name__)
    return explained or f"{type(error).__name__}: {first[:500]}"


@dataclass(frozen=True)
class Args:
    input: str
    output: str
    model: str = DEFAULT_MODEL
    image_size: int = 224
    pca_components: int = 0
    pca_model: str | None = None
    batch_size: int = 64
    limit: int = 0
    partitions: int = 0
    probe: bool = True
    probe_full: bool = False
    probe_min_top1: float | None = None
    incremental: bool = False
    refit_pca: bool = False
    run_name: str | None = None


def parse_args(argv: list[str] | None = None) -> Args:
    p = argparse.ArgumentParser(prog="featurize", description="ResNet50 features of images, with Spark.")
    p.add_argument("--input", required=True, help="s3a://, file:// or path; layout <root>/<Class>/<image>")
    p.add_argument("--output", required=True,
                   help=f"output folder (replaced): Parquet + _SUCCESS + _orchard/; a last folder "
                        f"{lineage.RUN_PLACEHOLDER} becomes the run's name, so each run writes its own dataset")
    p.add_argument("--model", default=os.environ.get("ORCHARD_MODEL", DEFAULT_MODEL), help="ONNX model path")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--pca-components", type=int, default=0, help="k; 0 = no PCA")
    p.add_argument("--pca-model", default=None, help="saved PCA model (<old output>/_orchard/pca-model) to reuse")
    p.add_argument("--batch-size", type=int, default=64, help="images per Arrow batch and per model run")
    p.add_argument("--limit", type=int, default=0, help="first N images by path; 0 = all")
    p.add_argument("--partitions", type=int, default=0, help="output Parquet files; 0 = 1 per 20k rows")
    p.add_argument("--probe", action=argparse.BooleanOptionalAction, default=True,
                   help="measure the features with a linear probe on held-out images (--no-probe: skip it)")
    p.add_argument("--probe-full", action="store_true",
                   help="also probe the full 2048 features when PCA runs (a 2049 x 2049 sum per task)")
    p.add_argument("--probe-min-top1", type=float, default=None,
                   help="quality gate in 0..1, written to the metrics: the controller marks a lower top-1 Incomplete")
    p.add_argument("--incremental", action="store_true",
                   help="start from the newest complete dataset beside --output: reuse the rows of unchanged "
                        "images (path, size, ETag), featurize new and changed ones, drop deleted ones")
    p.add_argument("--refit-pca", action="store_true",
                   help="fit PCA again on every row instead of reusing the parent's model")
    p.add_argument("--run-name", default=None,
                   help=f"the name that replaces {lineage.RUN_PLACEHOLDER} in --output; default spark.app.name, "
                        "which spark-operator sets to the SparkApplication's name")
    a = p.parse_args(argv)
    return Args(**{k.replace("-", "_"): v for k, v in vars(a).items()})


def validate_args(a: Args) -> None:
    """Checks that need no Spark: fail before paying for a SparkSession."""
    if not os.path.isfile(a.model):
        raise JobError(
            f"model file {a.model} not found: pass --model with the ONNX file baked into the image "
            f"({DEFAULT_MODEL}) or build one with `python -m orchard_featurize.build_model "
            f"--download-pretrained DIR --output {a.model}` (or --random-seed N for tests), then "
            "`python -m orchard_featurize.quantize` for int8")
    if a.input.startswith("s3://") or a.output.startswith("s3://"):
        raise JobError("s3:// is EMRFS-only; use s3a:// (the job writes through the S3A magic committer)")
    if not 32 <= a.image_size <= 1024:
        raise JobError(f"--image-size {a.image_size} is outside 32..1024")
    if not 0 <= a.pca_components <= FEATURE_DIM:
        raise JobError(f"--pca-components {a.pca_components} must be between 0 (off) and {FEATURE_DIM}")
    if a.probe_min_top1 is not None and not (a.probe and 0 < a.probe_min_top1 <= 1):
        raise JobError(f"--probe-min-top1 {a.probe_min_top1} needs the probe on and a fraction in (0, 1], "
                       "for example 0.9 for 90% top-1 accuracy")
    if a.refit_pca and (a.pca_model or not a.pca_components):
        raise JobError("--refit-pca fits a new model of --pca-components k: give k > 0 and no --pca-model")
    if a.batch_size < 1 or a.limit < 0 or a.partitions < 0:
        raise JobError("--batch-size must be >= 1, --limit and --partitions >= 0")
    if a.input.rstrip("/") == a.output.rstrip("/"):
        raise JobError(f"--output {a.output} equals --input: the output folder is replaced on every run")


def _hadoop_fs(spark, uri: str):
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path


def _write_bytes(spark, uri: str, data: bytes) -> None:
    fs, path = _hadoop_fs(spark, uri)
    out = fs.create(path, True)
    try:
        out.write(bytearray(data))
    finally:
        out.close()


def _write_text(spark, uri: str, text: str) -> None:
    _write_bytes(spark, uri, text.encode("utf-8"))


def _read_text(spark, uri: str) -> str | None:
    fs, path = _hadoop_fs(spark, uri)
    if not fs.exists(path):
        return None
    jvm = spark.sparkContext._jvm
    stream = fs.open(path)
    try:
        return jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()


def check_output_writable(spark, output: str) -> None:
    probe = metrics.side_path(output, f".write-probe-{uuid.uuid4().hex}")
    try:
        _write_text(spark, probe, "probe")
        fs, path = _hadoop_fs(spark, probe)
        fs.delete(path, False)
    except Exception as e:  # py4j wraps the Hadoop exception; its first line says enough
        if s3_unavailable_cause(str(e)) is not None:
            raise  # S3 itself does not answer: the entry point names it
        first = str(e).strip().splitlines()
        raise JobError(
            f"output {output} is not writable ({first[0] if first else type(e).__name__}): "
            "check the URI, that the bucket/folder exists and that the job's identity may write there "
            "(IRSA role policy / S3A credentials in Spark conf)") from None


def _session_conf(spark, values: dict[str, str]):
    """Sets ``values`` on the session; returns the call that puts the earlier ones back."""
    before = {key: spark.conf.get(key, None) for key in values}
    for key, value in values.items():
        spark.conf.set(key, value)

    def restore() -> None:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)

    return restore


def scan_images(spark, input_uri: str):
    """binaryFile source, recursive, jpg/jpeg/png in any case; content is not read by this DataFrame."""
    from pyspark.errors import AnalysisException

    reader = (spark.read.format("binaryFile")
              .option("recursiveFileLookup", "true")
              .option("pathGlobFilter", images.extension_glob()))
    # The file index lists the class folders when the DataFrame is made. Past 32 folders Spark
    # lists them in a job of one task per folder on the executors, which on fresh executors waits
    # for each one's S3A start-up: 101 folders took 7.9 s on the node, and 1.3 s on the driver.
    restore = _session_conf(spark, {LISTING_THRESHOLD_KEY: str(DRIVER_LISTED_FOLDERS)})
    try:
        return reader.load(input_uri)
    except AnalysisException as e:
        if "PATH_NOT_FOUND" in str(e) or "does not exist" in str(e):
            raise JobError(f"input {input_uri} does not exist: check the prefix "
                           "(expected <root>/<Class>/<image>.jpg)") from None
        raise
    finally:
        restore()


def only_files(paths: list[str]):
    """A filter on the scan's file metadata, which Spark applies to its file index before it reads
    a file: a filter on ``path`` would read the content of every file under the input first, and
    loading the files by name costs several requests each (1,200 files from S3: 4,849 HEADs).
    ``_metadata.file_path`` is the URI form (``Path.toUri``: a space is %20, a '+' stays '+'), so
    it is decoded with '+' kept. One SQL ``IN``, not ``Column.isin``: isin makes a py4j call per
    value (10,000 paths: 4.9 s against 0.5 s)."""
    from pyspark.sql import functions as F

    def quoted(p: str) -> str:
        return "'" + p.replace("\\", "\\\\").replace("'", "\\'") + "'"

    return F.expr("url_decode(replace(_metadata.file_path, '+', '%2B')) IN ("
                  + ",".join(quoted(p) for p in paths) + ")")


def make_udf(model_path: str, image_size: int, batch_size: int, profile_acc=None):
    import numpy as np
    import pandas as pd
    from pyspark.sql.functions import pandas_udf
    from pyspark.sql.types import ArrayType, FloatType, StringType, StructField, StructType

    schema = StructType([StructField("features", ArrayType(FloatType())), StructField("error", StringType())])

    @pandas_udf(schema)
    def featurize(batches: Iterator[pd.Series]) -> Iterator[pd.DataFrame]:
        from pyspark import TaskContext

        from . import live, profile
        from .model import get_model

        ctx = TaskContext.get()
        model = get_model(model_path, ctx.cpus() if ctx is not None else 1)  # once per Python worker
        spent = profile.empty()
        spent["tasks"] = 1
        clock = time.perf_counter
        t = clock()
        for contents in batches:
            t_fed = clock()
            batch, ok, reasons = images.decode_batch(contents.tolist(), image_size)
            t_decoded = clock()
            feats = model.infer(batch, max_batch=batch_size)
            t_inferred = clock()
            column: list = [None] * len(contents)
            for j, i in enumerate(ok):
                if np.isfinite(feats[j]).all():
                    column[i] = feats[j]
                else:
                    reasons[i] = "model produced non-finite features"
            spent["feed_s"] += t_fed - t
            spent["decode_s"] += t_decoded - t_fed
            spent["infer_s"] += t_inferred - t_decoded
            spent["batches"] += 1
            spent["images"] += len(contents)
            live.report(len(contents))  # the driver's count moves now, not at the task's end
            t_yield = clock()
            yield pd.DataFrame({"features": column, "error": reasons})
            t = clock()
            spent["emit_s"] += t - t_yield
        spent["feed_s"] += clock() - t
        if profile_acc is not None:
            profile_acc.add(spent)

    return featurize


def _load_pca(spark, uri: str, k: int) -> "pca.PcaModel":
    text = _read_text(spark, f"{uri.rstrip('/')}/{pca.MODEL_FILE}")
    if text is None:
        raise JobError(f"no PCA model at {uri} (no {pca.MODEL_FILE}): pass the _orchard/{metrics.PCA_MODEL_DIR} "
                       "folder of an earlier output, or drop --pca-model to fit a new one")
    try:
        model = pca.PcaModel.from_json(text, uri)
    except ValueError as e:
        raise JobError(f"{e}: pass the _orchard/{metrics.PCA_MODEL_DIR} folder of an earlier output") from None
    if model.features != FEATURE_DIM:
        raise JobError(f"{uri} is not an orchard PCA model over {FEATURE_DIM} features (it has {model.features})")
    if k and k != model.k:
        raise JobError(f"--pca-components {k} disagrees with {uri} (k={model.k}): "
                       "drop --pca-components or fit a new model")
    return model


def _fit_pca(good, k: int, partials: int) -> "pca.PcaModel":
    """Moments of the features summed per task with numpy, over Arrow batches; merged on the driver."""
    import numpy as np
    import pyarrow as pa

    def moments_of(batches):
        # Arrow batches hold batch_size rows; moments per block of PCA_BLOCK_ROWS rows keep the
        # merges (each a pass over a 2048 x 2048 matrix) few, and the matrix products large.
        acc, block, rows = pca.Moments(0, np.zeros(0), np.zeros((0, 0))), [], 0
        for b in batches:
            col = b.column(0)
            if len(col):
                block.append(col.values.to_numpy(zero_copy_only=False).reshape(len(col), -1))
                rows += len(col)
            if rows >= PCA_BLOCK_ROWS:
                acc, block, rows = pca.combine(acc, pca.moments(np.concatenate(block))), [], 0
        if block:
            acc = pca.combine(acc, pca.moments(np.concatenate(block)))
        if acc.n:
            yield pa.RecordBatch.from_pydict({"n": [acc.n], "mean": [acc.mean.tobytes()], "m2": [acc.m2.tobytes()]})

    total = pca.Moments(0, np.zeros(0), np.zeros((0, 0)))
    # A few partial sums only: each is a 2048 x 2048 float64 matrix (32 MiB) sent to the driver.
    for r in (good.select("features").coalesce(partials)
              .mapInArrow(moments_of, "n long, mean binary, m2 binary").collect()):
        mean = np.frombuffer(r["mean"], np.float64)
        m2 = np.frombuffer(r["m2"], np.float64).reshape(len(mean), -1)
        total = pca.combine(total, pca.Moments(int(r["n"]), mean, m2))
    return pca.fit(total, k)


def _project_udf(model: "pca.PcaModel"):
    import numpy as np
    import pandas as pd
    from pyspark.sql.functions import pandas_udf
    from pyspark.sql.types import ArrayType, FloatType

    @pandas_udf(ArrayType(FloatType()))
    def project(features: pd.Series) -> pd.Series:
        if features.empty:
            return pd.Series([], dtype=object)
        return pd.Series(list(model.project(np.stack(features.to_numpy()))))

    return project


def _probe_column(good, column: str, width: int, classes: list[str], partials: int) -> dict:
    """The probe on one feature column. Tasks sum the training rows' Gram matrix, (width+1)^2
    float64 whatever the row count, and a few partial sums reach the driver, which solves once;
    then tasks score their held-out rows and only each one's top classes come back (~18,000 rows
    of 6 integers on the full dataset). Collecting the rows instead would bound the driver by the
    data: 90,380 x 2048 features are 740 MB."""
    import numpy as np
    import pyarrow as pa
    from pyspark import StorageLevel

    index = {label: i for i, label in enumerate(classes)}
    rows = good.select("path", "label", column)
    # The pca column is a projection of the cached 2,048 features in a Python UDF, and the probe
    # makes two passes: cache the narrow rows (18 MB at 90,380 x 50) so that the second pass does
    # not project again. The features themselves are cached already.
    projected = column == "pca"
    if projected:
        rows = rows.persist(StorageLevel.MEMORY_AND_DISK)

    def split_batches(batches):
        for b in batches:
            if b.num_rows:
                x = b.column(2).values.to_numpy(zero_copy_only=False).reshape(b.num_rows, width)
                y = np.array([index[label] for label in b.column(1).to_pylist()])
                yield probe.held_out(b.column(0).to_pylist()), x, y

    def sums_of(batches):
        acc = probe.empty_gram(width, len(classes))
        for test, x, y in split_batches(batches):
            acc = acc + probe.gram(x[~test], y[~test], len(classes))
        yield pa.RecordBatch.from_pydict({"xx": [acc.xx.tobytes()], "xy": [acc.xy.tobytes()]})

    total = probe.empty_gram(width, len(classes))
    # A few partial sums only, as for PCA: at the full width each is 32 MiB sent to the driver.
    for r in rows.coalesce(partials).mapInArrow(sums_of, "xx binary, xy binary").collect():
        total = total + probe.Gram(np.frombuffer(r["xx"]).reshape(width + 1, -1),
                                   np.frombuffer(r["xy"]).reshape(width + 1, -1))
    weights = probe.fit(total)

    def ranked_of(batches):
        for test, x, y in split_batches(batches):
            if test.any():
                yield pa.RecordBatch.from_pydict({"y": y[test], "ranked": list(probe.top_k(x[test], weights))})

    held = rows.mapInArrow(ranked_of, "y long, ranked array<long>").collect()
    if projected:
        rows.unpersist()
    return {"train_images": total.n} | probe.evaluate(np.array([r["y"] for r in held], np.int64),
                                                      np.array([r["ranked"] for r in held], np.int64), classes)


def run_probe(good, a: Args, label_counts: dict[str, int], pca_k: int, partials: int) -> dict | None:
    """The probe's metrics: None when turned off, a reason when the labels cannot be measured."""
    if not a.probe:
        return None
    base = {"method": probe.METHOD, "split": {"key": probe.SPLIT, "test_fraction": probe.TEST_FRACTION},
            "alpha": probe.ALPHA, "min_top1": a.probe_min_top1}
    column, width = ("pca", pca_k) if pca_k else ("features", FEATURE_DIM)
    try:
        reason = probe.skip_reason(label_counts)
        if reason is None:
            classes = sorted(label_counts)
            measured = {"features": column, "width": width, "classes": len(classes)} | _probe_column(
                good, column, width, classes, partials)
            if a.probe_full and column == "pca":
                full = _probe_column(good, "features", FEATURE_DIM, classes, partials)
                measured["full"] = {"width": FEATURE_DIM, "top1": full["top1"], "top5": full["top5"]}
            return base | measured
    except ValueError as e:  # a split that leaves no rows on one side: the data, not the job, is at fault
        reason = str(e)
    log("probe_skipped", level="warning", reason=reason)
    return base | {"skipped": reason}


def versions(spark) -> dict:
    import numpy
    import onnxruntime
    import pandas
    import PIL
    import pyarrow
    import pyspark

    return {"spark": spark.version, "pyspark": pyspark.__version__, "python": platform.python_version(),
            "onnxruntime": onnxruntime.__version__, "numpy": numpy.__version__, "pandas": pandas.__version__,
            "pyarrow": pyarrow.__version__, "pillow": PIL.__version__,
            "hadoop": spark.sparkContext._jvm.org.apache.hadoop.util.VersionInfo.getVersion()}


def _modified_ms(fs, path) -> int | None:
    """A file's modification time, or None when it does not exist."""
    try:
        return int(fs.getFileStatus(path).getModificationTime())
    except Exception as e:  # py4j wraps FileNotFoundException; anything else is a real failure
        if "FileNotFoundException" in str(e):
            return None
        raise


def _parent_at(spark, uri: str) -> "lineage.Parent | str":
    """The dataset at ``uri`` as a parent if it is complete (_SUCCESS, valid metrics), else why not."""
    fs, path = _hadoop_fs(spark, uri)
    if not fs.exists(path.suffix(f"/{lineage.SUCCESS_FILE}")):
        return f"{uri} has no {lineage.SUCCESS_FILE} (its write never committed)"
    return lineage.parent_from_metrics(uri, _read_text(spark, metrics.side_path(uri, metrics.METRICS_FILE)))


def find_parent(spark, root: str, output: str) -> tuple["lineage.Parent | None", str]:
    """The newest complete dataset under ``root`` other than ``output`` (a retried run has the same
    name), and how it was found. The pointer first (one GET); a listing of the root when the pointer
    is missing, names this run, or names a dataset that is not complete."""
    named = lineage.parse_pointer(_read_text(spark, lineage.pointer_uri(root)))
    if named and named != output:
        found = _parent_at(spark, named)
        if isinstance(found, lineage.Parent):
            return found, f"the newest complete dataset under {root} (its pointer {lineage.POINTER_FILE})"
        log("parent_pointer_unusable", level="warning", pointer=lineage.pointer_uri(root), reason=found)
    fs, root_path = _hadoop_fs(spark, root)
    if not fs.exists(root_path):
        return None, f"no dataset under {root} yet"
    candidates = []
    for st in fs.listStatus(root_path):
        name, uri = st.getPath().getName(), st.getPath().toString()
        if st.isDirectory() and not name.startswith(("_", ".")) and uri != output:
            modified = _modified_ms(fs, st.getPath().suffix(f"/{metrics.SIDE_DIR}/{metrics.METRICS_FILE}"))
            if modified is not None:
                candidates.append((uri, modified))
    refused = []
    while candidates:
        uri = lineage.newest(candidates)
        candidates = [c for c in candidates if c[0] != uri]
        found = _parent_at(spark, uri)
        if isinstance(found, lineage.Parent):
            return found, f"the newest complete dataset under {root} (listed: no usable pointer)"
        refused.append(found)
    return None, f"no complete dataset under {root}" + (f" ({'; '.join(refused)})" if refused else "")


def _spread(rows, model: "pca.PcaModel") -> "pca.Spread":
    """pca.spread of a DataFrame's features, summed per task (a k + 2048 vector each) on the driver."""
    import numpy as np
    import pyarrow as pa

    def sums_of(batches):
        acc = pca.Spread(0, np.zeros(model.features), 0.0, np.zeros(model.k), 0.0)
        for b in batches:
            if b.num_rows:
                acc = acc + pca.spread(model, b.column(0).values.to_numpy(zero_copy_only=False))
        yield pa.RecordBatch.from_pydict({"n": [acc.n], "d": [acc.d.tobytes()], "dd": [acc.dd],
                                          "p": [acc.p.tobytes()], "pp": [acc.pp]})

    total = pca.Spread(0, np.zeros(model.features), 0.0, np.zeros(model.k), 0.0)
    for r in rows.select("features").mapInArrow(sums_of, "n long, d binary, dd double, p binary, pp double").collect():
        total = total + pca.Spread(int(r["n"]), np.frombuffer(r["d"]), r["dd"], np.frombuffer(r["p"]), r["pp"])
    return total


def run(spark, a: Args) -> dict:
    """One run; returns the metrics dict that it also writes to <output>/_orchard/metrics.json."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    t_start = time.monotonic()
    validate_args(a)
    try:
        output, run_name = lineage.resolve_output(a.output, a.run_name or spark.sparkContext.appName)
    except lineage.LineageError as e:
        raise JobError(str(e)) from None
    info = inspect(a.model)
    precision = lineage.precision_of(info.metadata)
    if info.random_weights:
        for _ in range(3):  # loud on purpose: features from random weights are for tests only
            log("random_weights", level="warning", model=a.model,
                message="MODEL HAS RANDOM WEIGHTS: features are not ImageNet features; test/benchmark use only")
    log("start", args=asdict(a), output=output, run=run_name, model=info.name, weights=info.weights,
        model_sha256=info.sha256, precision=precision,
        # The image's weights build argument (also its label); None outside the image.
        image_weights=os.environ.get("ORCHARD_MODEL_WEIGHTS"),
        int8_cosine_to_fp32=json.loads(info.metadata.get("orchard.int8_cosine_to_fp32", "null")))
    check_output_writable(spark, output)
    # Qualified (file:/x for /x), as listings spell the datasets that the parent search compares it with.
    fs, out_path = _hadoop_fs(spark, output)
    output = fs.makeQualified(out_path).toString()

    # Listing through the FileSystem, with each image's size and ETag (listing.py): what the next
    # incremental run diffs against, and this run's file count and bytes.
    t_list = time.monotonic()
    try:
        input_root, listed = listing.list_images(spark, a.input)
    except Exception as e:  # py4j wraps the Hadoop exception
        if "FileNotFoundException" in str(e):
            raise JobError(f"input {a.input} does not exist: check the prefix "
                           "(expected <root>/<Class>/<image>.jpg)") from None
        raise
    all_files = sorted(listed)
    found = len(all_files)
    if found == 0:
        raise JobError(f"no .jpg/.jpeg/.png files under {a.input}: check the prefix "
                       "(expected <root>/<Class>/<image>) and that the job's identity can list it")
    considered = min(found, a.limit) if a.limit else found
    current = {p: listed[p] for p in all_files[:considered]}
    total_bytes = sum(i.size for i in current.values())
    listing_s = time.monotonic() - t_list
    log("listed", found=found, considered=considered, bytes=total_bytes, seconds=round(listing_s, 2))

    # Lineage: the parent and what to recompute (lineage.py decides; here S3 is read).
    t_lineage = time.monotonic()
    root = lineage.dataset_root(output)
    parent, parent_inputs, mode = None, {}, "full"
    if not a.incremental:
        reason = "--incremental off: every image featurized"
    else:
        candidate, how = find_parent(spark, root, output)
        forced = candidate and lineage.full_run_reason(candidate, lineage.Current(
            input=a.input, model_name=info.name, model_sha256=info.sha256, precision=precision,
            image_size=a.image_size))
        inputs_text = (_read_text(spark, lineage.side(candidate.uri, lineage.INPUTS_FILE))
                       if candidate and not forced else None)
        if candidate is None:
            reason = f"full run: {how}"
        elif forced:
            reason = f"full run: {forced}"
        elif inputs_text is None:
            reason = f"full run: {candidate.uri} has no {metrics.SIDE_DIR}/{lineage.INPUTS_FILE}"
        else:
            try:
                parent_inputs = lineage.parse_inputs(inputs_text, lineage.side(candidate.uri, lineage.INPUTS_FILE))
            except ValueError as e:
                raise JobError(f"{e}: delete that dataset or run without --incremental") from None
            parent, mode, reason = candidate, "incremental", f"{candidate.uri}: {how}"
    delta = lineage.diff(current, parent_inputs)
    lineage_s = time.monotonic() - t_lineage
    log("lineage", mode=mode, parent=parent.uri if parent else None, reason=reason, reused=len(delta.reused),
        featurize=len(delta.featurize), changed=delta.changed, removed=delta.removed, seconds=round(lineage_s, 2))

    t_plan = time.monotonic()
    to_featurize = delta.featurize
    featurize_bytes = sum(current[p].size for p in to_featurize)
    split_bytes, open_cost = metrics.inference_split_bytes(featurize_bytes, len(to_featurize),
                                                           spark.sparkContext.defaultParallelism)
    # Split sizes for JPEGs, put back once the inference has read them (below): they are the session's,
    # and every later file scan would keep them. The parent's Parquet then came in splits of a few
    # hundred bytes, one task each (1,730 for 60 rows when nothing was new, on 2 cores: 3 minutes).
    restore_splits = _session_conf(spark, {"spark.sql.files.maxPartitionBytes": str(split_bytes),
                                           "spark.sql.files.openCostInBytes": str(open_cost),
                                           "spark.sql.files.minPartitionNum": "1"})
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(a.batch_size))

    if not to_featurize:
        content = None
    else:
        content = scan_images(spark, a.input)  # one file index over the prefix: no request per image
        if len(to_featurize) < found:
            content = content.where(only_files(to_featurize))
    profile_acc = spark.sparkContext.accumulator(profile.empty(), profile.ProfileParam())
    inferred, tasks = None, 0
    if content is not None:
        udf = make_udf(a.model, a.image_size, a.batch_size, profile_acc)
        inferred = content.select(
            "path",
            F.regexp_extract("path", r"([^/]+)/[^/]+$", 1).alias("label"),
            udf("content").alias("r"),
        ).persist(StorageLevel.MEMORY_AND_DISK)
        # Plans the scan, where Spark computes the file splits; on the scan itself, not on the cached
        # frame: under AQE that would run the inference here.
        tasks = content.rdd.getNumPartitions()
    planning_s = time.monotonic() - t_plan
    log("planned", tasks=tasks, split_bytes=split_bytes, open_cost_bytes=open_cost, seconds=round(planning_s, 2))

    t_infer = time.monotonic()
    # The phase and the counters a watcher reads on the driver's UI port (live.py): images as the
    # workers report each batch, and S3A's retries on the output's filesystem.
    gauges = live.publisher(spark.sparkContext)
    gauges.follow(lambda: profile_acc.value["images"], _hadoop_fs(spark, output)[0])
    spark.sparkContext.setJobDescription(live.description("inference"))
    label_counts: dict[str, int] = {}
    failed: list[dict] = []
    if inferred is not None:
        # One job gives both the decoded/failed split and the label counts.
        counts = inferred.groupBy("label", F.col("r.error").isNull().alias("ok")).agg(F.count("*").alias("n")).collect()
        label_counts = {r["label"]: int(r["n"]) for r in counts if r["ok"]}
        scanned_rows = sum(int(r["n"]) for r in counts)
        errors = inferred.where(F.col("r.error").isNotNull()).select("path", F.col("r.error").alias("reason"))
        failed = [{"path": r["path"], "reason": r["reason"]} for r in errors.collect()]
        if scanned_rows != len(to_featurize):
            # Spark's scan drops 0-byte files without a trace, and cannot read what was deleted
            # after the listing: name them from the listing.
            scanned = {r["path"] for r in inferred.select("path").collect()}
            failed += [{"path": p, "reason": "empty file" if current[p].size == 0 else
                        "gone from the input between the listing and the read (deleted or renamed)"}
                       for p in to_featurize if p not in scanned]
    # The images are read (inferred is cached, on memory and disk), so later scans get Spark's splits.
    restore_splits()
    gauges.publish()
    inference_s = time.monotonic() - t_infer
    newly_decoded = sum(label_counts.values())
    task_profile = profile.summarize(profile_acc.value, inference_s, spark.sparkContext.defaultParallelism)
    for f in failed:
        log("image_failed", level="warning", **f)
    log("inferred", decoded=newly_decoded, failed=len(failed), seconds=round(inference_s, 2),
        images_per_second=round(len(to_featurize) / inference_s, 2) if inference_s else None, profile=task_profile)

    new_good = None if inferred is None else inferred.where(F.col("r.error").isNull()).select(
        "path", "label", F.col("r.features").alias("features"))
    reused = None
    if delta.reused:
        # The parent's rows of unchanged images, as stored: the features are copied, never recomputed.
        keys = spark.createDataFrame([(p,) for p in delta.reused], "path string")
        reused = spark.read.parquet(parent.uri).join(F.broadcast(keys), "path", "left_semi")
        reused_counts = {r["label"]: int(r["count"]) for r in reused.groupBy("label").count().collect()}
        if sum(reused_counts.values()) != len(delta.reused):
            raise JobError(f"{parent.uri} holds {sum(reused_counts.values())} of the {len(delta.reused)} rows its "
                           f"{lineage.INPUTS_FILE} lists as unchanged: the dataset was altered after its run; "
                           "delete it or run without --incremental")
        for label, n in reused_counts.items():
            label_counts[label] = label_counts.get(label, 0) + n
    decoded = sum(label_counts.values())
    if decoded == 0:
        first = f" (first failure: {failed[0]['path']}: {failed[0]['reason']})" if failed else ""
        raise JobError(f"none of the {considered} images under {a.input} could be decoded{first}")

    # PCA: reuse the parent's model by default so the pca columns of a job's datasets stay
    # comparable; refit when asked or when it explains clearly less of the new rows (lineage.py).
    pca_info, pca_model, t_pca = None, None, time.monotonic()
    spark.sparkContext.setJobDescription(live.description("pca"))
    plan = lineage.plan_pca(k=a.pca_components, pca_model=a.pca_model, refit=a.refit_pca, parent=parent,
                            parent_model=metrics.side_path(parent.uri, metrics.PCA_MODEL_DIR) if parent else None)
    pca_action, pca_reason, explained_new = plan.action, plan.reason, None
    if plan.reuse:
        pca_model = _load_pca(spark, plan.reuse, a.pca_components)
        if plan.judge and new_good is not None:
            new_spread = _spread(new_good, pca_model)
            explained_new = pca.explained_share(new_spread)
            refit, pca_reason = lineage.judge_pca(float(pca_model.explained_variance.sum()), explained_new,
                                                  new_spread.n)
            if refit:
                pca_model, pca_action = None, "refitted"
        elif plan.judge:
            pca_reason = "kept the parent's model: no new rows to judge it on"
    # Unchanged rows keep the parent's pca column, bit for bit, when its model is the one in use;
    # otherwise every row is projected with the model this run fits.
    keep_parent_pca = plan.judge and pca_model is not None
    columns = ["path", "label", "features"] + (["pca"] if pca_action != "off" else [])
    if keep_parent_pca and new_good is not None:
        new_good = new_good.withColumn("pca", _project_udf(pca_model)("features"))
    parts = [df.select(*columns) if keep_parent_pca else df.select(*columns[:3])
             for df in (reused, new_good) if df is not None]
    good = parts[0] if len(parts) == 1 else parts[0].unionByName(parts[1])
    if reused is not None:
        # Read once from the parent, then used by PCA, the probe and the write.
        good = good.persist(StorageLevel.MEMORY_AND_DISK)
    if pca_action != "off":
        if pca_model is None:
            if decoded < 2:
                raise JobError(f"PCA needs at least 2 decoded images, got {decoded} under {a.input}")
            partials = min(PCA_PARTIALS, spark.sparkContext.defaultParallelism)
            pca_model = _fit_pca(good, a.pca_components, partials)
        if not keep_parent_pca:
            good = good.withColumn("pca", _project_udf(pca_model)("features"))
        ev = [float(v) for v in pca_model.explained_variance]
        source = "reused" if pca_action == "reused" else "fitted"
        pca_info = {"k": pca_model.k, "source": source, "reused_from": plan.reuse if source == "reused" else None,
                    "centred": True, "explained_variance": ev, "explained_variance_total": sum(ev),
                    "model_uri": metrics.side_path(output, metrics.PCA_MODEL_DIR)}
        log("pca", k=pca_info["k"], action=pca_action, reason=pca_reason, explained_variance_total=round(sum(ev), 6),
            explained_variance_new=explained_new)
    pca_s = time.monotonic() - t_pca

    t_probe = time.monotonic()
    spark.sparkContext.setJobDescription(live.description("probe"))
    quality = run_probe(good, a, label_counts, pca_model.k if pca_model else 0,
                        min(PCA_PARTIALS, spark.sparkContext.defaultParallelism))
    probe_s = time.monotonic() - t_probe
    if quality and "top1" in quality:
        log("probe", features=quality["features"], top1=quality["top1"], top5=quality["top5"],
            test_images=quality["test_images"], min_top1=a.probe_min_top1, seconds=round(probe_s, 2))

    # Sorted and stable: range partitions by path (explicit count, so AQE leaves it alone), sorted
    # within each. Overwrite deletes the old output when the write job starts, after inference has
    # finished into the cache, and new parts only appear at job commit: never a mix of old and new.
    n_parts = metrics.output_partitions(a.partitions, decoded)
    t_write = time.monotonic()
    # Spark's commit runs on the driver after the write's tasks, inside the same SQL execution:
    # the watcher tells it apart as that execution running with no Spark job left.
    spark.sparkContext.setJobDescription(live.description("write"))
    (good.select(*columns)
         .repartitionByRange(n_parts, "path").sortWithinPartitions("path")
         .write.mode("overwrite").option("compression", "snappy").parquet(output))
    write_s = time.monotonic() - t_write
    if inferred is not None:
        inferred.unpersist()
    if reused is not None:
        good.unpersist()

    t_verify = time.monotonic()
    spark.sparkContext.setJobDescription(live.description("record"))
    fs, out_path = _hadoop_fs(spark, output)
    files = [{"name": s.getPath().getName(), "bytes": int(s.getLen())} for s in fs.listStatus(out_path)
             if s.isFile() and s.getPath().getName().startswith("part-")]
    rows_written = spark.read.parquet(output).count()  # from the footers actually written
    success_raw = _read_text(spark, output + "/_SUCCESS")
    success = None
    if success_raw and success_raw.lstrip().startswith("{"):
        manifest = json.loads(success_raw)
        success = {"committer": manifest.get("committer"), "filenames": len(manifest.get("filenames", [])),
                   "hostname": manifest.get("hostname")}
    elif success_raw is not None:
        success = {"committer": None, "note": "empty _SUCCESS marker (classic FileOutputCommitter)"}

    if pca_model is not None:
        _write_text(spark, metrics.side_path(output, metrics.PCA_MODEL_DIR, pca.MODEL_FILE), pca_model.to_json())
    # The identity of every row's image, before the metrics: a dataset with metrics has its inputs.
    failed_paths = {f["path"] for f in failed}
    inputs_uri = lineage.side(output, lineage.INPUTS_FILE)
    _write_text(spark, inputs_uri, lineage.inputs_json(
        input_root, {p: ident for p, ident in current.items() if p not in failed_paths}))
    verify_s = time.monotonic() - t_verify

    timings = {"wall_s": time.monotonic() - t_start, "listing_s": listing_s, "lineage_s": lineage_s,
               "planning_s": planning_s, "inference_s": inference_s, "pca_s": pca_s, "probe_s": probe_s,
               "write_s": write_s, "verify_s": verify_s}
    m = metrics.build_metrics(
        input_uri=a.input, output_uri=output, found=found, considered=considered, decoded=decoded,
        failed=failed, rows_written=rows_written, label_counts=label_counts, pca=pca_info, probe=quality, files=files,
        success=success, timings=timings, profile=task_profile, featurized=len(to_featurize),
        lineage=lineage.lineage_doc(
            mode=mode, parent=parent.uri if parent else None, reason=reason, reused=len(delta.reused),
            featurized=len(to_featurize), removed=delta.removed, pca_action=pca_action, pca_reason=pca_reason,
            explained_fitted=float(pca_model.explained_variance.sum()) if pca_model is not None else None,
            explained_new=explained_new, inputs=inputs_uri, run=run_name),
        model={"name": info.name, "path": info.path, "sha256": info.sha256, "weights": info.weights,
               "random_weights": info.random_weights, "weights_source": info.metadata.get("orchard.weights_source"),
               "opset": info.metadata.get("orchard.opset"), "image_size": a.image_size, "precision": precision,
               "preprocessing": info.metadata.get("orchard.preprocessing")},
        versions=versions(spark), args=asdict(a))
    _write_text(spark, metrics.side_path(output, metrics.METRICS_FILE), json.dumps(m, indent=2) + "\n")
    spark.sparkContext.setJobDescription(None)
    log("done", rows_written=rows_written, files=len(files), failed=len(failed), mode=mode,
        reused=len(delta.reused), featurized=len(to_featurize), removed=delta.removed,
        wall_s=round(timings["wall_s"], 2), images_per_second=m["images_per_second"])
    if rows_written != decoded:
        raise JobError(f"{output} holds {rows_written} rows but {decoded} images were decoded: "
                       "another writer touched the output during the run; re-run the job")
    if run_name is not None or a.incremental:
        # Last: only a dataset whose write committed and whose metrics exist becomes the parent of
        # the next run. A run killed before this line leaves the pointer on the previous dataset.
        _write_text(spark, lineage.pointer_uri(root), lineage.pointer_json(output, run_name))
    return m
