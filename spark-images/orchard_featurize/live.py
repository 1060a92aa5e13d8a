"""What the job tells a watcher while it runs, on the driver's UI port only, so that `orchard demo`
reads it the same from a local driver and from a driver pod's IP, and Prometheus scrapes the same.

- The phase: each phase's Spark jobs run under the description ``orchard-featurize: <phase>``
  (Spark's REST API lists it in /jobs and /sql; src/dev/progress.ts reads it).
- Counters: images inferred, S3A's retries, and the driver's probes of the S3 endpoint that got no
  answer, as gauges of the driver's metrics system (Spark's AccumulatorSource, which the
  PrometheusServlet serves at /metrics/prometheus).

On Kubernetes the executors write the dataset, and their S3A retries stay in their JVMs, out of the
driver's reach. So while a run is followed, a driver thread asks the S3 endpoint for anything every
PROBE_INTERVAL_S: an HTTP answer below 500 (S3 refuses an unsigned request, which is an answer) means
S3 serves; a refused or silent connection, or a 5xx, counts one failed probe. When S3 stops or starts
answering, the driver's log says so.

Spark counts a task's rows only when the task ends (its REST API, and its live SQL metrics too,
measured on 3.5.8), and a Python worker can reach no JVM counter; tasks small enough to move a
count every few seconds cost ~0.25 s of CPU each (docs/performance.md). So each Python worker sends
its images, a batch at a time, in one UDP datagram to a socket of the driver's (the address travels
as a job-local property), and a driver thread adds them to the gauge. A lost datagram costs nothing:
at each task's end the profile accumulator's exact count catches the gauge up. Spark's pods may
already reach each other on any port (cdk8s/constructs/network-policies.ts).
"""

from __future__ import annotations

import http.client
import os
import socket
import threading
import time
import urllib.parse

from .logs import log

# src/dev/progress.ts holds the same prefix, phases and gauge names; a test compares them.
DESCRIPTION_PREFIX = "orchard-featurize: "
PHASES = ("inference", "pca", "probe", "write", "record")
IMAGES_GAUGE = "images_inferred"
S3A_RETRIES_GAUGE = "s3a_retries"
S3_PROBES_FAILED_GAUGE = "s3_probes_failed"
# S3A's own count of its retries (connection failures, 500s, throttling), kept per filesystem
# instance; in local mode executors share the driver's instance, on Kubernetes only the driver's
# own calls (listing, the commit, the record files) are counted here.
S3A_RETRY_COUNTER = "store_io_retry"
# How often the gauges are brought up to date: the watcher polls every second, Prometheus every 15 s.
PUBLISH_INTERVAL_S = 2.0
# The job-local property holding "host:port" of the driver's socket; tasks of jobs without it send nothing.
ADDRESS_PROPERTY = "orchard.live.address"
# One datagram: the decimal count of images in a batch.
MAX_DATAGRAM = 32
# One request every 5 s is nothing to S3, and a watcher names an outage within seconds; a healthy
# endpoint answers in milliseconds, so 3 s of silence already means it does not serve.
PROBE_INTERVAL_S = 5.0
PROBE_TIMEOUT_S = 3.0

_PUBLISHERS: dict[int, Publisher] = {}
_LOCK = threading.Lock()


def description(phase: str) -> str:
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}: add it to live.PHASES and to PHASES in src/dev/progress.ts")
    return DESCRIPTION_PREFIX + phase


def s3a_retries(counters: dict[str, int] | None) -> int:
    """Retries in a filesystem's IOStatistics counters; 0 for a filesystem that keeps none (file://)."""
    return int((counters or {}).get(S3A_RETRY_COUNTER, 0))


def s3_endpoint(conf: dict[str, str | None]) -> str:
    """The URL S3A calls, from the filesystem's Hadoop settings: fs.s3a.endpoint, else AWS's regional
    endpoint (or the global one, which S3A 3.3.4 uses when no region is set)."""
    endpoint = (conf.get("fs.s3a.endpoint") or "").strip()
    if endpoint:
        if "://" in endpoint:
            return endpoint.rstrip("/")
        ssl = (conf.get("fs.s3a.connection.ssl.enabled") or "true").strip().lower() != "false"
        return f"{'https' if ssl else 'http'}://{endpoint}"
    region = conf.get("fs.s3a.endpoint.region") or os.environ.get("AWS_REGION")
    return f"https://s3.{region}.amazonaws.com" if region else "https://s3.amazonaws.com"


def probe_s3(endpoint: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when ``endpoint`` answers; else what went wrong, in a few words."""
    url = urllib.parse.urlsplit(endpoint)
    connection = (http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection)(
        url.hostname, url.port, timeout=timeout)
    try:
        connection.request("HEAD", "/")
        status = connection.getresponse().status
        return None if status < 500 else f"HTTP {status}"
    except (OSError, http.client.HTTPException) as e:
        return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    finally:
        connection.close()


def parse_address(value: str | None) -> tuple[str, int] | None:
    if not value or ":" not in value:
        return None
    host, _, port = value.rpartition(":")
    return (host, int(port)) if port.isdigit() else None


def parse_count(datagram: bytes) -> int:
    """A datagram's image count; 0 for anything else (the socket takes what the pod network sends)."""
    text = datagram[:MAX_DATAGRAM].decode("ascii", "replace")
    return int(text) if text.isdigit() else 0


_SENDER: dict[str, tuple[socket.socket, tuple]] = {}


def report(images: int) -> None:
    """Worker side: tell the driver that ``images`` more were inferred. Never raises: progress is
    not worth a failed task."""
    from pyspark import TaskContext

    ctx = TaskContext.get()
    value = ctx.getLocalProperty(ADDRESS_PROPERTY) if ctx is not None else None
    address = parse_address(value)
    if address is None:
        return
    try:
        if value not in _SENDER:  # once per worker process: the name resolves once
            info = socket.getaddrinfo(*address, type=socket.SOCK_DGRAM)[0]
            _SENDER[value] = (socket.socket(info[0], socket.SOCK_DGRAM), info[4])
        sock, target = _SENDER[value]
        sock.sendto(str(images).encode("ascii"), target)
    except OSError:
        pass


class Publisher:
    """One per SparkContext: JVM accumulators registered as metrics-system gauges (the metrics system
    takes a source name once, so they count for the driver's life, across runs), and a daemon thread
    that adds to them what the followed run's counters moved by, every PUBLISH_INTERVAL_S. The thread
    ends with the context (its first py4j error)."""

    def __init__(self, sc):
        self._sc = sc
        jvm = sc._jvm
        self._support = jvm.org.apache.hadoop.fs.statistics.IOStatisticsSupport
        self._accs = {name: sc._jsc.sc().longAccumulator(f"orchard.{name}")
                      for name in (IMAGES_GAUGE, S3A_RETRIES_GAUGE, S3_PROBES_FAILED_GAUGE)}
        as_map = jvm.java.util.HashMap()
        for name, acc in self._accs.items():
            as_map.put(name, acc)
        source = getattr(getattr(jvm.org.apache.spark.metrics.source, "LongAccumulatorSource$"), "MODULE$")
        source.register(sc._jsc.sc(), jvm.org.apache.spark.api.python.PythonUtils.toScalaMap(as_map))
        self._lock = threading.Lock()
        self._images, self._fs, self._sent, self._reported = None, None, {}, 0
        self._endpoint: str | None = None
        self._stopped = threading.Event()
        # Every interface: executors on other pods send to the driver's address.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("0.0.0.0", 0))
        self._socket.settimeout(PUBLISH_INTERVAL_S / 4)
        self.address = f"{sc.getConf().get('spark.driver.host', '127.0.0.1')}:{self._socket.getsockname()[1]}"
        threading.Thread(target=self._loop, name="orchard-live", daemon=True).start()
        threading.Thread(target=self._probe_loop, name="orchard-s3-probe", daemon=True).start()

    def _retries(self) -> int:
        stats = self._support.retrieveIOStatistics(self._fs)  # None for a filesystem that keeps none
        return s3a_retries(dict(stats.counters()) if stats is not None else None)

    def follow(self, images, filesystem) -> None:
        """From now on, count what this thread's jobs' workers report, ``images()`` (the run's exact
        count as tasks end, from 0) and ``filesystem``'s retries."""
        self._sc.setLocalProperty(ADDRESS_PROPERTY, self.address)
        conf = filesystem.getConf()
        keys = ("fs.s3a.endpoint", "fs.s3a.connection.ssl.enabled", "fs.s3a.endpoint.region")
        endpoint = s3_endpoint({key: conf.get(key) for key in keys}) if filesystem.getScheme() == "s3a" else None
        with self._lock:
            self._images, self._fs, self._reported, self._endpoint = images, filesystem, 0, endpoint
            self._sent = {IMAGES_GAUGE: 0, S3A_RETRIES_GAUGE: self._retries()}

    def publish(self) -> None:
        with self._lock:
            if self._images is None:
                return
            images = max(self._reported, int(self._images()))
            for name, now in ((IMAGES_GAUGE, images), (S3A_RETRIES_GAUGE, self._retries())):
                if now > self._sent[name]:
                    self._accs[name].add(now - self._sent[name])
                    self._sent[name] = now

    def values(self) -> dict[str, int]:
        return {name: int(acc.value()) for name, acc in self._accs.items()}

    def _loop(self) -> None:
        due = time.monotonic() + PUBLISH_INTERVAL_S
        while True:
            try:
                datagram = self._socket.recv(MAX_DATAGRAM)
                with self._lock:
                    self._reported += parse_count(datagram)
            except TimeoutError:
                pass
            if time.monotonic() >= due:
                due += PUBLISH_INTERVAL_S
                try:
                    self.publish()
                except Exception:  # noqa: BLE001 - the context has stopped; a gauge must never fail the job
                    self._socket.close()
                    self._stopped.set()
                    return

    def _probe_loop(self) -> None:
        down_since: float | None = None
        while not self._stopped.wait(PROBE_INTERVAL_S):
            with self._lock:
                endpoint = self._endpoint
            if endpoint is None:
                continue
            problem = probe_s3(endpoint)
            if problem is None:
                if down_since is not None:
                    log("s3_answers_again", endpoint=endpoint, unanswered_s=round(time.monotonic() - down_since, 1))
                down_since = None
                continue
            if down_since is None:
                down_since = time.monotonic()
                log("s3_not_answering", level="warn", endpoint=endpoint, error=problem,
                    hint="S3A retries its calls meanwhile (fs.s3a.retry.*); the job goes on when S3 answers")
            try:
                self._accs[S3_PROBES_FAILED_GAUGE].add(1)
            except Exception:  # noqa: BLE001 - the context has stopped
                return


def publisher(sc) -> Publisher:
    with _LOCK:
        key = id(sc._jsc)
        if key not in _PUBLISHERS:
            _PUBLISHERS[key] = Publisher(sc)
        return _PUBLISHERS[key]
