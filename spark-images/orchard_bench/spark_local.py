"""The bench's local SparkSession (the settings the job runs with) and the Python workers' memory."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

SPARK_IMAGES = Path(__file__).resolve().parent.parent
# The job's Python workers are forked by this module (Spark's PythonWorkerFactory).
DAEMON_MODULE = b"pyspark.daemon"
SAMPLE_SECONDS = 0.25


def local_session(cores: int, jars_dir: str | None, app_name: str, conf: dict[str, str] | None = None):
    """local[cores] with what the deployed SparkApplication sets for the job (src/spark/application.ts):
    Python worker reuse and the S3A committer protocol (which binds to FileOutputCommitter on file://)."""
    from pyspark.sql import SparkSession

    from orchard_featurize import spark_conf

    # Workers must import orchard_featurize as the image does (PYTHONPATH=/opt/orchard/job).
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SPARK_IMAGES), os.environ.get("PYTHONPATH")]))
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # Local Spark binds to the host's first interface otherwise.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    b = (SparkSession.builder.master(f"local[{cores}]").appName(app_name)
         .config("spark.ui.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false")
         .config("spark.driver.memory", "4g")
         .config("spark.python.worker.reuse", "true"))
    if jars_dir:
        b = b.config("spark.jars", ",".join(spark_conf.s3a_jars(jars_dir)))
        for k, v in spark_conf.MAGIC_COMMITTER_CONF.items():
            b = b.config(k, v)
    for k, v in (conf or {}).items():
        b = b.config(k, v)
    session = b.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def _proc_table() -> dict[int, tuple[int, bytes, int]]:
    """pid -> (parent pid, command line, resident bytes) for every readable process."""
    page = os.sysconf("SC_PAGE_SIZE")
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{entry.name}/statm", "rb") as f:
                rss_pages = int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone between listing and reading
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        table[int(entry.name)] = (ppid, cmdline, rss_pages * page)
    return table


def worker_rss(table: dict[int, tuple[int, bytes, int]], root: int) -> list[int]:
    """RSS of each Spark Python worker descending from ``root``: children of a pyspark.daemon
    (the daemon itself only forks). Other processes' Spark jobs on the machine are not counted."""
    def descends(pid: int) -> bool:
        seen = set()
        while pid in table and pid not in seen:
            if pid == root:
                return True
            seen.add(pid)
            pid = table[pid][0]
        return False

    return [rss for pid, (ppid, cmd, rss) in table.items()
            if DAEMON_MODULE in cmd and ppid in table and DAEMON_MODULE in table[ppid][1] and descends(pid)]


class WorkerMemory:
    """Samples the workers' RSS every SAMPLE_SECONDS while in a ``with`` block.

    RSS counts pages shared with the daemon once per worker, so the total slightly overstates
    what the workers hold together; it is what a container's memory limit would see per process.
    """

    def __init__(self) -> None:
        self.peak_total = 0
        self.peak_one = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        root = os.getpid()
        while not self._stop.wait(SAMPLE_SECONDS):
            sizes = worker_rss(_proc_table(), root)
            if sizes:
                self.peak_total = max(self.peak_total, sum(sizes))
                self.peak_one = max(self.peak_one, max(sizes))

    def __enter__(self) -> WorkerMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
