#!/usr/bin/env bash
# The test suite: bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export MUJOCO_GL="${MUJOCO_GL:-egl}" TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
# One worker per core (pytest-xdist): the tests are mostly single-threaded
# graph building and environment steps.
exec .venv/bin/python -m pytest -q -n auto --durations=10 tests "$@"
