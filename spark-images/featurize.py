"""Entry point of the feature-extraction job (spark-submit featurize.py --input ... --output ...)."""

import sys
import time

from orchard_featurize.job import (
    S3A_SETTINGS,
    JobError,
    failure_message,
    output_s3a_settings,
    parse_args,
    run,
    validate_args,
)
from orchard_featurize.logs import log

# The run's name when nothing names it (python featurize.py outside spark-submit).
DEFAULT_APP_NAME = "orchard-featurize"
# The name PySpark's own gateway launcher gives a driver started by plain `python`.
PYSPARK_LAUNCHER_NAME = "pyspark-shell"


def launch_name() -> str | None:
    """spark.app.name as the launch gave it (spark-operator runs `spark-submit --name <SparkApplication
    name>`), or None. The builder's appName would override it, and {run} in --output
    (lineage.RUN_PLACEHOLDER) is that name, so the job keeps it."""
    from pyspark import SparkConf, SparkContext

    SparkContext._ensure_initialized()  # the launcher's JVM and its system properties (spark.*)
    name = SparkConf().get("spark.app.name", None)
    return None if name in (None, PYSPARK_LAUNCHER_NAME) else name


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        validate_args(args)  # before the SparkSession: a missing model fails in milliseconds
    except JobError as e:
        log("failed", level="error", error=str(e))
        return 2
    from pyspark.sql import SparkSession

    t0 = time.monotonic()
    try:
        spark = (SparkSession.builder.appName(launch_name() or DEFAULT_APP_NAME)
                 .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(args.batch_size))
                 .getOrCreate())
    except Exception as e:
        # The context checks its event log folder, on S3 in a deployment, before the job runs.
        from pyspark import SparkConf

        launched = SparkConf()
        log("failed", level="error", error=failure_message(e, {key: launched.get(f"spark.hadoop.{key}", None)
                                                                for key in S3A_SETTINGS}))
        raise
    log("spark_started", seconds=round(time.monotonic() - t0, 2), version=spark.version,
        master=spark.sparkContext.master)
    try:
        run(spark, args)
    except JobError as e:
        log("failed", level="error", error=str(e))
        return 2
    except Exception as e:
        # Unforeseen, yet still the termination message the controller reads; the trace follows.
        log("failed", level="error", error=failure_message(e, output_s3a_settings(spark, args.output)))
        raise
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
