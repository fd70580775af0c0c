"""Packs a run directory into one archive that resumes on another machine.

    python -m planet_tf.pack --logdir=LOGDIR --out=OUT.tar.gz [--root=DIR]

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

from absl import app, flags

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


def archive_root(logdir: str, root: Optional[str] = None) -> str:
  """The directory members are named relative to: `root`, by default
  `logdir`'s parent; absolute."""
  return os.path.abspath(root or os.path.dirname(os.path.abspath(logdir)))


def pack(logdir: str, out: str, root: Optional[str] = None) -> List[str]:
  """Writes the archive `out` (gzip tar) of `logdir`; returns its members.

  Written to a temporary name and renamed when complete, so `out` is never a
  partial archive. Raises RunDirError if `logdir` holds no run.
  """
  logdir = os.path.abspath(logdir)
  root = archive_root(logdir, root)
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


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """The command line's flags."""
  flags.DEFINE_string('logdir', None, 'The run directory to pack.',
                      flag_values=flag_values)
  flags.DEFINE_string('out', None, 'The archive to write (.tar.gz).',
                      flag_values=flag_values)
  flags.DEFINE_string('root', None, "Members are named relative to this "
                      "directory (default: the run directory's parent).",
                      flag_values=flag_values)


def main(argv: List[str]) -> None:
  """Packs --logdir into --out; one line on any bad input."""
  values = flags.FLAGS
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}; pass '
                         '--logdir=<run directory> --out=<archive.tar.gz>.')
  if not values.logdir or not values.out:
    raise app.UsageError('Pass --logdir=<run directory> and '
                         '--out=<archive.tar.gz>.')
  root = archive_root(values.logdir, values.root)
  try:
    names = pack(values.logdir, values.out, root)
  except (rundir.RunDirError, OSError) as error:
    sys.exit('Error: ' + ' '.join(str(error).split()))
  size = os.path.getsize(values.out) / 1e6
  print(f'Packed {len(names)} files ({size:.1f} MB) into {values.out}; '
        f'unpack with: tar -xzf {values.out} -C {root}')


if __name__ == '__main__':
  define_flags()
  app.run(main)
