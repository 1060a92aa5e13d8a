"""The pure lineage decisions (lineage.py), the listing's parser (listing.py) and PCA's variance
check, on plain data: no Spark."""

import json

import numpy as np
import pytest

from orchard_featurize import lineage, listing, pca
from orchard_featurize.lineage import Identity

ROOT = "s3a://orchard-features/runs"
INPUT = "s3a://orchard-data/fruits-360/Training"


def parent(**over) -> lineage.Parent:
    base = {"uri": f"{ROOT}/day0", "input": INPUT, "model_name": "resnet50-keras-notop", "model_sha256": "a" * 64,
            "precision": "int8", "image_size": 100, "pca_k": 50, "pca_explained": 0.62}
    return lineage.Parent(**(base | over))


def current(**over) -> lineage.Current:
    base = {"input": INPUT, "model_name": "resnet50-keras-notop", "model_sha256": "a" * 64, "precision": "int8",
            "image_size": 100}
    return lineage.Current(**(base | over))


def test_run_placeholder_becomes_the_run_name_as_the_last_folder():
    assert lineage.resolve_output(f"{ROOT}/{{run}}", "featurize-1764892800") == (f"{ROOT}/featurize-1764892800",
                                                                                 "featurize-1764892800")
    assert lineage.resolve_output(f"{ROOT}/{{run}}/", "day1") == (f"{ROOT}/day1", "day1")
    assert lineage.resolve_output(f"{ROOT}/fixed/", "ignored") == (f"{ROOT}/fixed", None)
    assert lineage.dataset_root(f"{ROOT}/day1") == ROOT


@pytest.mark.parametrize("output,name,words", [
    (f"{ROOT}/{{run}}", "a/b", "cannot be a folder name"),
    (f"{ROOT}/{{run}}", "_hidden", "cannot be a folder name"),
    (f"{ROOT}/{{run}}", None, "cannot be a folder name"),
    (f"{ROOT}/{{run}}/x", "day1", "must be the last folder"),
    (f"{ROOT}/{{run}}-{{run}}", "day1", "must be the last folder"),
])
def test_a_run_name_or_placeholder_that_cannot_make_a_folder_is_refused(output, name, words):
    with pytest.raises(lineage.LineageError, match=words):
        lineage.resolve_output(output, name)


def test_diff_reuses_same_path_size_and_etag_only():
    parent_rows = {f"{INPUT}/A/same.jpg": Identity(10, "e1"), f"{INPUT}/A/reencoded.jpg": Identity(10, "e2"),
                   f"{INPUT}/A/resized.jpg": Identity(10, "e3"), f"{INPUT}/B/deleted.jpg": Identity(5, "e4")}
    now = {f"{INPUT}/A/same.jpg": Identity(10, "e1"), f"{INPUT}/A/reencoded.jpg": Identity(10, "e2-new"),
           f"{INPUT}/A/resized.jpg": Identity(11, "e3"), f"{INPUT}/B/new.jpg": Identity(7, "e5")}
    d = lineage.diff(now, parent_rows)
    assert d.reused == [f"{INPUT}/A/same.jpg"]
    assert d.featurize == sorted([f"{INPUT}/A/reencoded.jpg", f"{INPUT}/A/resized.jpg", f"{INPUT}/B/new.jpg"])
    assert (d.changed, d.removed) == (2, 1)
    # No parent: everything is featurized.
    assert lineage.diff(now, {}) == lineage.Diff([], sorted(now), 0, 0)


def test_inputs_side_file_round_trips_with_relative_paths():
    images = {f"{INPUT}/Apple Red 1/0_100.jpg": Identity(4773, "2247c5e506d29555ba9bcd403cf29330"),
              f"{INPUT}/Kiwi/1.jpg": Identity(12, "mtime:1796397065000")}
    text = lineage.inputs_json(INPUT + "/", images)
    assert json.loads(text)["images"][0] == ["Apple Red 1/0_100.jpg", 4773, "2247c5e506d29555ba9bcd403cf29330"]
    assert lineage.parse_inputs(text, "x") == images
    with pytest.raises(ValueError, match="not an orchard inputs file"):
        lineage.parse_inputs('{"schema": "other"}', "s3a://b/x/_orchard/inputs.json")
    with pytest.raises(ValueError, match="is not under the input"):
        lineage.inputs_json(INPUT, {"s3a://elsewhere/a.jpg": Identity(1, "e")})


def metrics_doc(**over) -> dict:
    doc = {"schema": "orchard.featurize.metrics/v1", "input": INPUT, "rows_written": 10,
           "model": {"name": "resnet50-keras-notop", "sha256": "a" * 64, "precision": "int8", "image_size": 100},
           "pca": {"k": 50, "explained_variance_total": 0.62}, "lineage": {"mode": "full"}}
    return doc | over


def test_parent_from_metrics_reads_what_decides_reuse_and_says_why_not():
    assert lineage.parent_from_metrics(f"{ROOT}/day0/", json.dumps(metrics_doc())) == parent()
    assert lineage.parent_from_metrics(f"{ROOT}/day0", json.dumps(metrics_doc(pca=None))).pca_k is None
    assert "no _orchard/metrics.json" in lineage.parent_from_metrics(f"{ROOT}/day0", None)
    assert "predates incremental runs" in lineage.parent_from_metrics(
        f"{ROOT}/day0", json.dumps({k: v for k, v in metrics_doc().items() if k != "lineage"}))
    assert "is not valid job metrics" in lineage.parent_from_metrics(f"{ROOT}/day0", "{truncated")
    assert "has schema" in lineage.parent_from_metrics(f"{ROOT}/day0", json.dumps(metrics_doc(schema="x")))


def test_model_precision_size_or_input_change_forces_a_full_run_naming_both():
    assert lineage.full_run_reason(parent(), current()) is None
    why = lineage.full_run_reason(parent(), current(model_sha256="b" * 64, precision="fp32"))
    assert why.startswith("precision and model changed from resnet50-keras-notop int8 (sha256 aaaaaaaaaaaa) to "
                          "resnet50-keras-notop fp32 (sha256 bbbbbbbbbbbb)") and f"{ROOT}/day0" in why
    assert lineage.full_run_reason(parent(), current(model_sha256="c" * 64)).startswith("model changed from")
    assert lineage.full_run_reason(parent(), current(image_size=224)).startswith(
        "image size changed from 100 to 224 px")
    assert lineage.full_run_reason(parent(), current(input="s3a://other/x")).startswith(
        f"input changed from {INPUT} to s3a://other/x")


def test_pointer_and_newest():
    assert lineage.parse_pointer(lineage.pointer_json(f"{ROOT}/day1/", "day1")) == f"{ROOT}/day1"
    assert lineage.pointer_uri(ROOT) == f"{ROOT}/_orchard/latest.json"
    for bad in (None, "", "not json", "[]", '{"schema": "orchard.lineage.latest/v1"}'):
        assert lineage.parse_pointer(bad) is None
    assert lineage.newest([("a", 5), ("b", 9), ("c", 9)]) == "c"
    assert lineage.newest([]) is None


@pytest.mark.parametrize("kw,action,judge,words", [
    ({"k": 50, "pca_model": None, "refit": False, "parent": parent()}, "reused", True, "the parent's model"),
    ({"k": 50, "pca_model": None, "refit": True, "parent": parent()}, "refitted", False, "--refit-pca"),
    ({"k": 20, "pca_model": None, "refit": False, "parent": parent()}, "refitted", False, "differs from the parent"),
    ({"k": 50, "pca_model": None, "refit": False, "parent": parent(pca_k=None)}, "fitted", False, "has no PCA"),
    ({"k": 50, "pca_model": None, "refit": False, "parent": None}, "fitted", False, "no parent model"),
    ({"k": 0, "pca_model": None, "refit": False, "parent": parent()}, "off", False, "--pca-components 0"),
    ({"k": 0, "pca_model": "s3a://m", "refit": False, "parent": parent()}, "reused", False, "--pca-model s3a://m"),
], ids=["reuse", "asked", "k-changed", "parent-without", "no-parent", "off", "explicit-model"])
def test_pca_plan(kw, action, judge, words):
    plan = lineage.plan_pca(parent_model=f"{ROOT}/day0/_orchard/pca-model", **kw)
    assert (plan.action, plan.judge) == (action, judge) and words in plan.reason
    assert (plan.reuse is not None) == (action == "reused")


def test_pca_is_refitted_only_below_the_ratio_with_enough_rows():
    refit, why = lineage.judge_pca(0.60, 0.60 * lineage.PCA_REFIT_RATIO - 0.01, 500)
    assert refit and why.startswith("refitted: the parent's model explains") and "500 new rows" in why
    refit, why = lineage.judge_pca(0.60, 0.60 * lineage.PCA_REFIT_RATIO + 0.01, 500)
    assert not refit and why.startswith("kept the parent's model: it explains")
    refit, why = lineage.judge_pca(0.60, 0.10, lineage.PCA_JUDGE_MIN_ROWS - 1)
    assert not refit and "too few to judge" in why


def test_spread_measures_the_share_of_the_rows_variance_a_model_explains():
    rng = np.random.default_rng(3)
    # Rows spread along two axes of six: a k=2 model explains nearly all of their variance...
    basis = np.linalg.qr(rng.normal(size=(6, 6)))[0]
    x = rng.normal(size=(400, 2)) * [5.0, 3.0] @ basis[:, :2].T + rng.normal(scale=0.05, size=(400, 6))
    model = pca.fit(pca.moments(x), 2)
    halves = pca.spread(model, x[:150]) + pca.spread(model, x[150:])  # summed per task, in any split
    assert pca.explained_share(halves) == pytest.approx(model.explained_variance.sum(), rel=1e-9)
    # ...the same rows moved away along another axis: a shift, not variance, still explained...
    assert pca.explained_share(pca.spread(model, x + 30 * basis[:, 4])) == pytest.approx(
        model.explained_variance.sum(), rel=1e-9)
    # ...and little of rows that vary along the other four.
    y = rng.normal(size=(400, 4)) * 4.0 @ basis[:, 2:].T + model.mean
    assert pca.explained_share(pca.spread(model, y)) < 0.01
    assert pca.explained_share(pca.spread(model, x[:1])) is None


S3A_LINE = ("S3ALocatedFileStatus{path=s3a://orchard-inc/probe/imgs/Apple Braeburn/0_100.jpg; isDirectory=false; "
            "length=4773; replication=1; blocksize=33554432; modification_time=1796397065000; access_time=0; "
            "owner=root; group=root; permission=rw-rw-rw-; isSymlink=false; hasAcl=false; isEncrypted=true; "
            "isErasureCoded=false}[eTag='2247c5e506d29555ba9bcd403cf29330', versionId='']")
LOCAL_LINE = ("LocatedFileStatus{path=file:/data/Training/Mandarine/168_100.jpg; isDirectory=false; length=5385; "
              "replication=1; blocksize=33554432; modification_time=1796396658171; access_time=1796396971949; "
              "owner=root; group=root; permission=r--r--r--; isSymlink=false; hasAcl=false; isEncrypted=false; "
              "isErasureCoded=false}")


def test_status_text_parses_to_path_and_identity_or_not_at_all():
    assert listing.parse_statuses(f"{S3A_LINE}\n{LOCAL_LINE}", 2) == [
        ("s3a://orchard-inc/probe/imgs/Apple Braeburn/0_100.jpg", Identity(4773, "2247c5e506d29555ba9bcd403cf29330")),
        ("file:/data/Training/Mandarine/168_100.jpg", Identity(5385, "mtime:1796396658171"))]
    assert listing.parse_statuses("", 0) == []
    # A path with a newline splits into more lines than statuses; another format does not match.
    assert listing.parse_statuses(f"{S3A_LINE}\n{LOCAL_LINE}", 1) is None
    assert listing.parse_statuses("FileStatus[path=x]", 1) is None


def test_listing_keeps_what_the_binary_file_scan_reads():
    root = "s3a://b/in"
    assert listing.keep(f"{root}/Kiwi/a.JPG", root)
    assert not listing.keep(f"{root}/Kiwi/notes.txt", root)
    assert not listing.keep(f"{root}/_tmp/a.jpg", root)
    assert not listing.keep(f"{root}/Kiwi/.a.jpg", root)
