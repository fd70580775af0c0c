#!/usr/bin/env bash
# Packs every unfinished first40 run directory into carry/ (40 MB parts),
# replacing what was carried before. Pause the sweep first (kill -STOP).
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
  if "$py" -c 'import sys; from planet_tf import rundir
sys.exit(0 if rundir.is_finished(sys.argv[1]) else 1)' "$logdir"; then
    echo "$name: finished, nothing carried"; continue
  fi
  "$py" -m planet_tf.pack "$logdir" "/tmp/$name.tar.gz" --root="$work/runs"
  split -b 40m "/tmp/$name.tar.gz" "$here/$name.tar.gz.part-"
  rm "/tmp/$name.tar.gz"
done
ls -la "$here"
