#!/usr/bin/env bash
# Builds the job image from resnet50-cpu/Dockerfile with the image's layout as build arguments:
# orchard_featurize/image_layout.json is the one definition of where the job and the models are,
# read by the manifests (src/spark/application.ts), by the job, and here. The context is spark-images/.
# Extra arguments go to `docker buildx build`, for example:
#   spark-images/resnet50-cpu/build.sh --build-context calibration=<Fruits-360>/Training -t <repo>:<tag>
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CONTEXT="$(dirname "$HERE")"
mapfile -t LAYOUT < <(python3 -c 'import json, sys
for key, value in json.load(open(sys.argv[1])).items():
    print(f"--build-arg={key}={value}")' "$CONTEXT/orchard_featurize/image_layout.json")
exec docker buildx build -f "$HERE/Dockerfile" "${LAYOUT[@]}" "$@" "$CONTEXT"
