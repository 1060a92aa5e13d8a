"""A run that S3 stops answering fails with S3 and its endpoint named, whatever call gave up."""

import socket
import uuid

import pytest

from orchard_featurize.job import failure_message, output_s3a_settings, s3_unavailable_cause


def test_other_failures_keep_their_first_line(spark):
    trace = ("An error occurred while calling o81.parquet.\n: java.lang.OutOfMemoryError: Java heap space\n"
             "\tat org.apache.hadoop.fs.s3a.S3ABlockOutputStream")
    assert s3_unavailable_cause(trace) is None
    said = failure_message(RuntimeError(trace), output_s3a_settings(spark, "s3a://bucket/out"))
    assert said == "RuntimeError: An error occurred while calling o81.parquet."
    # A refused connection to something that is not S3 is not an S3 outage.
    assert s3_unavailable_cause("java.net.ConnectException: Connection refused\n\tat org.apache.kafka") is None


def test_a_write_to_an_s3_that_does_not_answer_names_it(spark, setup_env):
    if not setup_env.get("ORCHARD_JARS_DIR"):
        pytest.skip("needs the S3A jars (npm run setup)")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there any more: connections are refused at once
    bucket = f"orchard-down-{uuid.uuid4().hex[:8]}"
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    # Per-bucket settings (S3A applies fs.s3a.bucket.<bucket>.*): the session's other buckets keep theirs.
    for key, value in {
        "endpoint": f"http://127.0.0.1:{port}", "path.style.access": "true", "connection.ssl.enabled": "false",
        "aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        "access.key": "orchard", "secret.key": "orchard-secret", "endpoint.region": "us-east-1",
        "attempts.maximum": "0", "retry.limit": "1", "retry.interval": "100ms",
    }.items():
        conf.set(f"fs.s3a.bucket.{bucket}.{key}", value)
    output = f"s3a://{bucket}/features"
    with pytest.raises(Exception) as raised:
        spark.range(3).write.mode("overwrite").parquet(output)
    message = failure_message(raised.value, output_s3a_settings(spark, output))
    assert message.startswith(f"S3 at http://127.0.0.1:{port} did not answer, and S3A gave up after its retries "
                              "(fs.s3a.retry.limit 1, fs.s3a.retry.interval 100ms): java.net.ConnectException: "
                              "Connection refused. Nothing of this run was committed."), message
    assert "restartPolicy" in message, message
