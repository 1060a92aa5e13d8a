"""The scale mode's parts: image sets made from the sample, request counts from the S3 access log,
the stage table. (`orchard bench --scale` runs them end to end against a real S3 server.)"""

import json

import pytest

from conftest import FRUITS
from orchard_bench import augment, scale
from orchard_featurize import images

LOG_LINES = [
    "log starts 2026-12-01 22:53:15.502685511 +0000 UTC m=+0.035354567",
    "owner orchard-scale [01/December/2026:22:53:15 +0000] 127.0.0.1 owner 1R22YCHIE79CVWWR s3_HeadObject "
    "images/n1000/Apple/a.jpg /orchard-scale/images/n1000/Apple/a.jpg 200 - 0 0 0 0 "
    "- ua - id SigV4 - AuthHeader h - arn Yes",
    "owner orchard-scale [01/December/2026:22:53:15 +0000] 127.0.0.1 owner 2R22YCHIE79CVWWR s3_GetObject "
    "images/n1000/Apple/a.jpg /orchard-scale/images/n1000/Apple/a.jpg 200 - 4711 4711 1 1 "
    "- ua - id SigV4 - AuthHeader h - arn Yes",
    "owner orchard-scale [01/December/2026:22:53:16 +0000] 127.0.0.1 owner 3R22YCHIE79CVWWR s3_HeadObject "
    "images/n1000/Apple/b.jpg /orchard-scale/images/n1000/Apple/b.jpg 200 - 0 0 0 0 "
    "- ua - id SigV4 - AuthHeader h - arn Yes",
]


def test_requests_are_counted_by_operation_within_the_run_window(tmp_path):
    log = tmp_path / "access.log"
    log.write_text("\n".join(LOG_LINES[:3]) + "\n")
    middle = scale.log_size(str(log))
    with log.open("a") as f:
        f.write(LOG_LINES[3] + "\n")
    assert scale.count_requests(str(log), 0, middle) == {"GetObject": 1, "HeadObject": 1}
    assert scale.count_requests(str(log), middle, scale.log_size(str(log))) == {"HeadObject": 1}


def test_stage_rows_split_commit_out_of_write_and_count_per_image():
    run = {"images": 1000, "timings": {"wall_s": 20.0, "listing_s": 1.0, "planning_s": 0.1, "inference_s": 15.0,
                                       "pca_s": 2.0, "write_s": 1.5, "verify_s": 0.2},
           "profile": {"tasks": 2}, "requests": {"HeadObject": 2010, "GetObject": 1000},
           "success_manifest": {"iostatistics": {"maximums": {"committer_commit_job.max": 500}}}}
    (row,) = scale.stage_rows([run])
    assert row["stages"]["commit"] == 0.5 and row["stages"]["write"] == 1.0
    assert row["start_s"] == pytest.approx(20.0 - 19.8)
    assert row["requests_per_image"] == {"HeadObject": 2.01, "GetObject": 1.0}
    assert row["images_per_second"] == 50.0 and row["featurizing_images_per_second"] == pytest.approx(1000 / 15)
    assert row["probe"] is None  # a run without the probe
    text = scale.render([row])
    assert "1,000" in text and "HeadObject 2.01, GetObject 1.00" in text


def test_stage_rows_report_the_probe_its_cost_and_share_of_the_wall_time():
    probe = {"method": "ridge", "features": "pca", "width": 50, "classes": 101, "train_images": 8000,
             "test_images": 2000, "top1": 0.9123, "top5": 0.9876, "chance_top1": 0.0099, "per_class_recall": {}}
    run = {"images": 10000, "timings": {"wall_s": 100.0, "inference_s": 80.0, "pca_s": 5.0, "probe_s": 4.0,
                                        "write_s": 6.0}, "profile": None, "probe": probe}
    (row,) = scale.stage_rows([run])
    assert row["stages"]["probe"] == 4.0 and row["start_s"] == pytest.approx(5.0)  # not counted in "start"
    assert row["probe"] == {"features": "pca", "width": 50, "train_images": 8000, "test_images": 2000,
                            "top1": 0.9123, "top5": 0.9876, "chance_top1": 0.0099, "seconds": 4.0,
                            "share_of_wall": 0.04}
    text = scale.render([row])
    assert "91.2% / 98.8% (2000 images)" in text and "4.0%" in text
    (skipped,) = scale.stage_rows([run | {"probe": {"skipped": "a single class"}}])
    assert skipped["probe"] == {"skipped": "a single class"} and "skipped" in scale.render([skipped])


@pytest.mark.skipif(not (FRUITS / "Training").exists(), reason=f"Fruits-360 sample not found at {FRUITS}")
def test_sets_are_new_jpegs_nested_and_deterministic(tmp_path):
    sets = augment.ensure_sets(FRUITS / "Training", [40, 120], tmp_path, processes=2)
    small, large = ({p.relative_to(sets[n]) for p in sets[n].rglob("*") if p.is_file()} for n in (40, 120))
    assert len(small) == 40 and len(large) == 120 and small <= large  # a smaller set is a prefix of a larger one
    sources = augment.sources(FRUITS / "Training")
    assert len(large) <= len(sources) and len({p.parent for p in large}) > 30  # every prefix spreads over classes
    one = next(iter(small))
    made = (sets[40] / one).read_bytes()
    original = (FRUITS / "Training" / one.parent / one.name.replace("_v0.jpg", ".jpg")).read_bytes()
    assert made != original and images.decode(made, 100)[1] is None  # re-encoded, and a valid image
    again = augment.ensure_sets(FRUITS / "Training", [40], tmp_path / "again", processes=1)
    assert (again[40] / one).read_bytes() == made
    assert json.loads((sets[40].parent / "n40.complete").read_text()) == {"count": 40}
