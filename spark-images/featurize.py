"""Entry point of the feature-extraction job (spark-submit featurize.py --input ... --output ...)."""

import sys
import time

from orchard_featurize.job import JobError, parse_args, run, validate_args
from orchard_featurize.logs import log


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        validate_args(args)  # before the SparkSession: a missing model fails in milliseconds
    except JobError as e:
        log("failed", level="error", error=str(e))
        return 2
    from pyspark.sql import SparkSession

    t0 = time.monotonic()
    spark = (SparkSession.builder.appName("orchard-featurize")
             .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(args.batch_size))
             .getOrCreate())
    log("spark_started", seconds=round(time.monotonic() - t0, 2), version=spark.version,
        master=spark.sparkContext.master)
    try:
        run(spark, args)
    except JobError as e:
        log("failed", level="error", error=str(e))
        return 2
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
