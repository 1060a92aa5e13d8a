"""Spark/Hadoop settings the job relies on, as pure functions, shared by tests and docs.

The job never hardcodes an endpoint or credentials: S3A settings arrive through Spark conf
(the cdk8s construct renders them; tests pass them to the SparkSession builder).
"""

from __future__ import annotations

import glob
import os

# The four settings Spark's cloud-integration guide names for the S3A magic committer.
MAGIC_COMMITTER_CONF = {
    "spark.hadoop.fs.s3a.committer.name": "magic",
    "spark.hadoop.fs.s3a.committer.magic.enabled": "true",
    "spark.sql.sources.commitProtocolClass": "org.apache.spark.internal.io.cloud.PathOutputCommitProtocol",
    "spark.sql.parquet.output.committer.class": "org.apache.spark.internal.io.cloud.BindingParquetOutputCommitter",
}

# Jars that must be on the classpath for s3a:// and the magic committer (see versions.env).
S3A_JAR_PREFIXES = ("hadoop-aws-", "aws-java-sdk-bundle-", "spark-hadoop-cloud_")


def s3a_jars(jars_dir: str) -> list[str]:
    jars = sorted(glob.glob(os.path.join(jars_dir, "*.jar")))
    missing = [p for p in S3A_JAR_PREFIXES if not any(os.path.basename(j).startswith(p) for j in jars)]
    if missing:
        raise FileNotFoundError(f"{jars_dir} lacks {', '.join(missing)} jars: run spark-images/setup.sh")
    return jars


# Keys of the deployed SparkApplication that a local-mode test session cannot take, with the reason.
# Everything else (S3A, the committer, Python worker reuse) is applied exactly as deployed.
CLUSTER_ONLY_PREFIXES = {
    # Spark refuses to start when the event log folder does not exist yet; on AWS the platform
    # creates it once for the History Server, a fresh local bucket has none.
    "spark.eventLog.": "event log folder is created by the platform, not by the job",
    # The Prometheus servlets hang off the Spark UI, which the test session turns off.
    "spark.ui.prometheus.": "served by the Spark UI, off in tests",
    "spark.metrics.conf.": "served by the Spark UI, off in tests",
}


def session_conf(app_conf: dict) -> dict[str, str]:
    """SparkSession settings from a SparkApplication's conf ({"sparkConf": ..., "hadoopConf": ...}),
    as the Spark operator passes them (hadoopConf as spark.hadoop.*), minus CLUSTER_ONLY_PREFIXES."""
    conf = dict(app_conf.get("sparkConf", {}))
    conf.update({f"spark.hadoop.{k}": v for k, v in app_conf.get("hadoopConf", {}).items()})
    return {k: v for k, v in sorted(conf.items()) if not k.startswith(tuple(CLUSTER_ONLY_PREFIXES))}
