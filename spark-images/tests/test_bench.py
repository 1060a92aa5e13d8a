"""The bench's pure parts (MAC count, FLOP limit, medians, rows, table, worker memory) and one small
end-to-end run in which every case must produce a row. Figures here are not benchmarks."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import FRUITS, SPARK_IMAGES
from orchard_bench import flops, summary
from orchard_bench.spark_local import worker_rss
from orchard_featurize import resnet50


def one_conv_graph(cin=3, cout=8, k=3, stride=2, pad=1, group=1):
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.zeros((cout, cin // group, k, k), np.float32), "w")
    node = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[k, k], strides=[stride] * 2,
                            pads=[pad] * 4, group=group)
    graph = helper.make_graph([node], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", cin, "h", "w"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=[w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_macs_of_one_conv_follow_its_output_shape():
    # 3 -> 8 channels, 3x3, stride 2, pad 1 on 10x10: 5x5 outputs, each 3*3*3 MACs per channel.
    assert flops.graph_macs(one_conv_graph(), 10, 10) == 5 * 5 * 8 * 3 * 3 * 3
    assert flops.graph_macs(one_conv_graph(), 10, 10, batch=4) == 4 * 5 * 5 * 8 * 27
    assert flops.graph_macs(one_conv_graph(cin=4, group=2), 10, 10) == 5 * 5 * 8 * 2 * 9


def resnet50_macs_by_hand(size: int) -> int:
    """Keras ResNet50 (v1: stride on the first 1x1 of a block) from its layer list, without ONNX."""
    def out(h, k, s, p):  # output side of a k x k window, stride s, padding p
        return (h + 2 * p - k) // s + 1

    h = out(out(size, 7, 2, 3), 3, 2, 1)  # conv1, then the max pool
    total = out(size, 7, 2, 3) ** 2 * 64 * 7 * 7 * 3
    for name, cin, cout, k, s in list(resnet50.conv_layers())[1:]:
        if name.endswith("_1_conv") or name.endswith("_0_conv"):
            ho = out(h, 1, s, 0)
        total += ho * ho * cout * cin * k * k
        if name.endswith("_3_conv"):
            h = ho
    return total


@pytest.mark.parametrize("size", [224, 100])
def test_resnet50_macs_from_the_graph(model_path, size):
    import onnx

    macs = flops.graph_macs(onnx.load(model_path), size, size)
    assert macs == resnet50_macs_by_hand(size)
    # The published 4.09 GMAC is torchvision's v1.5 (stride on the 3x3); Keras's v1 is 3.86 at 224.
    assert {224: 3.86e9, 100: 0.95e9}[size] == pytest.approx(macs, rel=0.01)


def test_flop_limit_and_matmul_peak():
    assert flops.images_per_second_limit(100e9, 1_000_000_000) == 50.0
    peak = flops.matmul_flops(n=128, repeats=2, threads=1)
    assert 1e8 < peak["numpy"] < 1e14 and 1e8 < peak["onnxruntime"] < 1e14  # real, physically plausible
    assert peak["peak"] == max(peak["numpy"], peak["onnxruntime"])


def test_summarize_median_and_spread():
    s = summary.summarize([10.0, 14.0, 12.0])
    assert s == {"median": 12.0, "min": 10.0, "max": 14.0, "spread": pytest.approx(4 / 12), "n": 3}
    assert summary.summarize([3.0, 1.0])["median"] == 2.0
    with pytest.raises(ValueError, match="at least one run"):
        summary.summarize([])


def sample_report():
    return {
        "machine": {"cores": 2},
        "macs": {"224": 4_000_000_000},
        "fidelity": {"224": {"min": 0.995, "mean": 0.998, "images": 90, "source": "x"}},
        "quality": {"int8/224": {"top1": 0.963, "top5": 0.995, "test_images": 606},
                    "fp32/224": {"top1": 0.976, "top5": 0.998, "test_images": 606}},
        "cases": [
            {"case": "peak", "runs": [80e9, 100e9, 90e9]},
            {"case": "baseline", "label": "P8", "model": "keras-fp32", "size": 224, "runs": [2.0, 2.5, 3.0],
             "worker_rss_peak_bytes": 3 << 30, "worker_rss_max_one_bytes": 2 << 30},
            {"case": "job", "label": "job fp32", "model": "fp32", "size": 224, "runs": [8.0, 9.0, 10.0],
             "worker_rss_peak_bytes": 1 << 30, "worker_rss_max_one_bytes": 1 << 29,
             "probe": {"top1": 0.9, "top5": 0.99, "test_images": 600, "features": "features"},
             "profiles": [{"images": 100, "slots": 2, "infer_s": t} for t in (20.0, 19.0, 21.0)]},
            {"case": "ort", "label": "ort int8", "model": "int8", "size": 224, "runs": [20.0]},
            {"case": "ort", "label": "ort fp32", "model": "fp32", "size": 224, "runs": [10.0, 12.0, 11.0]},
        ],
    }


def test_rows_ratios_of_medians():
    rows = summary.rows(sample_report())
    assert [(r["case"], r["model"]) for r in rows] == [
        ("limit", "fp32"), ("ort", "fp32"), ("ort", "int8"), ("job", "fp32"), ("baseline", "keras-fp32")]
    limit, ort32, ort8, job, base = rows
    assert limit["images_per_second"]["median"] == pytest.approx(90e9 / 8e9)  # median peak / 2 FLOP per MAC
    assert job["vs_baseline"] == pytest.approx(9.0 / 2.5)
    assert job["spark_overhead"] == pytest.approx(1 - 9.0 / 11.0)
    assert job["flop_share"] == pytest.approx(9.0 / (90e9 / 8e9))
    assert job["per_core"] == 4.5
    # The model runs inside the job, by the tasks' clocks: 100 images x 2 slots / 20 s of model time.
    assert job["model_images_per_second"]["median"] == 10.0
    assert job["model_flop_share"] == pytest.approx(10.0 / (90e9 / 8e9))
    assert ort8["cosine_to_fp32"]["min"] == 0.995 and "cosine_to_fp32" not in ort32
    # Quality beside speed: the bench's probe for ONNX Runtime alone, the job's own for the job.
    assert ort8["probe"]["top1"] == 0.963 and ort32["probe"]["top1"] == 0.976 and job["probe"]["top1"] == 0.9
    assert "probe" not in base
    assert base["vs_baseline"] == 1.0 and base["worker_rss_peak_bytes"] == 3 << 30


def test_table_shows_median_spread_and_every_row():
    text = summary.render_table(summary.rows(sample_report()))
    lines = text.splitlines()
    assert len(lines) == 2 + 5
    job = next(line for line in lines if line.startswith("job fp32"))
    assert "9.0 (8.0-10.0)" in job and "3.60x" in job and "18%" in job and "1,024 MiB / 512 MiB" in job
    assert "80% (model 89%)" in job
    assert "0.9950 / 0.9980 (90 images)" in next(line for line in lines if line.startswith("ort int8"))
    assert "96.3% / 99.5% (606 images)" in next(line for line in lines if line.startswith("ort int8"))
    assert job.rstrip().endswith("90.0% / 99.0% (600 images)")
    assert "20.0 (" not in text  # one run: no spread to show


def test_time_rows_take_the_median_run_and_split_its_inference():
    shares = {"feed_s": 0.01, "decode_s": 0.02, "infer_s": 0.9, "emit_s": 0.01, "other_s": 0.06}
    runs = [{"wall_s": w, "listing_s": 0.1, "planning_s": 0.05, "inference_s": w - 1.5, "pca_s": 0.0,
             "write_s": 0.6, "verify_s": 0.3} for w in (30.0, 20.0, 25.0)]
    report = {"cases": [{"case": "job", "label": "job int8", "size": 224, "timings": runs,
                         "profiles": [{"shares": {**shares, "infer_s": x}} for x in (0.1, 0.2, 0.3)]},
                        {"case": "ort", "label": "ort", "size": 224, "runs": [1.0]}]}
    (row,) = summary.time_rows(report)
    assert row["wall_s"] == 25.0 and row["inference_shares"]["infer_s"] == 0.3  # the median run, and its own profile
    assert row["start_s"] == pytest.approx(25.0 - (0.1 + 0.05 + 23.5 + 0.6 + 0.3))
    text = summary.render_time_table([row])
    assert "job int8" in text and "23.50" in text and "30% / 2% / 2% / 6%" in text


def test_settings_change_one_thing_at_a_time_from_the_jobs():
    from orchard_bench.ort_case import settings_grid

    grid = settings_grid(2, 64)
    assert grid[0] == {"processes": 2, "threads": 1, "batch": 64, "optimization": "all"}  # as the job runs
    for g in grid[1:]:
        changed = {k for k in g if g[k] != grid[0][k]} - {"threads"}
        assert len(changed) == 1, g
    cases = [{"processes": g["processes"], "threads": g["threads"], "batch_size": g["batch"],
              "optimization": g["optimization"], "runs": [10.0 + i]} for i, g in enumerate(grid)]
    text = summary.render_settings(cases)
    assert "2 x 1" in text.splitlines()[2] and "1.00x" in text.splitlines()[2]
    assert "1 x 2" in text and "1.10x" in text.splitlines()[3]


def test_worker_rss_counts_only_our_daemons_children():
    table = {
        1: (0, b"init", 1),
        100: (1, b"python\0bench", 10),              # the bench (root)
        101: (100, b"java\0spark", 500),
        102: (101, b"python\0-m\0pyspark.daemon\0", 30),
        103: (102, b"python\0-m\0pyspark.daemon\0", 300),  # worker
        104: (102, b"python\0-m\0pyspark.daemon\0", 400),  # worker
        200: (1, b"java\0other", 500),
        201: (200, b"python\0-m\0pyspark.daemon\0", 30),
        202: (201, b"python\0-m\0pyspark.daemon\0", 999),  # another agent's Spark: not ours
    }
    assert sorted(worker_rss(table, 100)) == [300, 400]


@pytest.mark.skipif(not (FRUITS / "Training").exists(), reason=f"Fruits-360 sample not found at {FRUITS}")
def test_small_bench_run_produces_a_row_per_case(tmp_path, setup_env, model_path):
    pytest.importorskip("tensorflow",
                        reason="the P8 baseline needs the TensorFlow reference (requirements-reference.txt)")
    out = tmp_path / "bench.json"
    env = {**os.environ, "ORCHARD_JARS_DIR": setup_env.get("ORCHARD_JARS_DIR", "")}
    r = subprocess.run([sys.executable, "-m", "orchard_bench", "--input", str(FRUITS / "Training"), "--images", "16",
                        "--runs", "1", "--sizes", "100", "--model", model_path, "--json", str(out)],
                       cwd=SPARK_IMAGES, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:] + (tmp_path / "bench.log").read_text()[-3000:]
    report = json.loads(out.read_text())
    got = {(row["case"], row["model"], row["size"]) for row in report["rows"]}
    assert got >= {("limit", "fp32", 100), ("ort", "fp32", 100), ("ort", "int8", 100), ("job", "fp32", 100),
                   ("job", "int8", 100), ("baseline", "keras-fp32", 224), ("limit", "fp32", 224)}
    job = next(row for row in report["rows"] if row["case"] == "job")
    assert job["worker_rss_peak_bytes"] > 50 << 20, "the workers hold a ResNet50 session: tens of MB at least"
    assert report["fidelity"]["100"]["min"] > 0.99
    # 16 images of 1-2 classes: the probe says why it cannot measure rather than print a number.
    assert report["quality"]["int8/100"]["skipped"].startswith("only one class") or "fewer than 10" in \
        report["quality"]["int8/100"]["skipped"]
    assert "job int8" in r.stdout and "P8 baseline" in r.stdout
    assert "where the job's time goes" in r.stdout
    for row in report["time_rows"]:
        # Every image went through the model once, in the profiled loop; counts, not seconds, say so.
        assert row["inferred"]["images"] == 16 and row["inferred"]["tasks"] >= 1 and row["inferred"]["batches"] >= 1
        # The tasks' clocks fit inside the stage's slot time: each task counted once.
        shares = row["inference_shares"]
        assert all(v >= 0 for v in shares.values())
        assert sum(v for k, v in shares.items() if k != "other_s") <= 1.05, shares
