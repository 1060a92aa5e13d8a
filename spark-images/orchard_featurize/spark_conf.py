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


def local_s3a_conf(endpoint: str, access_key: str, secret_key: str, region: str = "us-east-1") -> dict[str, str]:
    """S3A against a local S3-compatible server: path-style, plain http, static credentials."""
    return {
        "spark.hadoop.fs.s3a.endpoint": endpoint,
        "spark.hadoop.fs.s3a.endpoint.region": region,
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false" if endpoint.startswith("http://") else "true",
        "spark.hadoop.fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        "spark.hadoop.fs.s3a.access.key": access_key,
        "spark.hadoop.fs.s3a.secret.key": secret_key,
        "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        # Same as the TypeScript side (src/spark/s3a.ts): no bulk deletes of parent directory markers.
        "spark.hadoop.fs.s3a.directory.marker.retention": "keep",
        **MAGIC_COMMITTER_CONF,
    }
