#!/usr/bin/env bash
# Packs every first40 run directory not listed in carry/DONE into carry/
# (40 MB parts), replacing what was carried before. Pause the sweep first
# (kill -STOP).
#   bash carry/save.sh            (from the checkout; WORK defaults to /work)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
work=${WORK:-/work}
py=$repo/.venv/bin/python
for config in "$work"/runs/first40/*/*/seed*/config.json; do
  [ -e "$config" ] || continue
  logdir=$(dirname "$config")
  name=$(realpath --relative-to="$work/runs" "$logdir" | tr / -)
  rm -f "$here/$name".tar.gz.part-*
  # A finished run is carried too, until its results (open-loop pictures
  # of its final checkpoint among them) are committed and it is in DONE.
  if grep -qxF "$name" "$here/DONE" 2>/dev/null; then
    echo "$name: in carry/DONE, its results committed; not carried"; continue
  fi
  "$py" -m planet_tf.pack --logdir="$logdir" --out="/tmp/$name.tar.gz" \
    --root="$work/runs"
  split -b 40m "/tmp/$name.tar.gz" "$here/$name.tar.gz.part-"
  rm "/tmp/$name.tar.gz"
done
ls -la "$here"
