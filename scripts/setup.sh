#!/usr/bin/env bash
# Prepares a fresh machine: EGL for headless MuJoCo rendering (Debian),
# .venv from requirements.txt (rebuilt when requirements.txt changes), and
# this checkout installed into it (editable), so that `python reproduce/x.py`
# and `python -m planet_tf.train` import it from any directory.
set -euo pipefail
cd "$(dirname "$0")/.."
have_egl() {
  ldconfig -p | grep -q 'libEGL.so.1' && ls /usr/lib/*/dri/swrast_dri.so >/dev/null 2>&1
}
# Whether .venv imports this very checkout from another directory.
installed() {
  local root=$PWD
  (cd / && "$root/.venv/bin/python" -c 'import os, sys, reproduce
here = os.path.dirname(os.path.dirname(os.path.realpath(reproduce.__file__)))
sys.exit(here != os.path.realpath(sys.argv[1]))' "$root") 2>/dev/null
}
if ! have_egl; then
  echo "setup: installing EGL (libegl1, libgl1-mesa-dri) for headless rendering" >&2
  apt-get update -qq && apt-get install -y -qq --no-install-recommends libegl1 libgl1-mesa-dri >&2
fi
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.requirements.sha256 2>/dev/null)" != "$want" ]; then
  echo "setup: creating .venv from requirements.txt (a few minutes, once)" >&2
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip >&2
  .venv/bin/python -m pip install -q -r requirements.txt >&2
  echo "$want" > .venv/.requirements.sha256
fi
if ! installed; then
  # No dependencies from here (requirements.txt pins them) and no build
  # isolation (setuptools is in the venv): no network needed.
  echo "setup: installing this checkout into .venv (editable)" >&2
  .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e . >&2
fi
