#!/usr/bin/env bash
# The main job: bash scripts/train.sh --task=cheetah_run --logdir=runs/cheetah
# (flags as python -m planet_tf.train; rerun the same command to resume).
# A relative --logdir is taken from the caller's directory.
set -euo pipefail

# Prints the path absolute against the current directory (~/ is $HOME).
absolute_path() {
  case $1 in
    '' | /*) printf '%s' "$1" ;;
    '~/'*) printf '%s/%s' "$HOME" "${1#'~/'}" ;;
    *) printf '%s/%s' "$PWD" "$1" ;;
  esac
}

# Prints the arguments NUL-separated, with the value of --logdir (forms
# --logdir=x, --logdir x, and absl's single dash) made absolute: the
# training process runs in the repository root. Stops at `--`.
absolute_logdir() {
  local arg value=0 rest=0
  for arg in "$@"; do
    if ((rest)); then
      printf '%s\0' "$arg"
    elif ((value)); then
      printf '%s\0' "$(absolute_path "$arg")"
      value=0
    else
      case $arg in
        --) rest=1; printf '%s\0' "$arg" ;;
        --logdir=* | -logdir=*)
          printf '%s=%s\0' "${arg%%=*}" "$(absolute_path "${arg#*=}")" ;;
        --logdir | -logdir) value=1; printf '%s\0' "$arg" ;;
        *) printf '%s\0' "$arg" ;;
      esac
    fi
  done
}

main() {
  local args=()
  mapfile -d '' args < <(absolute_logdir "$@")
  cd "$(dirname "$0")/.."
  bash scripts/setup.sh
  export MUJOCO_GL="${MUJOCO_GL:-egl}" TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
  exec .venv/bin/python -m planet_tf.train "${args[@]}"
}

# Sourced (tests/test_sweep_scripts.py), it only defines the functions.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
