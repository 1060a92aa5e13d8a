"""ResNet50 (Keras ``applications.ResNet50``, ``include_top=False``, ``pooling="avg"``) as ONNX.

Built with the ``onnx`` helper API from a plain ``{layer name: {weight name: ndarray}}`` dict, so
no deep-learning framework is needed at build time. The dict comes either from the Keras weights
file (``load_keras_h5``: the published notop file, or any file written by Keras 2's
``model.save_weights``) or from ``random_weights`` (same shapes, seeded), through the same
``build_graph``.

Layer names follow ``keras.applications.resnet`` exactly (``conv1_conv``, ``conv2_block1_0_conv``,
``conv2_block1_1_bn``, ...), because they are the keys of the weights file.

The graph takes ``images``: uint8, NHWC, RGB, any height and width (the job resizes), and returns
``features``: float32 [N, 2048]. Keras ``preprocess_input`` ("caffe" mode: RGB->BGR, subtract the
ImageNet BGR mean, no scaling) is part of the graph: the mean is subtracted in RGB order and the
channel swap is folded into conv1's kernel, so preprocessing costs no Python work in the job.
Batch norm is folded into the preceding convolution (inference only).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np

# Keras preprocess_input(mode="caffe") mean, in BGR order (keras/applications/imagenet_utils.py).
IMAGENET_MEAN_BGR = (103.939, 116.779, 123.68)
# Keras ResNet's BatchNormalization epsilon (keras/applications/resnet.py).
BN_EPSILON = 1.001e-5
FEATURE_DIM = 2048
INPUT_NAME = "images"
OUTPUT_NAME = "features"
# (stage name, filters, blocks, stride of the first block)
STAGES = (("conv2", 64, 3, 1), ("conv3", 128, 4, 2), ("conv4", 256, 6, 2), ("conv5", 512, 3, 2))

PREPROCESSING = {
    "input": "uint8 NHWC RGB, any HxW (job resizes to --image-size, default 224)",
    "resize": "PIL Image.resize((size, size), Image.BICUBIC) after convert('RGB'); no crop",
    "keras_preprocess_input": "caffe",
    "in_graph": "RGB->BGR (folded into conv1), subtract ImageNet BGR mean, no scaling",
    "mean_bgr": list(IMAGENET_MEAN_BGR),
    "scale": 1.0,
}


def conv_layers() -> Iterator[tuple[str, int, int, int, int]]:
    """Yield (name, in_channels, out_channels, kernel, stride) of every conv layer, in order."""
    yield "conv1_conv", 3, 64, 7, 2
    channels = 64
    for stage, filters, blocks, stride in STAGES:
        for b in range(1, blocks + 1):
            name = f"{stage}_block{b}"
            s = stride if b == 1 else 1
            if b == 1:
                yield f"{name}_0_conv", channels, 4 * filters, 1, s
            yield f"{name}_1_conv", channels, filters, 1, s
            yield f"{name}_2_conv", filters, filters, 3, 1
            yield f"{name}_3_conv", filters, 4 * filters, 1, 1
            channels = 4 * filters


def bn_name(conv_name: str) -> str:
    return conv_name[: -len("_conv")] + "_bn"


def expected_shapes() -> dict[str, dict[str, tuple[int, ...]]]:
    """Keras weight shapes per layer: conv kernel HWIO + bias, BN gamma/beta/mean/variance."""
    shapes: dict[str, dict[str, tuple[int, ...]]] = {}
    for name, cin, cout, k, _ in conv_layers():
        shapes[name] = {"kernel": (k, k, cin, cout), "bias": (cout,)}
        shapes[bn_name(name)] = {w: (cout,) for w in ("gamma", "beta", "moving_mean", "moving_variance")}
    return shapes


def random_weights(seed: int) -> dict[str, dict[str, np.ndarray]]:
    """Seeded weights with the exact Keras shapes, scaled so activations stay finite and sane.

    He-normal kernels; BN statistics chosen so each conv+BN roughly preserves variance; the last
    BN of each residual branch damps its output so the 16 residual additions do not blow up.
    """
    rng = np.random.default_rng(seed)
    weights: dict[str, dict[str, np.ndarray]] = {}
    for name, cin, cout, k, _ in conv_layers():
        fan_in = k * k * cin
        kernel = rng.standard_normal((k, k, cin, cout), dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in))
        weights[name] = {"kernel": kernel, "bias": np.zeros(cout, np.float32)}
        # conv1 sees mean-subtracted pixels (std ~60), every later conv sees ~unit activations.
        variance = 3600.0 if name == "conv1_conv" else 1.0
        gamma = 0.2 if name.endswith("_3_conv") else 1.0
        weights[bn_name(name)] = {
            "gamma": np.full(cout, gamma, np.float32),
            "beta": (rng.standard_normal(cout, dtype=np.float32) * 0.05).astype(np.float32),
            "moving_mean": np.zeros(cout, np.float32),
            "moving_variance": np.full(cout, variance, np.float32),
        }
    return weights


def _weight_key(dataset_name: str) -> str:
    # "conv1_conv/kernel:0" -> "kernel"; Keras 2 may prefix the model name ("resnet50/conv1_conv/...").
    return dataset_name.rsplit("/", 1)[-1].split(":", 1)[0]


def load_keras_h5(path: str) -> dict[str, dict[str, np.ndarray]]:
    """Read a Keras 2 (legacy HDF5) weights file: the published notop file or save_weights output.

    Layout: root (or ``model_weights`` for a full saved model) has attribute ``layer_names``; each
    layer group has attribute ``weight_names`` naming its datasets.
    """
    import h5py  # build-time dependency only

    out: dict[str, dict[str, np.ndarray]] = {}
    with h5py.File(path, "r") as f:
        root = f["model_weights"] if "model_weights" in f else f
        if "layer_names" not in root.attrs:
            raise ValueError(
                f"{path} is not a Keras 2 HDF5 weights file (no 'layer_names' attribute): "
                "pass the notop .h5 from keras-applications or a file written by Keras 2 save_weights"
            )
        for raw in root.attrs["layer_names"]:
            layer = raw.decode() if isinstance(raw, bytes) else str(raw)
            group = root[layer]
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs.get("weight_names", [])]
            if names:
                out[layer] = {_weight_key(n): np.asarray(group[n], dtype=np.float32) for n in names}
    check_weights(out, source=path)
    return out


def check_weights(weights: dict[str, dict[str, np.ndarray]], source: str) -> None:
    """Fail with every missing or mis-shaped tensor named, before anything is built."""
    problems = []
    for layer, tensors in expected_shapes().items():
        for key, shape in tensors.items():
            got = weights.get(layer, {}).get(key)
            if got is None:
                problems.append(f"{layer}/{key} missing")
            elif tuple(got.shape) != shape:
                problems.append(f"{layer}/{key} has shape {tuple(got.shape)}, expected {shape}")
    if problems:
        shown = "; ".join(problems[:8]) + (f"; ... ({len(problems)} problems)" if len(problems) > 8 else "")
        raise ValueError(f"weights from {source} do not fit Keras ResNet50 (notop): {shown}")


def fold_bn(conv: dict[str, np.ndarray], bn: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Conv (HWIO kernel + bias) followed by inference BN -> ONNX OIHW kernel + bias (float32)."""
    scale = bn["gamma"].astype(np.float64) / np.sqrt(bn["moving_variance"].astype(np.float64) + BN_EPSILON)
    kernel = conv["kernel"].astype(np.float64) * scale  # broadcast over O (last axis of HWIO)
    bias = (conv["bias"].astype(np.float64) - bn["moving_mean"]) * scale + bn["beta"]
    return kernel.transpose(3, 2, 0, 1).astype(np.float32), bias.astype(np.float32)


def build_graph(weights: dict[str, dict[str, np.ndarray]], opset: int, metadata: dict[str, str]):
    """Return an ``onnx.ModelProto`` of ResNet50 notop + global average pooling."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    check_weights(weights, source="the given weights")
    nodes: list = []
    inits: list = []

    def const(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def conv(x: str, layer: str, k: int, stride: int, relu: bool, rgb_to_bgr: bool = False) -> str:
        kernel, bias = fold_bn(weights[layer], weights[bn_name(layer)])
        if rgb_to_bgr:
            # Keras feeds BGR; we feed RGB: reversing the kernel's input channels is the same swap.
            kernel = kernel[:, ::-1, :, :]
        pad = {7: 3, 3: 1, 1: 0}[k]
        out = layer if not relu else layer + "_pre"
        nodes.append(helper.make_node(
            "Conv", [x, const(layer + "_W", kernel), const(layer + "_B", bias)], [out], name=layer,
            kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4))
        if relu:
            nodes.append(helper.make_node("Relu", [out], [layer + "_relu"], name=layer + "_relu"))
            return layer + "_relu"
        return out

    mean_rgb = np.array(IMAGENET_MEAN_BGR[::-1], np.float32)
    nodes.append(helper.make_node("Cast", [INPUT_NAME], ["pixels"], to=TensorProto.FLOAT, name="cast"))
    nodes.append(helper.make_node("Sub", ["pixels", const("mean_rgb", mean_rgb)], ["centred"], name="sub_mean"))
    nodes.append(helper.make_node("Transpose", ["centred"], ["nchw"], perm=[0, 3, 1, 2], name="to_nchw"))
    x = conv("nchw", "conv1_conv", 7, 2, relu=True, rgb_to_bgr=True)
    # Keras zero-pads before its max pool; after ReLU every value is >= 0, so ONNX's -inf padding
    # gives the same maxima.
    nodes.append(helper.make_node("MaxPool", [x], ["pool1_pool"], kernel_shape=[3, 3], strides=[2, 2],
                                  pads=[1, 1, 1, 1], name="pool1_pool"))
    x = "pool1_pool"
    for stage, _, blocks, stride in STAGES:
        for b in range(1, blocks + 1):
            name = f"{stage}_block{b}"
            s = stride if b == 1 else 1
            shortcut = conv(x, f"{name}_0_conv", 1, s, relu=False) if b == 1 else x
            y = conv(x, f"{name}_1_conv", 1, s, relu=True)
            y = conv(y, f"{name}_2_conv", 3, 1, relu=True)
            y = conv(y, f"{name}_3_conv", 1, 1, relu=False)
            nodes.append(helper.make_node("Add", [shortcut, y], [name + "_add"], name=name + "_add"))
            nodes.append(helper.make_node("Relu", [name + "_add"], [name + "_out"], name=name + "_out"))
            x = name + "_out"
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["avg_pool"], name="avg_pool"))
    nodes.append(helper.make_node("Flatten", ["avg_pool"], [OUTPUT_NAME], axis=1, name="flatten"))

    graph = helper.make_graph(
        nodes, "resnet50_notop_avg",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, ["batch", "height", "width", 3])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", FEATURE_DIM])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="orchard.build_model")
    # Keep the IR version that the pinned onnxruntime reads, whatever onnx version builds it.
    model.ir_version = 8
    meta = dict(metadata)
    meta.setdefault("orchard.preprocessing", json.dumps(PREPROCESSING, sort_keys=True))
    meta["orchard.opset"] = str(opset)
    meta["orchard.feature_dim"] = str(FEATURE_DIM)
    helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    return model
