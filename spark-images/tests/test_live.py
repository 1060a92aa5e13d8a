"""What a watcher sees of a run on the driver: the phase of each Spark job and the counter gauges."""

import pytest

from orchard_featurize import live
from orchard_featurize.job import Args, run


def test_descriptions_name_known_phases_only():
    assert live.description("write") == "orchard-featurize: write"
    with pytest.raises(ValueError, match="unknown phase 'commit'.*progress.ts"):
        live.description("commit")


def test_s3a_retries_read_from_iostatistics_counters():
    assert live.s3a_retries({"store_io_retry": 7, "store_io_throttled": 2, "op_rename": 3}) == 7
    assert live.s3a_retries(None) == 0  # file:// keeps no statistics


def test_the_probed_endpoint_is_the_one_s3a_calls(monkeypatch):
    monkeypatch.delenv("AWS_REGION", raising=False)
    assert live.s3_endpoint({"fs.s3a.endpoint": "http://10.96.0.1:9000/"}) == "http://10.96.0.1:9000"
    plain = {"fs.s3a.endpoint": "minio:9000", "fs.s3a.connection.ssl.enabled": "false"}
    assert live.s3_endpoint(plain) == "http://minio:9000"
    assert live.s3_endpoint({"fs.s3a.endpoint": "s3.example.com"}) == "https://s3.example.com"
    assert live.s3_endpoint({"fs.s3a.endpoint.region": "eu-west-1"}) == "https://s3.eu-west-1.amazonaws.com"
    assert live.s3_endpoint({}) == "https://s3.amazonaws.com"


def test_a_probe_counts_any_answer_below_500_and_nothing_else():
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        status = 403

        def do_HEAD(self):
            self.send_response(Handler.status)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert live.probe_s3(endpoint) is None  # S3 refusing an unsigned request is S3 answering
        Handler.status = 503
        assert live.probe_s3(endpoint) == "HTTP 503"
    finally:
        server.shutdown()
        server.server_close()
    assert live.probe_s3(endpoint, timeout=1).startswith("ConnectionRefusedError")
    silent = __import__("socket").socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection and never answers
    try:
        problem = live.probe_s3(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.5)
        assert problem.startswith(("TimeoutError", "timeout")), problem
    finally:
        silent.close()


def test_datagrams_and_addresses_parse_or_count_nothing():
    assert live.parse_count(b"64") == 64
    assert live.parse_count(b"-5") == live.parse_count(b"x" * 100) == live.parse_count(b"") == 0
    assert live.parse_address("orchard-driver-svc.orchard.svc:41234") == ("orchard-driver-svc.orchard.svc", 41234)
    assert live.parse_address(None) is None and live.parse_address("host") is None


def test_a_task_reports_its_images_before_it_ends(spark, tmp_path):
    """The channel alone: a task reports 5 images and then waits; the driver's gauge shows them while
    the task still runs, so the count cannot have come from the task's end."""
    import threading
    import time

    sc = spark.sparkContext
    gauges = live.publisher(sc)
    before = gauges.values()[live.IMAGES_GAUGE]
    marker = str(tmp_path / "release")  # local mode: the task sees the same files

    def task(_):
        import os

        live.report(5)
        deadline = time.monotonic() + 60
        while not os.path.exists(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        return iter([1])

    def run_job():
        # Local properties belong to the thread that submits the job, as in the job itself.
        gauges.follow(lambda: 0, sc._jvm.org.apache.hadoop.fs.FileSystem.getLocal(sc._jsc.hadoopConfiguration()))
        sc.parallelize([0], 1).mapPartitions(task).collect()

    job = threading.Thread(target=run_job)
    job.start()
    try:
        deadline = time.monotonic() + 30
        while gauges.values()[live.IMAGES_GAUGE] - before < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert gauges.values()[live.IMAGES_GAUGE] - before == 5
        assert job.is_alive()
    finally:
        open(marker, "w").close()
        job.join()


def _job_descriptions(spark) -> list[str]:
    """Descriptions of the Spark jobs so far, oldest first, from the store the REST API reads."""
    sc = spark.sparkContext
    jobs = sc._jvm.scala.collection.JavaConverters.seqAsJavaList(sc._jsc.sc().statusStore().jobsList(None))
    found = sorted((j.jobId(), j.description()) for j in jobs)
    return [d.get() for _, d in found if d.isDefined()]


def test_a_run_names_its_phases_and_counts_its_images(spark, model_path, generated, tmp_path):
    gauges = live.publisher(spark.sparkContext)
    before = gauges.values()
    seen = len(_job_descriptions(spark))
    m = run(spark, Args(input=str(generated.root), output=str(tmp_path / "out"), model=model_path, image_size=32,
                        pca_components=2, batch_size=8, limit=12, probe=False))
    after = gauges.values()
    # Every image the tasks took, decoded or not, published by the end of the run (Spark's scan
    # drops the empty file before the tasks see it).
    assert after[live.IMAGES_GAUGE] - before[live.IMAGES_GAUGE] == m["profile"]["images"] == 11
    assert after[live.S3A_RETRIES_GAUGE] == before[live.S3A_RETRIES_GAUGE]
    assert after[live.S3_PROBES_FAILED_GAUGE] == before[live.S3_PROBES_FAILED_GAUGE]  # file://: nothing to probe
    phases = [d.removeprefix(live.DESCRIPTION_PREFIX) for d in _job_descriptions(spark)[seen:]
              if d.startswith(live.DESCRIPTION_PREFIX)]
    # In the order the job runs them, each at least once (the probe is off here).
    assert list(dict.fromkeys(phases)) == ["inference", "pca", "write", "record"], phases
