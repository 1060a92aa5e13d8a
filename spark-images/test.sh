#!/usr/bin/env bash
# Runs the spark-images test suite with what setup.sh prepared (npm test's setup stage runs it;
# tests only find tools). Exit code: pytest's (0 = all passed/skipped).
# Extra arguments go to pytest, e.g. `spark-images/test.sh -k fidelity`.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${ORCHARD_CACHE:-$HOME/.cache/orchard}"
if [[ ! -f "$CACHE/setup.env" ]]; then
  echo "spark-images/test.sh: no $CACHE/setup.env: run \`npm run setup\` (or \`bash spark-images/setup.sh\`) first" >&2
  exit 1
fi
# shellcheck disable=SC1091
source "$CACHE/setup.env"
export ORCHARD_JARS_DIR ORCHARD_TEST_MODEL ORCHARD_TEST_MODEL_INT8
cd "$HERE"
set +e
# The test paths, sys.path, -rs, no cache folder and the warning filter are in pyproject.toml.
PYTHONDONTWRITEBYTECODE=1 "$ORCHARD_PYTHON_BIN" -m pytest -q "$@"
rc=$?
set -e
if [[ $rc -eq 5 ]]; then
  echo "spark-images/test.sh: pytest collected no tests: the suite is missing or mis-configured" >&2
fi
exit $rc
