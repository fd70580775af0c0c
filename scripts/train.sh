#!/usr/bin/env bash
# The main job: bash scripts/train.sh --task=cheetah_run --logdir=runs/cheetah
# (flags as python -m planet_tf.train; rerun the same command to resume).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export MUJOCO_GL="${MUJOCO_GL:-egl}" TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
exec .venv/bin/python -m planet_tf.train "$@"
