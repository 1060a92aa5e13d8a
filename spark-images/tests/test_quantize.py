"""int8 model: a per-channel QDQ graph, calibrated on real Fruits-360 images, close to fp32 on held-out ones."""

import json

import numpy as np
import pytest

from conftest import FRUITS, report
from orchard_featurize import images, quantize
from orchard_featurize.model import Model

# int8 is the job's default only while its features stay at >= 0.99 to fp32 on real images.
COSINE_FLOOR = quantize.MIN_COSINE

pytestmark = pytest.mark.skipif(not (FRUITS / "Training").exists() or not (FRUITS / "Test").exists(),
                                reason=f"Fruits-360 sample not found at {FRUITS}: int8 calibration needs real images")


@pytest.fixture(scope="module")
def int8_model(model_path) -> str:
    # The same cache the bench uses: the first run builds (~1-2 min on a busy 2-core machine), later ones reuse.
    return quantize.cached_int8(model_path, FRUITS / "Training", quantize.default_cache())


def test_calibration_files_spread_over_the_classes():
    files = quantize.calibration_files(FRUITS / "Training")
    assert len(files) == quantize.CALIBRATION_IMAGES
    assert len({f.parent.name for f in files}) >= 60  # one stride per ~47 images of 30-per-class folders
    assert files == sorted(files)


def test_build_check_never_sees_a_calibration_image():
    calibration = set(quantize.calibration_files(FRUITS / "Training"))
    holdout = quantize.holdout_files(FRUITS / "Training")
    assert len(holdout) == quantize.HOLDOUT_IMAGES and not calibration & set(holdout)


def test_verify_refuses_an_int8_model_below_the_floor(model_path, int8_model):
    # The same check the build runs, with a floor no quantized model reaches: it must refuse, and say why.
    check = quantize.holdout_files(FRUITS / "Training")[:8]
    with pytest.raises(quantize.QualityError, match=r"cosine to fp32 on 8 held-out images is min 0\.9.*precision fp32"):
        quantize.verify(model_path, int8_model, check, size=100, min_cosine=1.000001)


def test_probe_floor_refuses_int8_features_that_lose_accuracy():
    # Separable classes; "int8" features with noise that blurs them must be refused, exact ones not.
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1, (10, 32))
    labels = [f"Class {c}" for c in range(10) for _ in range(60)]
    keys = [f"{label}/{i}_100.jpg" for i, label in enumerate(labels)]
    fp32 = np.repeat(centres, 60, axis=0) + rng.normal(0, 0.6, (600, 32))
    same = quantize.probe_loss(fp32, fp32.copy(), labels, keys)
    assert same["loss"] == 0 and not same["refused"] and same["test_images"] > 100
    blurred = quantize.probe_loss(fp32, fp32 + rng.normal(0, 1.5, fp32.shape), labels, keys)
    assert blurred["loss"] > quantize.MAX_PROBE_LOSS and blurred["refused"]


def test_probe_check_uses_every_image_but_the_calibration_ones():
    files = quantize.probe_files(FRUITS / "Training")
    assert not set(files) & set(quantize.calibration_files(FRUITS / "Training"))
    assert len(files) == len(list((FRUITS / "Training").glob("*/*.jpg"))) - quantize.CALIBRATION_IMAGES


def test_calibration_needs_images(tmp_path):
    with pytest.raises(FileNotFoundError, match="no .jpg/.jpeg/.png"):
        quantize.calibration_files(tmp_path)


def test_int8_model_is_per_channel_qdq_with_the_fp32_contract(int8_model):
    import onnx

    m = onnx.load(int8_model)
    ops = [n.op_type for n in m.graph.node]
    assert ops.count("QuantizeLinear") > 50 and ops.count("DequantizeLinear") > 100
    assert ops.count("Conv") == 53  # QDQ keeps float Convs between DQ/Q pairs; ORT fuses them to int8
    inits = {t.name: t for t in m.graph.initializer}
    conv1_w = next(n for n in m.graph.node if n.op_type == "DequantizeLinear" and n.input[0].startswith("conv1_conv_W"))
    assert inits[conv1_w.input[0]].data_type == onnx.TensorProto.INT8
    assert list(inits[conv1_w.input[1]].dims) == [64], "per-channel: one scale per output channel"
    meta = {p.key: p.value for p in m.metadata_props}
    assert meta["orchard.model"].endswith("-int8-qdq") and "orchard.preprocessing" in meta
    fidelity = json.loads(meta["orchard.int8_cosine_to_fp32"])
    assert fidelity["min"] >= COSINE_FLOOR and fidelity["images"] == quantize.HOLDOUT_IMAGES
    # The probe floor's figures, measured on every build; enforced only on pretrained weights.
    quality = json.loads(meta["orchard.int8_probe_vs_fp32"])
    assert quality["enforced"] is False and quality["test_images"] > 500 and quality["size"] == 224
    report(f"int8 vs fp32 probe top-1 at 224px on {quality['test_images']} held-out Training images: "
           f"{quality['int8_top1']:.4f} vs {quality['fp32_top1']:.4f} (loss {100 * quality['loss']:.1f} points, "
           f"floor {100 * quantize.MAX_PROBE_LOSS:.1f}; random-weights ResNet50)")
    assert m.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8


@pytest.mark.parametrize("size", [224, 100])
def test_int8_features_stay_close_to_fp32_on_held_out_images(model_path, int8_model, size):
    held_out = sorted((FRUITS / "Test").glob("*/*.jpg"))[::20]  # never seen by calibration (Training only)
    batch, ok, _ = images.decode_batch([p.read_bytes() for p in held_out], size)
    assert len(ok) == len(held_out)
    fp32 = Model(model_path, 2).infer(batch, max_batch=32)
    int8 = Model(int8_model, 2).infer(batch, max_batch=32)
    assert int8.shape == fp32.shape == (len(held_out), 2048) and int8.dtype == np.float32
    cos = quantize.cosine_rows(fp32, int8)
    report(f"int8 vs fp32 at {size}px, {len(held_out)} held-out Fruits-360 Test images: "
           f"cosine min {cos.min():.5f}, mean {cos.mean():.5f} (random-weights ResNet50)")
    assert cos.min() >= COSINE_FLOOR, cos


def test_cache_key_follows_the_inputs(tmp_path, model_path):
    files = quantize.calibration_files(FRUITS / "Training")
    key = quantize.calibration_key("a" * 64, files, FRUITS / "Training")
    assert key == quantize.calibration_key("a" * 64, files, FRUITS / "Training")
    assert key != quantize.calibration_key("b" * 64, files, FRUITS / "Training")
    assert key != quantize.calibration_key("a" * 64, files[:-1], FRUITS / "Training")


def test_adopts_a_model_quantized_elsewhere_only_under_the_same_key(tmp_path, model_path, int8_model, monkeypatch,
                                                                   capsys):
    # The key a model records is the one its cache folder is named after: what setup checks before
    # it takes the job image's int8 model instead of quantizing again.
    key = quantize.recorded_key(int8_model)
    assert key is not None and int8_model.endswith(f"int8-{key}/{quantize.INT8_FILE}")
    elsewhere = tmp_path / "from-image.onnx"
    elsewhere.write_bytes(open(int8_model, "rb").read())
    built = []
    monkeypatch.setattr(quantize, "build_int8", lambda *args: built.append(args[2]))

    adopted = quantize.cached_int8(model_path, FRUITS / "Training", tmp_path / "same", adopt=elsewhere)
    assert open(adopted, "rb").read() == elsewhere.read_bytes() and built == []
    assert '"event": "int8_model_adopted"' in capsys.readouterr().err

    # Another fp32 model makes another key: the file is not that model's quantization, so it is built here.
    other_fp32 = tmp_path / "other.onnx"
    other_fp32.write_bytes(open(model_path, "rb").read() + b"\0")
    target = quantize.cached_int8(str(other_fp32), FRUITS / "Training", tmp_path / "other", adopt=elsewhere)
    assert built == [target] and f"int8-{key}" not in target
    err = capsys.readouterr().err
    assert '"event": "int8_model_not_adopted"' in err and f'"recorded_key": "{key}"' in err


def test_cosine_rows():
    a = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]], np.float32)
    b = np.array([[2.0, 0.0], [-1.0, -1.0], [1.0, 0.0]], np.float32)
    np.testing.assert_allclose(quantize.cosine_rows(a, b), [1.0, -1.0, 0.0], atol=1e-7)
