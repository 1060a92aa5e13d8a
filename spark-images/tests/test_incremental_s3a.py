"""Incremental runs through s3a:// against the local S3 server: the identity of an image is its
size and its S3 ETag (an MD5 of the content for a single-part PUT), so an object written again with
the same bytes keeps its row and one rewritten with other bytes of the same size does not.

Skipped unless ORCHARD_S3_ENDPOINT, ORCHARD_S3_BUCKET, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are
set, as test_s3a_magic.py.
"""

import io
import json
import os
import re
import uuid

import numpy as np
import pytest

from conftest import s3_configured
from imagegen import fruit, make_dataset
from orchard_featurize import lineage, listing
from orchard_featurize.job import Args, _hadoop_fs, _read_text, run
from test_s3a_magic import upload

pytestmark = pytest.mark.skipif(
    not s3_configured(),
    reason="s3a tests need ORCHARD_S3_ENDPOINT, ORCHARD_S3_BUCKET, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY "
           "(a local S3 server, e.g. from `orchard dev up`)")


def put(spark, uri: str, data: bytes) -> None:
    fs, path = _hadoop_fs(spark, uri)
    out = fs.create(path, True)
    try:
        out.write(bytearray(data))
    finally:
        out.close()


def get(spark, uri: str) -> bytes:
    fs, path = _hadoop_fs(spark, uri)
    stream = fs.open(path)
    try:
        return bytes(spark.sparkContext._jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
    finally:
        stream.close()


def features_by_path(spark, dataset: str) -> dict[str, bytes]:
    return {r["path"]: np.asarray(r["features"], np.float32).tobytes()
            for r in spark.read.parquet(dataset).select("path", "features").collect()}


def test_etags_decide_what_an_incremental_run_recomputes(spark, model_path, tmp_path):
    prefix = f"s3a://{os.environ['ORCHARD_S3_BUCKET']}/orchard-tests/{uuid.uuid4().hex[:8]}"
    ds = make_dataset(tmp_path / "imgs", per_class=4, with_bad=False)
    upload(spark, ds.root, f"{prefix}/input")
    root, listed = listing.list_images(spark, f"{prefix}/input")
    assert root == f"{prefix}/input" and len(listed) == len(ds.good)
    # S3A's ETags, the same through the one-call text and through the getters.
    assert all(re.fullmatch(r"[0-9a-f]{32}", i.etag) for i in listed.values())
    jvm = spark.sparkContext._jvm
    fs, path = _hadoop_fs(spark, root)
    statuses = jvm.org.apache.hadoop.util.functional.RemoteIterators.toList(fs.listFiles(path, True))
    assert dict(listing.statuses_by_getters(jvm, statuses)) == listed

    def job(name):
        return run(spark, Args(input=f"{prefix}/input", output=f"{prefix}/features/{lineage.RUN_PLACEHOLDER}",
                               run_name=name, model=model_path, image_size=32, pca_components=3, partitions=2,
                               incremental=True, probe=False))

    m0 = job("day0")
    assert m0["lineage"]["mode"] == "full" and m0["output"] == f"{prefix}/features/day0"
    day0 = features_by_path(spark, f"{prefix}/features/day0")

    same, resized, deleted = sorted(listed)[:3]
    put(spark, same, get(spark, same))  # written again, same bytes: same ETag, a newer mtime
    old = get(spark, resized)
    buf = io.BytesIO()
    fruit(np.random.default_rng(1)).save(buf, "JPEG", quality=30)
    assert buf.tell() < len(old)
    put(spark, resized, buf.getvalue() + b"\0" * (len(old) - buf.tell()))  # other bytes, same size
    fs.delete(jvm.org.apache.hadoop.fs.Path(deleted), False)
    added = f"{prefix}/input/Kiwi/added.jpg"
    put(spark, added, get(spark, same))

    m1 = job("day1")
    lin = m1["lineage"]
    assert lin["mode"] == "incremental" and lin["parent"] == f"{prefix}/features/day0"
    assert lin["images"] == {"reused": len(listed) - 2, "featurized": 2, "removed": 1}
    day1 = features_by_path(spark, f"{prefix}/features/day1")
    assert set(day1) == set(listed) - {deleted} | {added}
    assert all(day1[p] == day0[p] for p in set(listed) - {resized, deleted})
    assert day1[resized] != day0[resized]
    pointer = json.loads(_read_text(spark, f"{prefix}/features/_orchard/{lineage.POINTER_FILE}"))
    assert pointer["dataset"] == f"{prefix}/features/day1"
