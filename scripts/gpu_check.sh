#!/usr/bin/env bash
# Checks this machine's GPU path in under five minutes: devices, a timed
# paper-size training step and CEM call (median, peak GPU memory), one EGL
# frame on the assigned GPU, two tiny runs side by side on one GPU. Exits
# non-zero naming the problem; without a GPU it says so and exits 0 after
# the CPU checks. Run scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
export MUJOCO_GL=${MUJOCO_GL:-egl} TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
exec .venv/bin/python -m planet_tf.gpu_check "$@"
