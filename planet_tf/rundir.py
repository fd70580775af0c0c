"""Crash safety of a run directory: lock, atomic writes, checkpoints.

Nothing here imports TensorFlow except `Checkpoints`, which receives a
`tf.train.Checkpoint` from its caller.

- `lock` takes an exclusive `flock` on `logdir/.lock` for the life of the
  process; the OS releases it when the process dies, even by SIGKILL, so a
  kill never leaves a stale lock.
- `write_atomic` writes a temporary file, syncs it and renames it; on any
  failure (a full disk) it removes the temporary file and re-raises.
- `move_aside` moves a file into `logdir/discarded/` under a fresh name.
- `Checkpoints` numbers checkpoints by episode count, keeps the last few and
  restores the newest one that reads back, moving unreadable ones aside.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
from typing import IO, Callable, List, Optional

from absl import logging

LOCK_NAME = '.lock'
DISCARDED = 'discarded'
_CHECKPOINT = re.compile(r'^ckpt-(\d+)\.index$')
_CHECKPOINT_FILE = re.compile(r'^ckpt-(\d+)\.')


class RunDirError(RuntimeError):
  """The run directory cannot be used (locked, unwritable, unreadable)."""


def check_writable(logdir: str) -> None:
  """Creates `logdir` and a probe file in it; raises RunDirError if it can't."""
  probe = os.path.join(logdir, f'.write_probe.{os.getpid()}')
  try:
    os.makedirs(logdir, exist_ok=True)
    write_atomic(probe, b'probe')
    os.remove(probe)
  except OSError as error:
    raise RunDirError(
        f'Cannot write to the run directory {logdir}: {error}. Fix its '
        'permissions or free disk space, or pick another --logdir.') from error


def lock(logdir: str) -> IO[str]:
  """Locks `logdir` for this process; returns the open lock file to keep.

  Raises RunDirError naming the holder's PID if another process holds it.
  Closing the returned file (or the process ending) releases the lock.
  """
  path = os.path.join(logdir, LOCK_NAME)
  file = open(path, 'a+')
  try:
    fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    file.seek(0)
    holder = file.read().strip() or 'unknown'
    file.close()
    raise RunDirError(
        f'Another process (PID {holder}) is using the run directory '
        f'{logdir}. Wait for it to finish, stop it, or pick another '
        '--logdir.') from None
  file.seek(0)
  file.truncate()
  file.write(str(os.getpid()))
  file.flush()
  return file


def write_atomic(path: str, data: bytes) -> None:
  """Writes `data` to `path` via a synced temporary file and a rename."""
  write_file_atomic(path, lambda file: file.write(data))


def write_file_atomic(path: str, write: Callable[[IO[bytes]], object]) -> None:
  """Calls `write(file)` on a temporary file, syncs it, renames it to `path`.

  On any failure the temporary file is removed and the error re-raised, so
  `path` either holds the complete new contents or is untouched.
  """
  temporary = path + '.tmp'
  try:
    with open(temporary, 'wb') as file:
      write(file)
      file.flush()
      os.fsync(file.fileno())
    os.replace(temporary, path)
  except BaseException:
    if os.path.exists(temporary):
      os.remove(temporary)
    raise


def move_aside(path: str, logdir: str, kind: str) -> str:
  """Moves `path` to `logdir/discarded/<kind>/` under an unused name."""
  directory = os.path.join(logdir, DISCARDED, kind)
  os.makedirs(directory, exist_ok=True)
  name = os.path.basename(path)
  target = os.path.join(directory, name)
  suffix = 1
  while os.path.exists(target):
    target = os.path.join(directory, f'{name}.{suffix}')
    suffix += 1
  shutil.move(path, target)
  return target


def remove_partial_files(logdir: str) -> List[str]:
  """Deletes what an interrupted write left: `*.tmp` files and TensorFlow's
  checkpoint temporaries (`*_temp` directories, `*.tempstate*` files)."""
  removed = []
  for directory, names, files in os.walk(logdir):
    if directory == logdir and DISCARDED in names:
      names.remove(DISCARDED)
    for name in list(names):
      if name.endswith('_temp'):
        shutil.rmtree(os.path.join(directory, name))
        removed.append(os.path.join(directory, name))
        names.remove(name)
    for name in files:
      if name.endswith('.tmp') or '.tempstate' in name:
        os.remove(os.path.join(directory, name))
        removed.append(os.path.join(directory, name))
  return removed


class Checkpoints:
  """`tf.train.Checkpoint` files `ckpt-N.*` numbered by episode count.

  TensorFlow writes the data file, then the index file, each under a
  temporary name renamed when complete; a checkpoint counts once its index
  exists. No state file is involved: the directory listing is the truth.
  """

  def __init__(self, checkpoint, directory: str, logdir: str, keep: int = 3,
               legacy=None):
    """`legacy`, if given, is the object graph of an older checkpoint layout
    to try when a checkpoint does not match `checkpoint`."""
    self.checkpoint = checkpoint
    self.legacy = legacy
    self.restored_legacy = False
    self.directory = directory
    self.logdir = logdir
    self.keep = keep
    os.makedirs(directory, exist_ok=True)

  def numbers(self) -> List[int]:
    """The numbers of the complete checkpoints, oldest first."""
    found = (_CHECKPOINT.match(name) for name in os.listdir(self.directory))
    return sorted(int(match.group(1)) for match in found if match)

  def _files(self, number: int) -> List[str]:
    prefix = f'ckpt-{number}.'
    return [os.path.join(self.directory, name)
            for name in os.listdir(self.directory) if name.startswith(prefix)]

  def save(self, number: int) -> str:
    """Writes checkpoint `number`, then deletes all but the last `keep`."""
    prefix = os.path.join(self.directory, f'ckpt-{number}')
    for path in self._files(number):  # A leftover of an interrupted run.
      os.remove(path)
    try:
      self.checkpoint.write(prefix)
    except BaseException as error:  # A full disk: leave no partial checkpoint.
      for path in self._files(number):
        os.remove(path)
      remove_partial_files(self.directory)
      if isinstance(error, Exception):  # TensorFlow raises its own errors.
        raise RunDirError(
            f'Could not write checkpoint {prefix}: {error}. Nothing partial '
            'was left: fix the cause and rerun the same command to resume '
            'from the last checkpoint.') from error
      raise
    kept = set(self.numbers()[-self.keep:])
    for name in os.listdir(self.directory):  # Also orphans of a kill.
      match = _CHECKPOINT_FILE.match(name)
      if match and int(match.group(1)) not in kept:
        os.remove(os.path.join(self.directory, name))
    return prefix

  def _read(self, prefix: str) -> None:
    """Reads `prefix` into the current layout, else into the legacy one."""
    try:
      self.checkpoint.read(prefix).assert_consumed()
    except AssertionError:
      if self.legacy is None:
        raise
      # Earlier checkpoints came from CheckpointManager.save, which adds a
      # save_counter: every object of the legacy graph must match, extras
      # are allowed.
      self.legacy.read(prefix).assert_existing_objects_matched()
      self.restored_legacy = True
      logging.warning('%s has the layout of an earlier version; restored it '
                      'and will save in the current layout.', prefix)

  def restore_latest(self) -> Optional[int]:
    """Restores the newest checkpoint that reads back; returns its number.

    An unreadable checkpoint is moved to `discarded/checkpoints/` with a
    warning naming it, and the one before is tried. Returns None if there
    is none. Raises RunDirError if checkpoints exist but none reads back, or
    if one reads but does not match the program (a different version).
    """
    numbers = self.numbers()
    problems = []
    for number in reversed(numbers):
      prefix = os.path.join(self.directory, f'ckpt-{number}')
      try:
        self._read(prefix)
      except AssertionError as error:
        raise RunDirError(
            f'Checkpoint {prefix} does not match this program ({error}). It '
            'was written by another version of planet_tf; use that version '
            'or start a new --logdir.') from error
      except Exception as error:  # pylint: disable=broad-except
        problems.append(f'{prefix}: {type(error).__name__}: {error}')
        if number == numbers[0]:
          break  # Keep the oldest for inspection; we refuse below.
        logging.warning('Corrupt checkpoint %s (%s: %s); moving it to %s and '
                        'falling back to the previous one.', prefix,
                        type(error).__name__, error, DISCARDED)
        for path in self._files(number):
          move_aside(path, self.logdir, 'checkpoints')
        continue
      return number
    if problems:
      raise RunDirError(
          'No checkpoint in ' + self.directory + ' reads back:\n  ' +
          '\n  '.join(problems) + '\nMove the checkpoints directory aside '
          'to restart training from scratch.')
    return None
