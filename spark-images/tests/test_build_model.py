import json

import h5py
import numpy as np
import pytest

from orchard_featurize import build_model, resnet50
from orchard_featurize.model import Model, get_model, inspect


def write_keras2_h5(path, weights, prefix=""):
    """Same layout as Keras 2 save_weights / the published notop file (root attrs + per-layer groups)."""
    with h5py.File(path, "w") as f:
        names = list(weights)
        f.attrs["layer_names"] = np.array([n.encode() for n in names + ["avg_pool"]])
        f.attrs["backend"] = b"tensorflow"
        for layer in names:
            g = f.create_group(layer)
            wnames = [f"{prefix}{layer}/{k}:0" for k in weights[layer]]
            g.attrs["weight_names"] = np.array([w.encode() for w in wnames])
            for w, arr in zip(wnames, weights[layer].values(), strict=True):
                g.create_dataset(w, data=arr)
        f.create_group("avg_pool").attrs["weight_names"] = np.array([], dtype="S1")


def test_architecture_has_keras_layer_names_and_shapes():
    shapes = resnet50.expected_shapes()
    convs = [n for n in shapes if n.endswith("_conv")]
    assert len(convs) == 53  # 1 stem + 16 blocks x 3 + 4 projection shortcuts
    assert shapes["conv1_conv"]["kernel"] == (7, 7, 3, 64)
    assert shapes["conv5_block3_3_conv"]["kernel"] == (1, 1, 512, 2048)
    assert shapes["conv4_block1_0_conv"]["kernel"] == (1, 1, 512, 1024)
    params = sum(int(np.prod(s)) for t in shapes.values() for s in t.values())
    assert params == 23_587_712  # Keras ResNet50(include_top=False).count_params()


def test_random_weights_are_seeded():
    a, b = resnet50.random_weights(1), resnet50.random_weights(1)
    assert np.array_equal(a["conv3_block2_2_conv"]["kernel"], b["conv3_block2_2_conv"]["kernel"])
    assert not np.array_equal(a["conv1_conv"]["kernel"], resnet50.random_weights(2)["conv1_conv"]["kernel"])


def test_fold_bn_equals_conv_then_bn_on_a_1x1_conv():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 4)).astype(np.float32)  # 5 pixels, 4 channels in
    conv = {"kernel": rng.standard_normal((1, 1, 4, 3)).astype(np.float32),
            "bias": rng.standard_normal(3).astype(np.float32)}
    bn = {"gamma": rng.random(3).astype(np.float32) + 0.5, "beta": rng.standard_normal(3).astype(np.float32),
          "moving_mean": rng.standard_normal(3).astype(np.float32),
          "moving_variance": rng.random(3).astype(np.float32) + 0.1}
    y = x @ conv["kernel"][0, 0] + conv["bias"]
    y = bn["gamma"] * (y - bn["moving_mean"]) / np.sqrt(bn["moving_variance"] + resnet50.BN_EPSILON) + bn["beta"]
    w, b = resnet50.fold_bn(conv, bn)
    assert w.shape == (3, 4, 1, 1)
    np.testing.assert_allclose(x @ w[:, :, 0, 0].T + b, y, rtol=1e-5, atol=1e-5)


def test_h5_loader_reads_keras2_layout(tmp_path):
    weights = resnet50.random_weights(3)
    p = tmp_path / "w.h5"
    write_keras2_h5(p, weights, prefix="resnet50/")
    loaded = resnet50.load_keras_h5(str(p))
    for layer, tensors in weights.items():
        for k, arr in tensors.items():
            assert np.array_equal(loaded[layer][k], arr)


def test_h5_loader_names_every_problem(tmp_path):
    weights = resnet50.random_weights(3)
    del weights["conv2_block1_1_bn"]
    weights["conv1_conv"]["kernel"] = weights["conv1_conv"]["kernel"][:3]
    p = tmp_path / "bad.h5"
    write_keras2_h5(p, weights)
    with pytest.raises(ValueError, match=r"conv2_block1_1_bn/gamma missing.*|conv1_conv/kernel has shape"):
        resnet50.load_keras_h5(str(p))


def test_model_metadata_and_output_shape(model_path):
    info = inspect(model_path)
    assert info.name == "resnet50-notop-avg" and info.random_weights
    pre = json.loads(info.metadata["orchard.preprocessing"])
    assert pre["keras_preprocess_input"] == "caffe" and pre["mean_bgr"] == [103.939, 116.779, 123.68]
    assert info.metadata["orchard.opset"] == "17"
    m = get_model(model_path, 2)
    assert get_model(model_path, 2) is m  # one session per process
    rng = np.random.default_rng(0)
    for size in (224, 100):
        out = m.infer(rng.integers(0, 256, (3, size, size, 3), dtype=np.uint8), max_batch=2)
        assert out.shape == (3, 2048) and out.dtype == np.float32 and np.isfinite(out).all()
        assert (out >= 0).all() and out.std() > 0  # post-ReLU average pool, not constant
    with pytest.raises(ValueError, match="uint8"):
        m.infer(np.zeros((1, 32, 32, 3), np.float32))


def test_batch_composition_does_not_change_a_row(model_path):
    m = get_model(model_path, 1)
    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    alone = m.infer(x[2:3])
    together = m.infer(x)
    np.testing.assert_allclose(together[2], alone[0], rtol=1e-5, atol=1e-5)


def test_h5_path_gives_same_model_as_in_memory_weights(tmp_path):
    """The pretrained path (h5 -> loader -> graph) and direct weights build the same network."""
    weights = resnet50.random_weights(11)
    h5 = tmp_path / "w.h5"
    write_keras2_h5(h5, weights)
    out = tmp_path / "from_h5.onnx"
    meta = build_model.build(str(out), 17, weights_h5=str(h5))
    assert meta["orchard.weights"] == "keras-h5" and len(meta["orchard.weights_sha256"]) == 64
    import onnx

    direct = resnet50.build_graph(weights, 17, {})
    from_h5 = onnx.load(str(out))
    a = {t.name: onnx.numpy_helper.to_array(t) for t in direct.graph.initializer}
    b = {t.name: onnx.numpy_helper.to_array(t) for t in from_h5.graph.initializer}
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    x = np.random.default_rng(0).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    assert Model(str(out), 1).infer(x).shape == (1, 2048)
