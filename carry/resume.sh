#!/usr/bin/env bash
# Resumes the first40 sweep (issue 26) on a new machine, in the background:
# rebuilds the fixed code snapshot, unpacks the carried run directories and
# starts the sweep, which resumes each run from its packed checkpoint.
#   bash carry/resume.sh          (from the checkout; WORK defaults to /work)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
work=${WORK:-/work}
snapshot=56955ed  # The sweep's code: never changed while its runs go on.
snap=$work/snap/$snapshot
if [ ! -x "$snap/.venv/bin/python" ]; then
  mkdir -p "$snap"
  git -C "$repo" archive "$snapshot" | tar -x -C "$snap"
  (cd "$snap" && bash scripts/setup.sh)
fi
mkdir -p "$work/runs" "$work/sweep_results"
for first in "$here"/*.tar.gz.part-aa; do
  [ -e "$first" ] || continue
  stem=${first%.part-aa}
  echo "unpacking $(basename "$stem") into $work/runs"
  cat "$stem".part-* | tar -xz -C "$work/runs"
done
if pgrep -f "reproduce/table1.py --budget=first40" >/dev/null; then
  echo "the sweep is already running"; exit 0
fi
# Tasks whose run is in carry/DONE finished, and their run directories are
# not carried: leave them out, or the sweep would start them again here.
tasks=""
for task in cartpole_swingup reacher_easy finger_spin cheetah_run; do
  grep -qxF "first40-rssm-$task-seed1" "$here/DONE" 2>/dev/null ||
    tasks="$tasks $task"
done
cat > "$work/snap/sweep-$snapshot.sh" <<SWEEP
#!/usr/bin/env bash
set -u
cd $snap
export MUJOCO_GL=egl TF_CPP_MIN_LOG_LEVEL=2
for task in$tasks; do
  $snap/.venv/bin/python reproduce/table1.py --budget=first40 --tasks=\$task \
    --seeds=1 --runs_dir=$work/runs --results_dir=$work/sweep_results || exit \$?
done
SWEEP
chmod +x "$work/snap/sweep-$snapshot.sh"
nohup setsid "$work/snap/sweep-$snapshot.sh" >> "$work/snap/sweep-$snapshot.log" 2>&1 &
echo "sweep started (pid $!); log: $work/snap/sweep-$snapshot.log"
