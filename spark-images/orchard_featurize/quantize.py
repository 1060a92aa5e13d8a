"""int8 ResNet50: static, per-channel QDQ quantization of the fp32 model, calibrated on real images.

    python -m orchard_featurize.quantize --model resnet50.onnx --calibration ../shared/data/fruits-360/Training \
        --output resnet50-int8.onnx
    python -m orchard_featurize.quantize --model resnet50.onnx --calibration DIR --cache ~/.cache/orchard \
        [--adopt resnet50-int8.onnx]

The int8 model keeps the fp32 model's contract (uint8 NHWC RGB in, float32 [N, 2048] out, Keras
preprocessing in the graph), so the job runs it unchanged with ``--model``; it is the job's default.
Every build checks it: the cosine of its features to fp32 on held-out real images must stay at or
above MIN_COSINE (0.99) or the build fails, and the figures it reached are stored in the model's
metadata (``orchard.int8_cosine_to_fp32``), where the job logs them. A second floor judges what the
features are for: the job's linear probe (probe.py) on int8 features may lose at most MAX_PROBE_LOSS
(0.5 points) of top-1 accuracy against fp32's on held-out images (``orchard.int8_probe_vs_fp32``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import images, probe

# 64 images spread evenly over the sorted calibration folder: every class range is represented and
# MinMax ranges stop moving well before that (see the bench's cosine figures); more only costs build time.
CALIBRATION_IMAGES = 64
# Calibrated at the job's default size; 100 px runs use the same ranges (the images are 100 px
# photos upsampled, so activation statistics barely change, and the bench reports cosine at both).
CALIBRATION_SIZE = 224
CALIBRATION_BATCH = 8
# Per-channel int8 weights (symmetric) and uint8 activations: the combination ONNX Runtime's CPU
# kernels (MLAS U8S8) run fastest. reduce_range keeps weights in 7 bits so the U8S8 path on CPUs
# without VNNI (AVX2 VPMADDUBSW adds pairs in int16) cannot saturate: on the AVX2 dev machine it is
# the more accurate choice (min cosine to fp32 0.9996 with it, 0.9974 without) at the same speed.
SETTINGS = {
    "quant_format": "QDQ",
    "per_channel": True,
    "activation_type": "QUInt8",
    "weight_type": "QInt8",
    "calibrate_method": "MinMax",
    "reduce_range": True,
    "calibration_size": CALIBRATION_SIZE,
}
INT8_FILE = "resnet50-int8-qdq.onnx"
# The int8 model stands in for fp32 only if no held-out image's features fall below this cosine.
MIN_COSINE = 0.99
HOLDOUT_IMAGES = 64
# int8 stands in for fp32 only if the probe's top-1 accuracy on its features is at most this much
# (half a point) below fp32's. Cosine alone cannot say it: small errors can still move class borders.
MAX_PROBE_LOSS = 0.005


class QualityError(Exception):
    """The int8 model's features are too far from fp32's to replace them."""


def _spread(root: str | Path, count: int, phase: float) -> list[Path]:
    files = sorted(p for p in Path(root).rglob("*") if p.is_file() and images.has_image_extension(p.name))
    if not files:
        raise FileNotFoundError(f"no .jpg/.jpeg/.png under {root}: pass --calibration a folder of real images "
                                "laid out as <Class>/<image>.jpg (e.g. ../shared/data/fruits-360/Training)")
    stride = max(1, len(files) // count)
    return files[int(stride * phase)::stride][:count]


def calibration_files(root: str | Path, count: int = CALIBRATION_IMAGES) -> list[Path]:
    """``count`` images spread evenly over ``root``'s sorted ``<Class>/<image>`` files."""
    return _spread(root, count, 0.0)


def holdout_files(root: str | Path, count: int = HOLDOUT_IMAGES) -> list[Path]:
    """As many images, halfway between the calibration ones: the check never sees a calibration image
    (unless the folder is too small to leave any out, which verify then refuses)."""
    return _spread(root, count, 0.5)


def verify(fp32_model: str, int8_model: str, files: Sequence[Path], size: int = CALIBRATION_SIZE,
           min_cosine: float = MIN_COSINE) -> dict[str, float]:
    """Cosine of the int8 features to the fp32 ones on ``files``; raises when the worst is below ``min_cosine``."""
    from .model import Model

    batch, ok, reasons = images.decode_batch([f.read_bytes() for f in files], size)
    if len(ok) != len(files):
        bad = [f"{files[i]}: {r}" for i, r in enumerate(reasons) if r]
        raise ValueError(f"check images must all decode: {'; '.join(bad)}")
    cos = cosine_rows(Model(fp32_model, 1).infer(batch, CALIBRATION_BATCH),
                      Model(int8_model, 1).infer(batch, CALIBRATION_BATCH))
    result = {"min": round(float(cos.min()), 6), "mean": round(float(cos.mean()), 6), "images": len(files),
              "size": size}
    if result["min"] < min_cosine:
        raise QualityError(
            f"int8 model {int8_model}: cosine to fp32 on {len(files)} held-out images is min {result['min']:.4f} "
            f"(mean {result['mean']:.4f}), below {min_cosine}: its features would not stand in for fp32; "
            "run the job with the fp32 model (precision fp32), or calibrate on more images of the same kind")
    return result


def probe_files(root: str | Path) -> list[Path]:
    """Every image of ``root`` but the calibration ones: the probe fits on 80% of them and scores 20%,
    so unlike the cosine check it needs many images per class (the 3,030-image sample holds out ~600,
    where one image is 0.17 points)."""
    calibration = set(calibration_files(root))
    return [f for f in _spread(root, 2**31, 0.0) if f not in calibration]


def probe_loss(fp32: np.ndarray, int8: np.ndarray, labels: Sequence[str], keys: Sequence[str],
               max_loss: float = MAX_PROBE_LOSS) -> dict:
    """The probe's top-1 on fp32 and on int8 features of the same images, with the job's split;
    ``refused`` when int8 loses more than ``max_loss``."""
    fp, q = probe.measure(fp32, labels, keys), probe.measure(int8, labels, keys)
    loss = round(fp["top1"] - q["top1"], 4)
    return {"fp32_top1": fp["top1"], "int8_top1": q["top1"], "loss": loss, "max_loss": max_loss,
            "test_images": q["test_images"], "refused": loss > max_loss}


def verify_probe(fp32_model: str, int8_model: str, files: Sequence[Path], root: str | Path,
                 size: int = CALIBRATION_SIZE, enforce: bool = True) -> dict:
    """probe_loss of the two models on ``files`` (labelled by their folders under ``root``); raises
    QualityError when int8 loses more than MAX_PROBE_LOSS and ``enforce`` is set."""
    from .model import Model

    feats = {}
    for name, path in (("fp32", fp32_model), ("int8", int8_model)):
        model, out = Model(path, os.cpu_count() or 1), []
        for start in range(0, len(files), 256):  # bounded memory: 256 decoded images at a time
            batch, ok, reasons = images.decode_batch([f.read_bytes() for f in files[start:start + 256]], size)
            if len(ok) != len(batch) or len(ok) != len(files[start:start + 256]):
                raise ValueError(f"probe images must all decode: {[r for r in reasons if r][:3]}")
            out.append(model.infer(batch, CALIBRATION_BATCH))
        feats[name] = np.concatenate(out)
    keys = [str(Path(f).relative_to(root)) for f in files]
    result = probe_loss(feats["fp32"], feats["int8"], [Path(k).parent.name for k in keys], keys) | {"size": size}
    if result["refused"] and enforce:
        raise QualityError(
            f"int8 model {int8_model}: a linear probe of its features scores top-1 {result['int8_top1']:.4f} on "
            f"{result['test_images']} held-out images against fp32's {result['fp32_top1']:.4f}, a loss of "
            f"{100 * result['loss']:.1f} points, more than {100 * MAX_PROBE_LOSS:.1f}: its features would lose "
            "information fp32's carry; run the job with the fp32 model (precision fp32), or calibrate differently")
    return result


def calibration_key(fp32_sha256: str, files: Sequence[Path], root: str | Path) -> str:
    """Cache key over everything the int8 model depends on."""
    import onnxruntime

    h = hashlib.sha256()
    h.update(fp32_sha256.encode())
    h.update(Path(__file__).read_bytes())
    h.update(json.dumps(SETTINGS, sort_keys=True).encode())
    h.update(onnxruntime.__version__.encode())
    for f in files:
        h.update(f"{f.relative_to(root)}\0{f.stat().st_size}\0".encode())
    return h.hexdigest()[:16]


def int8_key(fp32_model: str, files: Sequence[Path], root: str | Path) -> str:
    """The key of the int8 model quantized from ``fp32_model`` on ``files`` and checked on ``root``'s probe images."""
    from .model import sha256_of

    return calibration_key(sha256_of(fp32_model), [*files, *probe_files(root)], root)


def _reader(files: Sequence[Path], size: int):
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = iter(range(0, len(files), CALIBRATION_BATCH))

        def get_next(self):
            start = next(self._batches, None)
            if start is None:
                return None
            chunk = files[start:start + CALIBRATION_BATCH]
            batch, ok, reasons = images.decode_batch([f.read_bytes() for f in chunk], size)
            if len(ok) != len(chunk):
                bad = [f"{chunk[i]}: {r}" for i, r in enumerate(reasons) if r]
                raise ValueError(f"calibration images must all decode: {'; '.join(bad)}")
            return {"images": batch}

    return Reader()


def build_int8(fp32_model: str, files: Sequence[Path], output: str, check: Sequence[Path],
               root: str | Path) -> dict[str, str]:
    """Quantize ``fp32_model`` with ``files`` as calibration data, verify it on the ``check`` images
    (QualityError below MIN_COSINE) and with the probe on the other images of ``root`` (QualityError
    past MAX_PROBE_LOSS), write ``output``; return its metadata.

    The probe floor is enforced on pretrained weights, the model that ships. The random-weights
    stand-in used by tests and the bench loses more (docs/feature-quality.md): its figure is recorded
    and logged, not enforced, or no test model could be built."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from .logs import log
    from .model import inspect, sha256_of

    out_dir = os.path.dirname(os.path.abspath(output))
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        # Shape inference and graph cleanup first, as onnxruntime.quantization asks: it lets the
        # quantizer see the Conv/Add chain it can keep in int8 between QDQ pairs.
        prepared = os.path.join(tmp, "prepared.onnx")
        quant_pre_process(fp32_model, prepared, skip_symbolic_shape=False)
        staged = os.path.join(tmp, "int8.onnx")
        quantize_static(
            prepared, staged, _reader(files, CALIBRATION_SIZE),
            quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            # No CalibMaxIntermediateOutputs: in onnxruntime 1.20 it drops the batches it should fold in
            # (MinMaxCalibrater.collect_data clears them uncomputed). MinMax keeps only per-tensor
            # ReduceMin/ReduceMax outputs per batch, so holding them all is small anyway.
            calibrate_method=CalibrationMethod.MinMax,
        )
        model = onnx.load(staged)
        meta = {p.key: p.value for p in onnx.load(fp32_model, load_external_data=False).metadata_props}
        meta.update({
            "orchard.model": meta.get("orchard.model", "resnet50-notop-avg") + "-int8-qdq",
            "orchard.quantization": json.dumps(SETTINGS, sort_keys=True),
            "orchard.quantized_from_sha256": sha256_of(fp32_model),
            "orchard.calibration_images": str(len(files)),
            # What a cache may check before it adopts this file instead of quantizing (cached_int8).
            "orchard.calibration_key": int8_key(fp32_model, files, root),
        })
        del model.metadata_props[:]
        for k, v in sorted(meta.items()):
            model.metadata_props.add(key=k, value=v)
        onnx.save_model(model, staged)
        fidelity = verify(fp32_model, staged, check)
        enforce = not inspect(fp32_model).random_weights
        quality = verify_probe(fp32_model, staged, probe_files(root), root, enforce=enforce) | {"enforced": enforce}
        if quality["refused"]:
            log("int8_probe_loss", level="warning", **quality,
                message="int8 loses more probe accuracy than the floor allows; not enforced on random weights")
        added = {"orchard.int8_cosine_to_fp32": json.dumps(fidelity, sort_keys=True),
                 "orchard.int8_probe_vs_fp32": json.dumps(quality, sort_keys=True)}
        for k, v in added.items():
            model.metadata_props.add(key=k, value=v)
        onnx.save_model(model, staged)
        os.replace(staged, output)
    return meta | added


def recorded_key(int8_model: str | Path) -> str | None:
    """The calibration key an int8 model was built under (its metadata), or None for one built without."""
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(int8_model), load_external_data=False).metadata_props}
    return meta.get("orchard.calibration_key")


def cached_int8(fp32_model: str, calibration_root: str | Path, cache: str | Path,
                adopt: str | Path | None = None) -> str:
    """The int8 model for (fp32 model, calibration images, settings), built once under ``cache``/models.

    ``adopt`` names one quantized elsewhere (the job image's, by setup): it is copied in instead of
    quantizing again when its recorded key equals this cache's key, that is when it was built from
    the same fp32 model, calibration and hold-out images, settings, code and ONNX Runtime. The
    quantization is deterministic, so the copy is the file this cache would have built."""
    from .logs import log

    files = calibration_files(calibration_root)
    check = holdout_files(calibration_root)
    key = int8_key(fp32_model, files, calibration_root)
    target = Path(cache) / "models" / f"int8-{key}" / INT8_FILE
    if target.exists():
        return str(target)
    found = recorded_key(adopt) if adopt is not None else None
    if found == key:
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.with_suffix(".part")
        staged.write_bytes(Path(adopt).read_bytes())
        os.replace(staged, target)
        log("int8_model_adopted", source=str(adopt), output=str(target), key=key)
    else:
        if adopt is not None:
            log("int8_model_not_adopted", level="warning", source=str(adopt), key=key, recorded_key=found,
                message="its calibration key differs from this cache's (other inputs, settings or code): "
                        "quantizing here")
        build_int8(fp32_model, files, str(target), check, calibration_root)
    return str(target)


def default_cache() -> Path:
    """The same root as setup.sh (ORCHARD_CACHE) and the CLI (XDG_CACHE_HOME/orchard)."""
    if os.environ.get("ORCHARD_CACHE"):
        return Path(os.environ["ORCHARD_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "orchard"


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of ``a`` to the same row of ``b``."""
    num = (a.astype(np.float64) * b).sum(1)
    den = np.linalg.norm(a, axis=1).astype(np.float64) * np.linalg.norm(b, axis=1)
    return num / np.maximum(den, np.finfo(np.float64).tiny)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="quantize", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="the fp32 ONNX model (build_model's output)")
    p.add_argument("--calibration", required=True, help="folder of real images, <Class>/<image>.jpg")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("--output", help="where to write the int8 model")
    out.add_argument("--cache", help="cache root: the model goes to <cache>/models/int8-<key>/ and is reused")
    p.add_argument("--adopt", help="with --cache: an int8 model quantized elsewhere, copied in instead of "
                                   "quantizing when it records this cache's calibration key")
    a = p.parse_args(argv)
    if a.adopt and not a.cache:
        p.error("--adopt needs --cache: it fills the cache with a model built elsewhere")
    t0 = time.monotonic()
    try:
        if a.cache:
            path = cached_int8(a.model, a.calibration, a.cache, a.adopt)
        else:
            build_int8(a.model, calibration_files(a.calibration), a.output, holdout_files(a.calibration),
                       a.calibration)
            path = a.output
    except (QualityError, FileNotFoundError, ValueError) as e:
        print(json.dumps({"event": "int8_model_failed", "error": str(e)}), file=sys.stderr)
        return 1
    print(json.dumps({"event": "int8_model", "output": path, "seconds": round(time.monotonic() - t0, 2)}),
          file=sys.stderr)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
