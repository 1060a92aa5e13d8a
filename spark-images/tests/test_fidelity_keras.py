"""Fidelity: Keras ResNet50(include_top=False, pooling="avg") with its preprocess_input vs our ONNX model.

Same weights (random but seeded, BN statistics randomised too so folding is exercised), written by
Keras 2's own save_weights in the legacy HDF5 layout of the published notop file, loaded through the
same loader the pretrained build uses; same images. Requires cosine >= 0.9999 for every row.
"""

import time

import numpy as np
import pytest

from conftest import FRUITS, report
from imagegen import fruit, jpeg_bytes
from orchard_featurize import build_model, images
from orchard_featurize.model import Model

tf = pytest.importorskip("tensorflow", reason="TensorFlow CPU reference not installed (requirements-reference.txt; "
                                               "setup.sh installs it unless ORCHARD_SKIP_REFERENCE=1)")


@pytest.fixture(scope="module")
def keras_and_onnx(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fidelity")
    tf.keras.utils.set_random_seed(1234)
    keras_model = tf.keras.applications.ResNet50(weights=None, include_top=False, pooling="avg",
                                                 input_shape=(None, None, 3))
    rng = np.random.default_rng(99)
    for layer in keras_model.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n).astype(np.float32), rng.normal(0, 0.1, n).astype(np.float32),
                               rng.normal(0, 0.1, n).astype(np.float32), rng.uniform(0.5, 2.0, n).astype(np.float32)])
    h5 = tmp / "keras_resnet50_notop.h5"
    keras_model.save_weights(str(h5))  # Keras 2 legacy HDF5: the published notop file's layout
    onnx_path = tmp / "from_keras.onnx"
    t0 = time.monotonic()
    build_model.build(str(onnx_path), build_model.DEFAULT_OPSET, weights_h5=str(h5))
    report(f"ONNX export from Keras .h5: {time.monotonic() - t0:.1f} s")
    return keras_model, Model(str(onnx_path), 2)


def sample_images(n_generated=6, n_fruits=10):
    rng = np.random.default_rng(3)
    raws = [jpeg_bytes(fruit(rng)) for _ in range(n_generated)]
    if FRUITS.exists():
        raws += [p.read_bytes() for p in sorted((FRUITS / "Training").glob("*/*.jpg"))[::300][:n_fruits]]
    return raws


@pytest.mark.parametrize("size", [224, 100])
def test_onnx_matches_keras_per_row(keras_and_onnx, size):
    keras_model, onnx_model = keras_and_onnx
    batch, ok, _ = images.decode_batch(sample_images(), size)
    assert len(ok) == len(batch) >= 6
    ref = keras_model(tf.keras.applications.resnet50.preprocess_input(batch.astype(np.float32)), training=False).numpy()
    ours = onnx_model.infer(batch)
    assert ours.shape == ref.shape == (len(batch), 2048)
    cos = (ours * ref).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(ref, axis=1))
    report(f"fidelity at {size}px over {len(batch)} images: min cosine {cos.min():.7f}, "
          f"max abs diff {np.abs(ours - ref).max():.3g} (feature scale {np.abs(ref).max():.3g})")
    assert cos.min() >= 0.9999, cos
