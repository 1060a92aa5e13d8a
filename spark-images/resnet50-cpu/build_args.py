"""The job image's build arguments, one ``--build-arg=KEY=VALUE`` per line, for both of its builders:
resnet50-cpu/build.sh (docker buildx, production) and src/dev/images.ts (buildah, the local stack).

    python3 resnet50-cpu/build_args.py --calibration-image IMAGE [--weights pretrained|random]

They are the image's layout (orchard_featurize/image_layout.json, the one definition of where the job
and the models are), which weights the model gets (``random`` is the seeded test model, seed from
versions.env) and the image holding the calibration photos. The base images are the caller's.
Standard library only: it runs with whatever python3 the build machine has.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def versions_env() -> dict[str, str]:
    lines = (ROOT / "versions.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def build_args(weights: str, calibration_image: str) -> dict[str, str]:
    args = json.loads((ROOT / "orchard_featurize" / "image_layout.json").read_text())
    args["MODEL_WEIGHTS"] = "pretrained" if weights == "pretrained" else f"random:{versions_env()['RANDOM_MODEL_SEED']}"
    args["CALIBRATION_IMAGE"] = calibration_image
    return args


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="build_args", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", choices=["pretrained", "random"], default="pretrained")
    p.add_argument("--calibration-image", required=True, help="image (or buildx named context) holding the photos")
    a = p.parse_args(argv)
    for key, value in build_args(a.weights, a.calibration_image).items():
        print(f"--build-arg={key}={value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
