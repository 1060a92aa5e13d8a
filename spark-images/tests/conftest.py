"""Shared fixtures: one local SparkSession for the whole run, the test model, generated images."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchard_featurize import spark_conf

HERE = Path(__file__).resolve().parent
SPARK_IMAGES = HERE.parent
REPO = SPARK_IMAGES.parent
# Tests read the real sample from ../shared/data relative to the repo root and skip where absent.
FRUITS = Path(os.environ.get("ORCHARD_FRUITS_DIR", REPO.parent / "shared" / "data" / "fruits-360"))
# The one definition of _orchard/metrics.json (draft-07), shared with the TypeScript reader.
METRICS_SCHEMA = REPO / "src" / "api" / "job-metrics.schema.json"

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


@functools.lru_cache(maxsize=1)
def deployed_spark_conf() -> tuple[dict | None, str]:
    """The dev stage's SparkApplication conf, so the s3a:// runs use the deployed settings: from the
    JSON file ORCHARD_SPARK_CONF_JSON names, else printed by the cdk8s app for this environment."""
    path = os.environ.get("ORCHARD_SPARK_CONF_JSON")
    if path:
        try:
            return json.loads(Path(path).read_text()), ""
        except (OSError, ValueError) as e:
            return _unavailable(f"ORCHARD_SPARK_CONF_JSON={path} is unreadable: {e}")
    tsx = REPO / "node_modules" / ".bin" / "tsx"
    script = REPO / "cdk8s" / "print-spark-conf.ts"
    try:
        out = subprocess.run([str(tsx), str(script)], cwd=REPO, capture_output=True, text=True, timeout=120, check=True)
        return json.loads(out.stdout), ""
    except (OSError, subprocess.SubprocessError, ValueError) as e:
        detail = getattr(e, "stderr", "") or str(e)
        return _unavailable(f"could not print the dev SparkApplication's conf ({script.name}): {detail.strip()[:500]}")


def _unavailable(reason: str) -> tuple[None, str]:
    return None, (f"{reason}; run `npm install`, or set ORCHARD_SPARK_CONF_JSON to a file holding "
                  "the output of `npx tsx cdk8s/print-spark-conf.ts`")


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
    # Local Spark binds to the host's first interface otherwise; everything local stays on loopback.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
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
            # What is tested is what is deployed: the dev SparkApplication's sparkConf and hadoopConf.
            # With a local S3 server given, a conf that cannot be rendered is a failure, not a skip.
            app_conf, reason = deployed_spark_conf()
            if app_conf is None:
                pytest.fail(f"the S3 server is configured but {reason}")
            for k, v in spark_conf.session_conf(app_conf).items():
                b = b.config(k, v)
    t0 = time.monotonic()
    session = b.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    report(f"first Spark start: {time.monotonic() - t0:.1f} s (Spark {session.version}, local[2])")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def model_path(setup_env) -> str:
    """The random-weights model setup.sh built: tests find it, they never build it."""
    path = setup_env.get("ORCHARD_TEST_MODEL")
    if not (path and Path(path).exists()):
        pytest.fail(f"no random-weights model (ORCHARD_TEST_MODEL={path!r}): run `npm run setup` "
                    "(or `bash spark-images/setup.sh`) first", pytrace=False)
    return path


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    from imagegen import make_dataset

    return make_dataset(tmp_path_factory.mktemp("images"))


@functools.lru_cache(maxsize=1)
def metrics_schema_validator():
    """A Draft7Validator for METRICS_SCHEMA (no format checking: the schema uses no "format")."""
    from jsonschema import Draft7Validator

    schema = json.loads(METRICS_SCHEMA.read_text())
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


@pytest.fixture(scope="session")
def metrics_validator():
    """What the job writes must pass: ``metrics_validator.validate(doc)`` raises a ValidationError
    naming the field; ``iter_errors(doc)`` lists every error."""
    return metrics_schema_validator()
