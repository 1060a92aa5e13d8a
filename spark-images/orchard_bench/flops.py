"""The physical limit: the CPU's measured fp32 matmul peak over the model's multiply-accumulates per image."""

from __future__ import annotations

import os
import time

import numpy as np

# numpy's BLAS uses every core; 2048^3 is ~17 GFLOP per product: long enough to time, small
# enough (48 MB of operands) to stay quick.
PEAK_MATRIX = 2048
PEAK_REPEATS = 5


def graph_macs(model, height: int, width: int, batch: int = 1) -> int:
    """Multiply-accumulates of every Conv, MatMul and Gemm of ``model`` (an onnx.ModelProto) for an
    input of ``batch`` x ``height`` x ``width``: output elements x (input channels / group) x kernel area.

    The symbolic input dims are fixed and shapes inferred, so the count follows the graph that runs
    (strides, padding, the input size) rather than a published figure.
    """
    import onnx
    from onnx import helper, shape_inference

    m = onnx.ModelProto()
    m.CopyFrom(model)
    dims = m.graph.input[0].type.tensor_type.shape.dim
    # NHWC image input (the orchard models) or NCHW.
    concrete = [batch, height, width, 3] if dims[-1].dim_value == 3 else [batch, 3, height, width]
    for d, v in zip(dims, concrete, strict=True):
        d.ClearField("dim_param")
        d.dim_value = v
    m = shape_inference.infer_shapes(m, strict_mode=True)
    shapes = {vi.name: tuple(d.dim_value for d in vi.type.tensor_type.shape.dim)
              for vi in [*m.graph.value_info, *m.graph.output, *m.graph.input]}
    shapes.update({t.name: tuple(t.dims) for t in m.graph.initializer})
    total = 0
    for node in m.graph.node:
        if node.op_type == "Conv":
            kernel = shapes[node.input[1]]  # (out, in / group, kh, kw)
            total += int(np.prod(shapes[node.output[0]])) * int(np.prod(kernel[1:]))
        elif node.op_type in ("MatMul", "Gemm"):
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            a = shapes[node.input[0]]
            inner = a[-2] if attrs.get("transA") else a[-1]
            total += int(np.prod(shapes[node.output[0]])) * int(inner)
    if total == 0:
        raise ValueError("the model has no Conv, MatMul or Gemm with an inferable shape: cannot count its MACs")
    return total


def _ort_matmul(n: int, threads: int):
    import onnxruntime as ort
    from onnx import TensorProto, helper

    def spec(name: str):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, [n, n])

    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "peak", [spec("a"), spec("b")],
                              [spec("c")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return lambda a, b: session.run(None, {"a": a, "b": b})


def matmul_flops(n: int = PEAK_MATRIX, repeats: int = PEAK_REPEATS, threads: int | None = None) -> dict[str, float]:
    """Best fp32 FLOP/s over ``repeats`` n x n products (2 n^3 FLOP each, after an untimed one), with
    numpy's BLAS (its own thread count: every core) and with ONNX Runtime's MLAS on ``threads``
    threads (default every core); ``peak`` is the better of the two.

    Both, because the model's convolutions run on MLAS's GEMM: a BLAS that is slower on this CPU
    alone would put the limit below what the model already reaches.
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), np.float32)
    ort_matmul = _ort_matmul(n, threads or os.cpu_count() or 1)

    def best(product) -> float:
        product()
        fastest = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            product()
            fastest = min(fastest, time.perf_counter() - t0)
        return 2.0 * n ** 3 / fastest

    result = {"numpy": best(lambda: np.matmul(a, b, out=out)), "onnxruntime": best(lambda: ort_matmul(a, b))}
    return {**result, "peak": max(result.values())}


def images_per_second_limit(peak_flops: float, macs_per_image: int) -> float:
    """Images per second if every FLOP of the peak went to the model's MACs (one MAC = 2 FLOP)."""
    return peak_flops / (2.0 * macs_per_image)
