"""{run} in --output is the name spark-submit gave the driver (spark-operator v2.5.2 passes
`--name <SparkApplication name>`): featurize.py must not override it with the builder's appName."""

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import SPARK_IMAGES
from imagegen import make_dataset


def test_spark_submit_name_names_the_run_folder(model_path, tmp_path):
    ds = make_dataset(tmp_path / "in", per_class=2, with_bad=False)
    submit = Path(sys.executable).with_name("spark-submit")
    env = os.environ | {"PYSPARK_PYTHON": sys.executable, "PYTHONPATH": str(SPARK_IMAGES),
                        "SPARK_LOCAL_IP": "127.0.0.1"}
    out = subprocess.run([str(submit), "--master", "local[1]", "--name", "featurize-1764892800",
                          str(SPARK_IMAGES / "featurize.py"), "--input", str(ds.root),
                          "--output", f"{tmp_path}/out/{{run}}", "--model", model_path, "--image-size", "32",
                          "--no-probe", "--incremental"],
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    metrics = json.loads((tmp_path / "out" / "featurize-1764892800" / "_orchard" / "metrics.json").read_text())
    assert metrics["lineage"]["run"] == "featurize-1764892800"
    assert metrics["lineage"]["mode"] == "full"
