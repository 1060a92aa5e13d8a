#!/usr/bin/env bash
# Idempotent, cached setup for the spark-images job and its tests:
#   1. a venv under ~/.cache/orchard/venv/<hash of the lock files + python version>,
#      installed with pip --require-hashes from the lock files (PyPI only);
#   2. the S3A jar set from Maven Central, checked against the sha256 pinned in versions.env,
#      under ~/.cache/orchard/jars/<versions>/;
#   3. the random-weights ResNet50 ONNX model under ~/.cache/orchard/models/<key>/,
#      key = sha256(builder source + seed + opset);
#   4. its int8 quantization (the job's default precision) under ~/.cache/orchard/models/int8-<key>/,
#      calibrated on the real Fruits-360 sample beside the repo.
# Writes the resulting paths to ~/.cache/orchard/setup.env (sourced by test.sh) and prints them.
# ORCHARD_SKIP_REFERENCE=1 skips the TensorFlow reference (fidelity test then skips, saying so).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${ORCHARD_CACHE:-$HOME/.cache/orchard}"
PYTHON="${ORCHARD_PYTHON:-python3}"
MAVEN_CENTRAL="${ORCHARD_MAVEN_CENTRAL:-https://repo1.maven.org/maven2}"
# shellcheck source=versions.env
source "$HERE/versions.env"

now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
say() { printf '[setup] %s\n' "$*" >&2; }

# One setup at a time per cache: `orchard demo` and the dev runner it starts both run this script,
# and two venv builds in one folder break each other (ensurepip fails).
mkdir -p "$CACHE"
exec 9>"$CACHE/setup.lock"
flock 9

# 1. venv ------------------------------------------------------------------------------------
t0=$(now)
LOCKS=(requirements.txt requirements-model.txt requirements-test.txt)
if [[ "${ORCHARD_SKIP_REFERENCE:-0}" != 1 ]]; then LOCKS+=(requirements-reference.txt); fi
venv_key=$( { "$PYTHON" -c 'import sys; print(sys.version_info[:2])'; for f in "${LOCKS[@]}"; do cat "$HERE/$f"; done; } | sha256sum | cut -c1-16)
VENV="$CACHE/venv/$venv_key"
if [[ ! -f "$VENV/.orchard-complete" ]]; then
  say "creating venv $VENV"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  for f in "${LOCKS[@]}"; do
    say "pip install --require-hashes -r $f"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input \
      --require-hashes --no-deps -r "$HERE/$f"
  done
  "$VENV/bin/pip" check >&2
  touch "$VENV/.orchard-complete"
  say "venv ready in $(took "$t0") s"
else
  say "venv cached: $VENV ($(took "$t0") s)"
fi
PY="$VENV/bin/python"

# Hadoop bundled with PySpark must equal the hadoop-aws we fetch: refuse to go on otherwise.
bundled=$("$PY" - <<'PY'
import glob, os, re, pyspark
jars = glob.glob(os.path.join(os.path.dirname(pyspark.__file__), "jars", "hadoop-client-api-*.jar"))
print(re.search(r"hadoop-client-api-(.+)\.jar", jars[0]).group(1) if jars else "none")
PY
)
if [[ "$bundled" != "$HADOOP_VERSION" ]]; then
  say "PySpark $SPARK_VERSION bundles Hadoop $bundled but versions.env pins HADOOP_VERSION=$HADOOP_VERSION: set it to $bundled (and the matching AWS SDK bundle)"
  exit 1
fi

# 2. jars --------------------------------------------------------------------------------------
t0=$(now)
JARS="$CACHE/jars/spark-${SPARK_VERSION}_hadoop-${HADOOP_VERSION}_sdk-${AWS_SDK_BUNDLE_VERSION}"
mkdir -p "$JARS"
fetch_jar() { # group artifact version sha256
  local group_path="${1//.//}" artifact="$2" version="$3" want="$4"
  local file="$JARS/$artifact-$version.jar"
  local url="$MAVEN_CENTRAL/$group_path/$artifact/$version/$artifact-$version.jar"
  if [[ ! -f "$file" ]]; then
    say "GET $url"
    curl --fail --silent --show-error --location --retry 3 -o "$file.part" "$url"
    mv "$file.part" "$file"
  fi
  local got; got=$(sha256sum "$file" | cut -d' ' -f1)
  if [[ "$got" != "$want" ]]; then
    say "sha256 mismatch for $file: got $got, versions.env pins $want; delete the file and rerun, or update the pin after checking the artifact"
    exit 1
  fi
}
fetch_jar org.apache.hadoop hadoop-aws "$HADOOP_VERSION" "$HADOOP_AWS_SHA256"
fetch_jar com.amazonaws aws-java-sdk-bundle "$AWS_SDK_BUNDLE_VERSION" "$AWS_SDK_BUNDLE_SHA256"
fetch_jar org.apache.spark "spark-hadoop-cloud_${SCALA_BINARY_VERSION}" "$SPARK_VERSION" "$SPARK_HADOOP_CLOUD_SHA256"
say "jars ready in $(took "$t0") s: $JARS"

# 3. random-weights model ----------------------------------------------------------------------
t0=$(now)
model_key=$( { cat "$HERE"/orchard_featurize/build_model.py "$HERE"/orchard_featurize/resnet50.py; echo "seed=$RANDOM_MODEL_SEED opset=$ONNX_OPSET"; } | sha256sum | cut -c1-16)
MODEL_DIR="$CACHE/models/$model_key"
MODEL="$MODEL_DIR/resnet50-random-seed${RANDOM_MODEL_SEED}.onnx"
if [[ ! -f "$MODEL" ]]; then
  mkdir -p "$MODEL_DIR"
  say "building random-weights model $MODEL"
  (cd "$HERE" && "$PY" -m orchard_featurize.build_model --random-seed "$RANDOM_MODEL_SEED" \
     --opset "$ONNX_OPSET" --output "$MODEL.part")
  mv "$MODEL.part" "$MODEL"
  say "model built in $(took "$t0") s"
else
  say "model cached: $MODEL ($(took "$t0") s)"
fi

# 4. int8 model: the job's default precision, quantized from the model above -----------------------
# Calibrated and checked on real photos (the Fruits-360 sample beside the repo, or ORCHARD_CALIBRATION),
# as the image build does; cached under models/int8-<key>/ by quantize itself. ORCHARD_INT8_ADOPT names
# one quantized elsewhere (orchard's setup passes the job image's): quantize copies it in instead of
# quantizing again when it records the same calibration key, which makes it the same file.
t0=$(now)
CALIBRATION="${ORCHARD_CALIBRATION:-$HERE/../../shared/data/fruits-360/Training}"
if [[ ! -d "$CALIBRATION" ]]; then
  say "no calibration images at $CALIBRATION: the int8 model is quantized on real photos; put the Fruits-360 sample at ../shared/data/fruits-360 beside the repo, or set ORCHARD_CALIBRATION to a folder of <Class>/<image>.jpg"
  exit 1
fi
ADOPT=()
if [[ -n "${ORCHARD_INT8_ADOPT:-}" ]]; then ADOPT=(--adopt "$ORCHARD_INT8_ADOPT"); fi
QUANTIZE_LOG="$CACHE/logs/quantize.log"
mkdir -p "$CACHE/logs"
MODEL_INT8=$(cd "$HERE" && ORCHARD_CACHE="$CACHE" "$PY" -m orchard_featurize.quantize --model "$MODEL" \
  --calibration "$CALIBRATION" --cache "$CACHE" "${ADOPT[@]}" 2>"$QUANTIZE_LOG") || {
  say "int8 quantization failed: read $QUANTIZE_LOG, or rerun \`cd spark-images && $PY -m orchard_featurize.quantize --model $MODEL --calibration $CALIBRATION --cache $CACHE\`"
  exit 1
}
how=$(grep -o '"event": "int8_model_\(adopted\|not_adopted\)"' "$QUANTIZE_LOG" | head -1 | cut -d'"' -f4 || true)
say "int8 model: $MODEL_INT8 ($(took "$t0") s${how:+, ${how//_/ } from ${ORCHARD_INT8_ADOPT}})"

# Written aside and renamed, so a reader never sees half a file.
cat > "$CACHE/setup.env.partial" <<ENV
ORCHARD_VENV=$VENV
ORCHARD_PYTHON_BIN=$PY
ORCHARD_JARS_DIR=$JARS
ORCHARD_TEST_MODEL=$MODEL
ORCHARD_TEST_MODEL_INT8=$MODEL_INT8
ENV
mv "$CACHE/setup.env.partial" "$CACHE/setup.env"
say "wrote $CACHE/setup.env:"
cat "$CACHE/setup.env" >&2
