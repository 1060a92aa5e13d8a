#!/usr/bin/env bash
# Builds the job image from resnet50-cpu/Dockerfile with docker buildx. Its build arguments come from
# resnet50-cpu/build_args.py, which src/dev/images.ts's buildah build uses too: the layout
# (orchard_featurize/image_layout.json), the weights and the calibration photos' image, here a named
# build context holding the folder. The context is spark-images/.
#   spark-images/resnet50-cpu/build.sh --calibration <Fruits-360>/Training [--weights random] -t <repo>:<tag>
# Other arguments go to `docker buildx build`.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CONTEXT="$(dirname "$HERE")"
calibration="" weights=pretrained
while [[ $# -gt 0 ]]; do
  case "$1" in
    --calibration) calibration="$2"; shift 2 ;;
    --weights) weights="$2"; shift 2 ;;
    *) break ;;
  esac
done
if [[ -z "$calibration" ]]; then
  echo "build.sh: pass --calibration <folder of <Class>/<image>.jpg>, e.g. ../shared/data/fruits-360/Training: the int8 model is calibrated on real photos" >&2
  exit 2
fi
args="$(python3 "$HERE/build_args.py" --weights "$weights" --calibration-image orchard-calibration)"
mapfile -t ARGS <<<"$args"
exec docker buildx build -f "$HERE/Dockerfile" --build-context "orchard-calibration=$calibration" "${ARGS[@]}" "$@" "$CONTEXT"
