"""Shared fixtures: one local SparkSession for the whole run, the test model, generated images."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SPARK_IMAGES = HERE.parent
REPO = SPARK_IMAGES.parent
# Tests read the real sample from ../shared/data relative to the repo root and skip where absent.
FRUITS = Path(os.environ.get("ORCHARD_FRUITS_DIR", REPO.parent / "shared" / "data" / "fruits-360"))
sys.path.insert(0, str(SPARK_IMAGES))
sys.path.insert(0, str(HERE))

from orchard_featurize import spark_conf  # noqa: E402

REPORT: list[str] = []


def report(line: str) -> None:
    """A measured number worth reading after the run: printed in pytest's terminal summary."""
    REPORT.append(line)


def pytest_terminal_summary(terminalreporter):
    if REPORT:
        terminalreporter.section("orchard measurements")
        for line in REPORT:
            terminalreporter.write_line(line)


S3_ENV = ("ORCHARD_S3_ENDPOINT", "ORCHARD_S3_BUCKET", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def s3_configured() -> bool:
    return all(os.environ.get(k) for k in S3_ENV)


def _cache_env() -> dict[str, str]:
    env_file = Path(os.environ.get("ORCHARD_CACHE", Path.home() / ".cache" / "orchard")) / "setup.env"
    values = {}
    if env_file.exists():
        for line in env_file.read_text().splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                values[k] = v
    values.update({k: v for k, v in os.environ.items() if k.startswith("ORCHARD_")})
    return values


@pytest.fixture(scope="session")
def setup_env() -> dict[str, str]:
    return _cache_env()


@pytest.fixture(scope="session")
def spark(setup_env):
    from pyspark.sql import SparkSession

    # Workers must import orchard_featurize exactly as the image does (PYTHONPATH=/opt/orchard/job).
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SPARK_IMAGES), os.environ.get("PYTHONPATH")]))
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    b = (SparkSession.builder.master("local[2]").appName("orchard-featurize-tests")
         .config("spark.sql.shuffle.partitions", "4")
         .config("spark.ui.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false")
         .config("spark.driver.memory", "3g")
         .config("spark.sql.session.timeZone", "UTC"))
    jars_dir = setup_env.get("ORCHARD_JARS_DIR")
    if jars_dir:
        # The same committer settings as production: on file:// PathOutputCommitProtocol binds to
        # the classic FileOutputCommitter, on s3a:// to the magic committer.
        b = b.config("spark.jars", ",".join(spark_conf.s3a_jars(jars_dir)))
        for k, v in spark_conf.MAGIC_COMMITTER_CONF.items():
            b = b.config(k, v)
        if s3_configured():
            conf = spark_conf.local_s3a_conf(os.environ["ORCHARD_S3_ENDPOINT"], os.environ["AWS_ACCESS_KEY_ID"],
                                             os.environ["AWS_SECRET_ACCESS_KEY"])
            for k, v in conf.items():
                b = b.config(k, v)
    t0 = time.monotonic()
    session = b.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    report(f"first Spark start: {time.monotonic() - t0:.1f} s (Spark {session.version}, local[2])")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def model_path(setup_env, tmp_path_factory) -> str:
    path = setup_env.get("ORCHARD_TEST_MODEL")
    if path and Path(path).exists():
        return path
    from orchard_featurize import build_model

    out = tmp_path_factory.mktemp("model") / "resnet50-random.onnx"
    t0 = time.monotonic()
    build_model.build(str(out), build_model.DEFAULT_OPSET, random_seed=20240)
    report(f"built random-weights model in {time.monotonic() - t0:.1f} s (run setup.sh to cache it)")
    return str(out)


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    from imagegen import make_dataset

    return make_dataset(tmp_path_factory.mktemp("images"))
