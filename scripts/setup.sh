#!/usr/bin/env bash
# Prepares a machine: .venv from requirements.txt (plus requirements-gpu.txt,
# TensorFlow's CUDA build, where there is an NVIDIA GPU), rebuilt when the
# pins, the Python or the GPU choice change; this checkout installed into it
# (editable); EGL for headless MuJoCo rendering.
#
#   bash scripts/setup.sh [--gpu | --cpu] [--plan]
#
# GPU: `nvidia-smi -L` listing a GPU chooses the CUDA build; --gpu/--cpu or
# PLANET_TF_GPU=1/0 override it both ways. Python: the newest python3.1x
# (>= 3.11) on PATH. EGL: the NVIDIA driver's or Mesa's libEGL is enough;
# apt-get runs only where it is missing and we are root. --plan prints the
# choices (Python, build, files) and exits, changing nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
choice=${PLANET_TF_GPU:-}
plan=0
for arg in "$@"; do
  case $arg in
    --gpu) choice=1 ;;
    --cpu) choice=0 ;;
    --plan) plan=1 ;;
    *) echo "setup: unknown argument $arg (use --gpu, --cpu or --plan)" >&2; exit 2 ;;
  esac
done
if [ -z "$choice" ]; then
  if command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
    choice=1
  else
    choice=0
  fi
fi
case $choice in
  0 | 1) ;;
  *) echo "setup: PLANET_TF_GPU=$choice: use 1 (CUDA build) or 0 (CPU)" >&2; exit 2 ;;
esac

# The newest python3.1x >= 3.11 on PATH (then python3 if it is one).
pick_python() {
  local found="" name version
  for name in python3.19 python3.18 python3.17 python3.16 python3.15 \
      python3.14 python3.13 python3.12 python3.11 python3; do
    command -v "$name" >/dev/null || continue
    version=$("$name" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || continue
    if "$name" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      echo "$name"
      return 0
    fi
    found="$found $name ($version)"
  done
  echo "setup: needs Python >= 3.11 (numpy 2.4, keras 3.15); found:${found:- no python3}. Install python3.11 or newer (Ubuntu 22.04: apt-get install python3.11 python3.11-venv)" >&2
  return 1
}
python=$(pick_python)
files=requirements.txt
[ "$choice" = 1 ] && files="requirements.txt requirements-gpu.txt"
if [ "$plan" = 1 ]; then
  echo "setup plan: $($python --version) ($python), $([ "$choice" = 1 ] && echo 'CUDA build' || echo 'CPU build') from $files"
  exit 0
fi

have_egl() {
  { ldconfig -p 2>/dev/null || true; } | grep -Eq 'libEGL(_nvidia|_mesa)?\.so' ||
    ls /usr/lib*/libEGL*.so* /usr/lib/*/libEGL*.so* >/dev/null 2>&1
}
# Whether .venv imports this very checkout from another directory.
installed() {
  local root=$PWD
  (cd / && "$root/.venv/bin/python" -c 'import os, sys, reproduce
here = os.path.dirname(os.path.dirname(os.path.realpath(reproduce.__file__)))
sys.exit(here != os.path.realpath(sys.argv[1]))' "$root") 2>/dev/null
}
egl_missing=0
if ! have_egl; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing EGL (libegl1, libgl1-mesa-dri) for headless rendering" >&2
    apt-get update -qq && apt-get install -y -qq --no-install-recommends libegl1 libgl1-mesa-dri >&2
  else
    egl_missing=1
    echo "setup: no libEGL found; install libegl1 and libgl1-mesa-dri (Debian names) as root, or use MUJOCO_GL=osmesa (libosmesa6); continuing only if rendering works" >&2
  fi
fi

# The CPU venv's stamp is requirements.txt's hash alone (as before the GPU
# choice existed); the CUDA build's covers both files.
want=$( if [ "$choice" = 1 ]; then { cat $files; echo gpu; } | sha256sum; else sha256sum requirements.txt; fi | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.requirements.sha256 2>/dev/null)" != "$want" ]; then
  label=$([ "$choice" = 1 ] && echo "TensorFlow's CUDA build, about 3 GB" || echo CPU)
  echo "setup: creating .venv with $($python --version) from $files ($label; a few minutes, once)" >&2
  rm -rf .venv
  "$python" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip >&2
  .venv/bin/python -m pip install -q $(printf -- '-r %s ' $files) >&2
  echo "$want" > .venv/.requirements.sha256
fi
if ! installed; then
  # No dependencies from here (the requirements files pin them) and no build
  # isolation (setuptools is in the venv): no network needed.
  echo "setup: installing this checkout into .venv (editable)" >&2
  .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e . >&2
fi
if [ "$egl_missing" = 1 ]; then
  if ! .venv/bin/python -c 'from dm_control import suite
suite.load("cartpole", "balance").physics.render(8, 8)' >/dev/null 2>&1; then
    echo "setup: MuJoCo cannot render with MUJOCO_GL=${MUJOCO_GL:-egl}: install libegl1 libgl1-mesa-dri, or libosmesa6 and set MUJOCO_GL=osmesa" >&2
    exit 1
  fi
fi
echo "setup: .venv ready ($([ "$choice" = 1 ] && echo 'CUDA build' || echo CPU build); check a GPU with: bash scripts/gpu_check.sh)" >&2
