"""The job through s3a:// with the S3A magic committer, against a local S3-compatible server.

Skipped unless ORCHARD_S3_ENDPOINT, ORCHARD_S3_BUCKET, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
are set (for example by `orchard dev up`). The session fixture then adds the S3A settings: path-style,
plain http, SimpleAWSCredentialsProvider and the four magic committer settings.
"""

import json
import os
import uuid

import pytest

from conftest import s3_configured
from imagegen import make_dataset
from orchard_featurize.job import Args, _hadoop_fs, _read_text, run

pytestmark = pytest.mark.skipif(
    not s3_configured(),
    reason="s3a tests need ORCHARD_S3_ENDPOINT, ORCHARD_S3_BUCKET, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY "
           "(a local S3 server, e.g. from `orchard dev up`)")


@pytest.fixture(scope="module")
def prefix():
    return f"s3a://{os.environ['ORCHARD_S3_BUCKET']}/orchard-tests/{uuid.uuid4().hex[:8]}"


def upload(spark, local_root, uri):
    fs, path = _hadoop_fs(spark, uri)
    jvm = spark.sparkContext._jvm
    fs.copyFromLocalFile(False, True, jvm.org.apache.hadoop.fs.Path(f"file://{local_root}"), path)


def success_manifest(spark, output):
    raw = _read_text(spark, output + "/_SUCCESS")
    assert raw and raw.lstrip().startswith("{"), f"_SUCCESS under {output} is not the S3A committer's JSON"
    return json.loads(raw)


def test_magic_committer_manifest_lists_exactly_the_parquet_files(spark, model_path, tmp_path, prefix,
                                                                 metrics_validator):
    ds = make_dataset(tmp_path / "imgs", per_class=4)
    upload(spark, ds.root, f"{prefix}/input")
    out = f"{prefix}/features"
    m = run(spark, Args(input=f"{prefix}/input", output=out, model=model_path, image_size=32,
                        pca_components=4, partitions=3))
    manifest = success_manifest(spark, out)
    assert manifest["committer"] == "magic"
    names = sorted(n.rsplit("/", 1)[-1] for n in manifest["filenames"])
    assert names == sorted(f["name"] for f in m["files"]) and len(names) == 3
    assert m["success_manifest"]["committer"] == "magic"
    assert m["images"]["failed"] == len(ds.bad)
    # What the job wrote through S3A is what the controller and the report will parse.
    metrics_validator.validate(json.loads(_read_text(spark, f"{out}/_orchard/metrics.json")))
    # re-run replaces atomically: the manifest names only the new files, and only they exist
    m2 = run(spark, Args(input=f"{prefix}/input", output=out, model=model_path, image_size=32, partitions=2))
    names2 = sorted(n.rsplit("/", 1)[-1] for n in success_manifest(spark, out)["filenames"])
    assert names2 == sorted(f["name"] for f in m2["files"]) and len(names2) == 2


def test_more_than_100_files_manifest_is_capped_metrics_lists_all(spark, model_path, tmp_path, prefix):
    ds = make_dataset(tmp_path / "many", per_class=90, with_bad=False)  # 270 images
    upload(spark, ds.root, f"{prefix}/many")
    out = f"{prefix}/many-features"
    m = run(spark, Args(input=f"{prefix}/many", output=out, model=model_path, image_size=32, partitions=120))
    manifest = success_manifest(spark, out)
    assert manifest["committer"] == "magic"
    assert len(manifest["filenames"]) == 100  # Hadoop's SuccessData caps the list
    assert len(m["files"]) == 120 and m["rows_written"] == 270
