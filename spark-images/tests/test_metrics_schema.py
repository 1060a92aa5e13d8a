"""metrics.build_metrics against the one definition of metrics.json (src/api/job-metrics.schema.json).

The end-to-end run validates the file the job actually wrote (test_job_e2e.py); here every shape
build_metrics makes (with and without PCA, with and without failures, rates that round to null) is
checked without Spark, and the schema is shown to refuse a wrong field, naming it.
"""

import copy
import json
from dataclasses import asdict

import numpy as np
import pytest
from jsonschema import ValidationError

from orchard_featurize import metrics, probe, profile
from orchard_featurize.job import Args

INPUT = "s3a://orchard-data/fruits-360/Training"
OUTPUT = "s3a://orchard-features/run-1"
PCA_K = 3
FAILURES = [{"path": f"{INPUT}/Kiwi/broken.jpg", "reason": "cannot identify image file"},
            {"path": f"{INPUT}/Apple/empty.jpg", "reason": "empty file"}]


def probe_metrics(shape: str) -> dict | None:
    """The probe section as job.run_probe makes it: measured, skipped, or None (--no-probe)."""
    if shape == "off":
        return None
    base = {"method": probe.METHOD, "split": {"key": probe.SPLIT, "test_fraction": probe.TEST_FRACTION},
            "alpha": probe.ALPHA, "min_top1": 0.9}
    if shape == "skipped":
        return base | {"skipped": probe.skip_reason({"Kiwi": 3, "Apple": 25})}
    measured = probe.evaluate(np.array([0, 0, 1, 1, 1]), np.array([[0, 1], [1, 0], [1, 0], [1, 0], [0, 1]]),
                              ["Apple", "Kiwi"])
    return base | {"features": "pca", "width": PCA_K, "classes": 2, "train_images": 35} | measured


def job_metrics(*, pca: bool, failures: list[dict], inference_s: float = 4.0, wall_s: float = 9.5,
                probe_shape: str = "measured") -> dict:
    """build_metrics called as job.run calls it, with the same kinds of values, then through JSON as on disk."""
    args = Args(input=INPUT, output=OUTPUT, model="/opt/orchard/model/resnet50-int8.onnx", image_size=100,
                pca_components=PCA_K if pca else 0, partitions=2)
    ev = [0.41, 0.22, 0.1]
    pca_info = {"k": PCA_K, "source": "fitted", "reused_from": None, "centred": True, "explained_variance": ev,
                "explained_variance_total": sum(ev),
                "model_uri": metrics.side_path(OUTPUT, metrics.PCA_MODEL_DIR)} if pca else None
    decoded = 40
    totals = {"feed_s": 1.2, "decode_s": 0.8, "infer_s": 5.1, "emit_s": 0.1, "tasks": 2, "batches": 2, "images": 42}
    m = metrics.build_metrics(
        input_uri=INPUT, output_uri=OUTPUT, found=decoded + len(failures) + 3, considered=decoded + len(failures),
        decoded=decoded, failed=failures, rows_written=decoded, label_counts={"Kiwi": 15, "Apple": 25},
        pca=pca_info, probe=probe_metrics(probe_shape),
        files=[{"name": "part-00001-x.snappy.parquet", "bytes": 170_000},
               {"name": "part-00000-x.snappy.parquet", "bytes": 171_234}],
        success={"committer": "magic", "filenames": 2, "hostname": "driver-0"},
        timings={"wall_s": wall_s, "listing_s": 0.7, "planning_s": 0.2, "inference_s": inference_s, "pca_s": 0.5,
                 "write_s": 1.1, "verify_s": 0.3},
        profile=profile.summarize(totals, inference_s, 2),
        model={"name": "resnet50-keras-notop", "path": args.model, "sha256": "0" * 64, "weights": "pretrained",
               "random_weights": False, "weights_source": "keras-applications", "opset": "17", "image_size": 100,
               "preprocessing": "caffe"},
        versions={"spark": "3.5.8", "pyspark": "3.5.8", "python": "3.11.7", "hadoop": "3.3.4"}, args=asdict(args))
    return json.loads(json.dumps(m))


@pytest.mark.parametrize("pca", [True, False], ids=["pca", "no-pca"])
@pytest.mark.parametrize("failures", [FAILURES, []], ids=["failures", "no-failures"])
def test_build_metrics_output_validates_against_the_schema(metrics_validator, pca, failures):
    doc = job_metrics(pca=pca, failures=failures)
    assert (doc["pca"] is None) is (not pca) and doc["images"]["failed"] == len(failures)
    assert list(metrics_validator.iter_errors(doc)) == []


@pytest.mark.parametrize("probe_shape", ["measured", "skipped", "off"])
def test_each_probe_shape_validates(metrics_validator, probe_shape):
    doc = job_metrics(pca=True, failures=[], probe_shape=probe_shape)
    metrics_validator.validate(doc)
    del doc["probe"]  # metrics written before the probe existed
    metrics_validator.validate(doc)


def test_rates_that_round_to_null_validate(metrics_validator):
    doc = job_metrics(pca=False, failures=[], inference_s=0.0, wall_s=0.0)
    assert doc["images_per_second"] is None and doc["images_per_second_wall"] is None
    metrics_validator.validate(doc)


_MISSING = object()  # as a value below: delete the field


def _set(doc: dict, path: tuple, value) -> None:
    for key in path[:-1]:
        doc = doc[key]
    if value is _MISSING:
        del doc[path[-1]]
    else:
        doc[path[-1]] = value


@pytest.mark.parametrize("path,value,error_path,keyword", [
    (("rows_written",), -1, ["rows_written"], "minimum"),
    (("images", "failed"), _MISSING, ["images"], "required"),
    (("images_per_second",), "12.5", ["images_per_second"], "type"),
    (("files", 0, "bytes"), 1.5, ["files", 0, "bytes"], "type"),
    (("pca", "k"), 0, ["pca", "k"], "minimum"),
    (("versions", "hadoop"), None, ["versions", "hadoop"], "type"),
    (("schema",), "orchard.featurize.metrics/v2", ["schema"], "const"),
    (("probe", "top1"), 1.5, ["probe", "top1"], "maximum"),
    (("probe", "worst_classes"), _MISSING, ["probe"], "required"),
], ids=["negative-rows", "failed-missing", "string-rate", "fractional-bytes", "pca-k-zero", "null-version",
        "other-schema", "probe-top1-above-1", "probe-measured-without-worst-classes"])
def test_schema_refuses_a_wrong_field_and_names_it(metrics_validator, path, value, error_path, keyword):
    doc = job_metrics(pca=True, failures=FAILURES)
    metrics_validator.validate(doc)  # valid before the one change, so the error below is that change's
    bad = copy.deepcopy(doc)
    _set(bad, path, value)
    errors = list(metrics_validator.iter_errors(bad))
    assert [(list(e.absolute_path), e.validator) for e in errors] == [(error_path, keyword)]
    if keyword == "required":
        assert f"'{path[-1]}' is a required property" in errors[0].message
    with pytest.raises(ValidationError) as raised:
        metrics_validator.validate(bad)
    assert list(raised.value.absolute_path) == error_path


LINEAGE_INCREMENTAL = {
    "mode": "incremental", "parent": "s3a://orchard-features/runs/featurize-1764806400",
    "reason": "newest complete dataset under s3a://orchard-features/runs (pointer _orchard/latest.json)",
    "images": {"reused": 9800, "featurized": 1200, "removed": 100},
    "pca": {"action": "reused",
            "reason": "kept the parent's model: it explains 0.610 of the 1200 new rows' variance "
                      "against 0.630 when fitted",
            "explained_variance_fitted": 0.63, "explained_variance_new": 0.61},
    "inputs": "s3a://orchard-features/runs/featurize-1764892800/_orchard/inputs.json",
    "run": "featurize-1764892800",
}
LINEAGE_FULL = {
    "mode": "full", "parent": None,
    "reason": "full run: model changed from resnet50 int8 (sha256 0a1b) to resnet50 fp32 (sha256 9f8e)",
    "images": {"reused": 0, "featurized": 42, "removed": 0},
    "pca": {"action": "off", "reason": "--pca-components 0", "explained_variance_fitted": None,
            "explained_variance_new": None},
}


@pytest.mark.parametrize("lineage", [LINEAGE_INCREMENTAL, LINEAGE_FULL], ids=["incremental", "full"])
def test_lineage_validates_and_is_optional(metrics_validator, lineage):
    doc = job_metrics(pca=True, failures=[]) | {"lineage": lineage}
    metrics_validator.validate(doc)
    del doc["lineage"]  # metrics written before incremental runs existed
    metrics_validator.validate(doc)


@pytest.mark.parametrize("path,value,error_path,keyword", [
    (("mode",), "partial", ["lineage", "mode"], "enum"),
    (("images", "reused"), -1, ["lineage", "images", "reused"], "minimum"),
    (("pca", "action"), "kept", ["lineage", "pca", "action"], "enum"),
    (("reason",), "", ["lineage", "reason"], "minLength"),
    (("images", "removed"), _MISSING, ["lineage", "images"], "required"),
], ids=["mode", "negative-reused", "pca-action", "empty-reason", "removed-missing"])
def test_schema_refuses_a_wrong_lineage_field(metrics_validator, path, value, error_path, keyword):
    doc = job_metrics(pca=True, failures=[]) | {"lineage": copy.deepcopy(LINEAGE_INCREMENTAL)}
    _set(doc["lineage"], path, value)
    assert [(list(e.absolute_path), e.validator) for e in metrics_validator.iter_errors(doc)] == [(error_path, keyword)]
