"""Packs a run directory into one archive that resumes on another machine.

    python -m planet_tf.pack LOGDIR OUT.tar.gz [--root=DIR]

For runs longer than the machine they run on lives (preemptible or
short-lived machines): the archive holds what a resume needs and nothing it
can do without, so it stays small. Unpack with `tar -xzf OUT.tar.gz -C DIR`
and rerun the same command to resume from the packed checkpoint.

Kept: config.json, spec.json, run.json, metrics.jsonl, episodes/, the newest
complete checkpoint, openloop/, videos/, tb/, discarded/, and the sweep's
log beside the directory (`LOGDIR.log`) if there is one. Left out: `.lock`,
older checkpoints (a resume reads the newest; the directory listing is the
checkpoints' only state) and temporary files of an interrupted write.

Members are named relative to `root` (default: LOGDIR's parent), so a sweep's
tree (`runs/<budget>/<model>/<task>/seed<k>`) unpacks where the sweep looks.
Pack a paused or stopped run: a pack taken mid-write is what a kill at that
moment leaves, which a resume repairs (docs/guarantees.md).
"""

from __future__ import annotations

import os
import sys
import tarfile
from typing import List, Optional

from planet_tf import rundir


def members(logdir: str) -> List[str]:
  """The paths under `logdir` that the archive holds, sorted."""
  checkpoints = os.path.join(logdir, rundir.CHECKPOINTS_DIR)
  numbers = (rundir.checkpoint_numbers(checkpoints)
             if os.path.isdir(checkpoints) else [])
  newest = numbers[-1] if numbers else None
  kept = []
  for directory, _, names in os.walk(logdir):
    for name in names:
      path = os.path.join(directory, name)
      if name == rundir.LOCK_NAME or rundir.is_partial(name):
        continue
      if directory == checkpoints and rundir.checkpoint_number(name) != newest:
        continue
      kept.append(path)
  return sorted(kept)


def pack(logdir: str, out: str, root: Optional[str] = None) -> List[str]:
  """Writes the archive `out` (gzip tar) of `logdir`; returns its members.

  Written to a temporary name and renamed when complete, so `out` is never a
  partial archive. Raises RunDirError if `logdir` holds no run.
  """
  logdir = os.path.abspath(logdir)
  root = os.path.abspath(root or os.path.dirname(logdir))
  if rundir.read_config(logdir) is None:
    raise rundir.RunDirError(
        f'{logdir} holds no run (no config.json): pass a run directory '
        '(the --logdir of a training run).')
  if os.path.relpath(logdir, root).startswith('..'):
    raise rundir.RunDirError(f'--root={root} does not contain {logdir}.')
  paths = members(logdir)
  beside = logdir + '.log'
  if os.path.isfile(beside):
    paths.append(beside)

  def write(file) -> None:
    with tarfile.open(fileobj=file, mode='w:gz', compresslevel=1) as archive:
      for path in paths:
        archive.add(path, arcname=os.path.relpath(path, root))

  rundir.write_file_atomic(out, write)
  return [os.path.relpath(path, root) for path in paths]


def main(argv: List[str]) -> int:
  """The command line: LOGDIR OUT [--root=DIR]; 2 on bad arguments."""
  options = [arg for arg in argv if arg.startswith('--root=')]
  positional = [arg for arg in argv if not arg.startswith('--')]
  if len(positional) != 2 or len(options) + 2 != len(argv):
    print(__doc__.splitlines()[2].strip(), file=sys.stderr)
    return 2
  logdir, out = positional
  root = os.path.abspath(options[0].split('=', 1)[1] if options
                         else os.path.dirname(os.path.abspath(logdir)))
  try:
    names = pack(logdir, out, root)
  except rundir.RunDirError as error:
    print(f'error: {error}', file=sys.stderr)
    return 1
  size = os.path.getsize(out) / 1e6
  print(f'Packed {len(names)} files ({size:.1f} MB) into {out}; '
        f'unpack with: tar -xzf {out} -C {root}')
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
