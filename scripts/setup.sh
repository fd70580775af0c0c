#!/usr/bin/env bash
# Prepares a fresh machine: EGL for headless MuJoCo rendering (Debian) and
# .venv from requirements.txt, rebuilt when requirements.txt changes.
set -euo pipefail
cd "$(dirname "$0")/.."
have_egl() {
  ldconfig -p | grep -q 'libEGL.so.1' && ls /usr/lib/*/dri/swrast_dri.so >/dev/null 2>&1
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
