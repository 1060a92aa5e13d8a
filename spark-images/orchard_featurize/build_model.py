"""``build_model`` step: ResNet50 notop + average pooling -> ONNX, with preprocessing in metadata.

Pretrained (Dockerfile build stage, needs network to the pinned URL):
    python -m orchard_featurize.build_model --download-pretrained /tmp/w --output resnet50.onnx
    python -m orchard_featurize.build_model --weights-h5 notop.h5 --output resnet50.onnx
Random weights, same architecture and cost (tests, benchmarks, offline machines):
    python -m orchard_featurize.build_model --random-seed 20240 --output resnet50-random.onnx
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import urllib.request

from . import resnet50

# The ImageNet weights that keras.applications.ResNet50(include_top=False) downloads.
# Keras pins the file by md5 (keras/applications/resnet.py WEIGHTS_HASHES["resnet50"][1]) and its
# size is 94,765,736 bytes. Its sha256 could not be computed on the offline build machine; set
# PRETRAINED_SHA256 (or pass --expect-sha256) once it is taken from a trusted download, and the
# build then checks both.
PRETRAINED_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
    "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
)
PRETRAINED_MD5 = "4d473c1dd8becc155b73f8504c6f6626"
PRETRAINED_SIZE = 94_765_736
PRETRAINED_SHA256 = os.environ.get("ORCHARD_PRETRAINED_SHA256", "")
DEFAULT_OPSET = 17
MODEL_NAME = "resnet50-notop-avg"


def file_digest(path: str, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def builder_sha256() -> str:
    """Hash of the graph builder's source: part of the cache key and of the model metadata."""
    return file_digest(resnet50.__file__, "sha256")


def verify_pretrained(path: str, expect_md5: str, expect_sha256: str) -> dict[str, str]:
    md5 = file_digest(path, "md5")
    sha = file_digest(path, "sha256")
    if expect_md5 and md5 != expect_md5:
        raise SystemExit(f"{path}: md5 {md5} != pinned {expect_md5}: the weights file is not the pinned one; "
                         f"download {PRETRAINED_URL} again")
    if expect_sha256 and sha != expect_sha256:
        raise SystemExit(f"{path}: sha256 {sha} != pinned {expect_sha256}: the weights file is not the pinned one")
    return {"md5": md5, "sha256": sha}


def download_pretrained(directory: str) -> str:
    os.makedirs(directory, exist_ok=True)
    target = os.path.join(directory, os.path.basename(PRETRAINED_URL))
    if not os.path.exists(target):
        tmp = target + ".part"
        with urllib.request.urlopen(PRETRAINED_URL, timeout=120) as r, open(tmp, "wb") as out:
            while chunk := r.read(1 << 20):
                out.write(chunk)
        if os.path.getsize(tmp) != PRETRAINED_SIZE:
            raise SystemExit(f"{PRETRAINED_URL}: got {os.path.getsize(tmp)} bytes, expected {PRETRAINED_SIZE}")
        os.replace(tmp, target)
    return target


def build(output: str, opset: int, *, weights_h5: str | None = None, random_seed: int | None = None,
          expect_md5: str = "", expect_sha256: str = "") -> dict[str, str]:
    """Build and save the model; return its metadata (also stored in the ONNX metadata_props)."""
    import onnx

    if (weights_h5 is None) == (random_seed is None):
        raise ValueError("give exactly one of weights_h5 or random_seed")
    meta = {"orchard.model": MODEL_NAME, "orchard.builder_sha256": builder_sha256()}
    if weights_h5 is not None:
        digests = verify_pretrained(weights_h5, expect_md5, expect_sha256)
        weights = resnet50.load_keras_h5(weights_h5)
        meta.update({
            "orchard.weights": "pretrained" if digests["md5"] == PRETRAINED_MD5 else "keras-h5",
            "orchard.weights_source": (PRETRAINED_URL if digests["md5"] == PRETRAINED_MD5
                                       else os.path.basename(weights_h5)),
            "orchard.weights_md5": digests["md5"],
            "orchard.weights_sha256": digests["sha256"],
        })
    else:
        weights = resnet50.random_weights(random_seed)
        meta.update({"orchard.weights": "random", "orchard.weights_source": f"random_weights(seed={random_seed})"})
    model = resnet50.build_graph(weights, opset=opset, metadata=meta)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    # Saved with a temporary name first, and a .onnx/.part suffix tolerated, so a crash leaves no
    # half-written model where the job would look for it.
    tmp = output + ".tmp"
    onnx.save_model(model, tmp)
    os.replace(tmp, output)
    return {p.key: p.value for p in model.metadata_props}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="build_model", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--weights-h5", help="Keras 2 HDF5 weights file (the pinned notop file or save_weights output)")
    src.add_argument("--download-pretrained", metavar="DIR", help=f"download {PRETRAINED_URL} into DIR and use it")
    src.add_argument("--random-seed", type=int, help="seeded random weights, same architecture (tests/benchmarks)")
    p.add_argument("--output", required=True, help="where to write the .onnx model")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    p.add_argument("--expect-md5", default=None, help=f"default: the Keras pin {PRETRAINED_MD5} for the download")
    p.add_argument("--expect-sha256", default=PRETRAINED_SHA256)
    a = p.parse_args(argv)
    t0 = time.monotonic()
    h5 = a.weights_h5
    expect_md5 = a.expect_md5 or ""
    if a.download_pretrained:
        h5 = download_pretrained(a.download_pretrained)
        expect_md5 = a.expect_md5 or PRETRAINED_MD5
    meta = build(a.output, a.opset, weights_h5=h5, random_seed=a.random_seed,
                 expect_md5=expect_md5, expect_sha256=a.expect_sha256)
    meta["orchard.model_sha256"] = file_digest(a.output, "sha256")
    print(json.dumps({"event": "model_built", "output": a.output, "seconds": round(time.monotonic() - t0, 2),
                      "metadata": meta}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
