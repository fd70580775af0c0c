"""The run directory: its file names, their one reader each, crash safety.

  .lock              held (flock) by the process training in the directory
  config.json        the resolved config; a rerun must resolve to the same one
  spec.json          the run's kind (`run_kind`), its episodes' frame shape
                     and action size
  episodes/          training episodes, one .npz each (see `replay`)
  checkpoints/       model, optimiser and counters after every episode
  metrics.jsonl      one row per collected episode (`MetricsLog`)
  openloop/          open-loop prediction PNGs on the test schedule
  videos/            a video of the first test episode of each test point
  tb/                TensorBoard scalars and images
  discarded/         what a resume set aside: corrupt files, malformed metrics
                     lines, and episodes and rows past the last checkpoint

Nothing here imports TensorFlow (checkpoint files: `checkpoint`).

- `lock` takes an exclusive `flock` on `logdir/.lock` for the life of the
  process; the OS releases it when the process dies, even by SIGKILL, so a
  kill never leaves a stale lock.
- `write_atomic` writes a temporary file, syncs it and renames it; on any
  failure (a full disk) it removes the temporary file and re-raises.
- `move_aside` moves a file into `logdir/discarded/` under a fresh name.

One module on purpose, though over 350 lines: "one reader of each file" is
checkable only where every file name and its reader are in one place.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import re
import shutil
import time
from typing import (IO, Any, Callable, Dict, List, Mapping, Optional, Sequence,
                    Tuple)

from absl import logging

from planet_tf import config as config_lib
from planet_tf.config import Config

LOCK_NAME = '.lock'
CONFIG_FILE = 'config.json'
# The run's kind and the observation and action spec of its episodes (frame
# shape, action size), so that readers of a checkpoint need not open an
# episode.
SPEC_FILE = 'spec.json'
# The kinds of run a directory holds: Algorithm 1 (`planet_tf.train`), or
# Table 1's CEM on the true simulator (`planet_tf.true_simulator`), which
# learns nothing and writes one metrics row.
TRAINING = 'training'
TRUE_SIMULATOR = 'true_simulator'
KINDS = (TRAINING, TRUE_SIMULATOR)
METRICS_FILE = 'metrics.jsonl'
EPISODES_DIR = 'episodes'
CHECKPOINTS_DIR = 'checkpoints'
_CHECKPOINT_INDEX = re.compile(r'^ckpt-(\d+)\.index$')
_CHECKPOINT_FILE = re.compile(r'^ckpt-(\d+)\.')
OPENLOOP_DIR = 'openloop'
VIDEOS_DIR = 'videos'
TENSORBOARD_DIR = 'tb'
DISCARDED = 'discarded'
# The resolved config kept beside the checkpoints, so that a run whose
# config.json was lost is still checked (and config.json restored). Runs
# made before it existed have none; that is tolerated.
CHECKPOINT_CONFIG = os.path.join(CHECKPOINTS_DIR, CONFIG_FILE)


class RunDirError(RuntimeError):
  """The run directory cannot be used (locked, unwritable, unreadable)."""


def check_writable(logdir: str) -> None:
  """Creates `logdir` and a probe file in it; raises RunDirError if it can't."""
  if os.path.exists(logdir) and not os.path.isdir(logdir):
    raise RunDirError(f'--logdir={logdir} is a file, not a directory: pick '
                      'another --logdir (or move the file away).')
  probe = os.path.join(logdir, f'.write_probe.{os.getpid()}')
  try:
    os.makedirs(logdir, exist_ok=True)
    write_atomic(probe, b'probe')
    os.remove(probe)
  except OSError as error:
    raise RunDirError(
        f'Cannot write to the run directory {logdir}: {error}. Fix its '
        'permissions or free disk space, or pick another --logdir.') from error


def lock_holder(logdir: str) -> Optional[str]:
  """The PID (as written) of the process that holds `logdir`'s lock, or
  None if no process holds it (a lock file left by a process that ended
  does not count). Takes and releases the lock to find out."""
  path = os.path.join(logdir, LOCK_NAME)
  if not os.path.exists(path):
    return None
  with open(path, 'a+') as file:
    try:
      fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      file.seek(0)
      return file.read().strip() or 'unknown'
    fcntl.flock(file.fileno(), fcntl.LOCK_UN)
  return None


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


def read_config(logdir: str, name: str = CONFIG_FILE) -> Optional[dict]:
  """The run's config.json as a dict, or None before the run has started.
  `name` may name the copy kept with the checkpoints (`CHECKPOINT_CONFIG`).

  Raises RunDirError naming the file if it is not a JSON object.
  """
  path = os.path.join(logdir, name)
  if not os.path.exists(path):
    return None
  try:
    with open(path) as file:
      values = json.load(file)
  except (json.JSONDecodeError, UnicodeDecodeError) as error:
    raise RunDirError(
        f'{path} is corrupt ({error}): restore it (the run\'s `run.json` or '
        'its log holds the command that made it) or pick a new --logdir.'
    ) from None
  if not isinstance(values, dict):
    raise RunDirError(f'{path} holds no config object: restore it or pick a '
                      'new --logdir.')
  return values


# Values a rerun may change: extending a run is resuming it with more
# episodes; the others change no learned value: the device knobs (a run may
# move CPU <-> GPU), the environment timeout, the test-point video.
RESUMABLE_CHANGES = ('total_episodes', 'max_nonfinite_updates',
                     'backward_chunks', 'planner_groups', 'env_timeout',
                     'test_video')
# Sizes that only shape a batch or a plan, not a learned value or a stored
# episode: a run that has made no update yet (the usual place to run out of
# memory is its first update) may change them, as nothing trained depends on
# them.
UNTRAINED_CHANGES = ('batch_size', 'chunk_length', 'candidates', 'top_k')


def config_changes(stored: dict, config: Config) -> Dict[str, tuple]:
  """key -> (stored, current) for every value that a resume may not change.
  A field added to Config after the run started counts at its default."""
  defaults, current = Config().to_dict(), config.to_dict()
  return {key: (stored.get(key, defaults[key]), value)
          for key, value in current.items()
          if key not in RESUMABLE_CHANGES and
          stored.get(key, defaults[key]) != value}


def check_config(logdir: str, config: Config,
                 allow: Sequence[str] = ()) -> None:
  """Refuses a config that the run in `logdir` was not started with.

  `allow`: keys that may differ too (`UNTRAINED_CHANGES` for a run that
  may not have updated yet; the caller checks again strictly once it
  knows). Raises RunDirError listing every difference, allowed ones
  included, if any other differs. Does not write anything:
  `store_config` does, once the run has started.
  """
  stored, source = read_config(logdir), CONFIG_FILE
  if stored is None:  # config.json lost: the copy with the checkpoints.
    stored, source = read_config(logdir, CHECKPOINT_CONFIG), CHECKPOINT_CONFIG
  if stored is None:
    return
  changes = config_changes(stored, config)
  if changes and not set(changes) <= set(allow):
    details = ', '.join(f'{key}: {old!r} -> {new!r}'
                        for key, (old, new) in sorted(changes.items()))
    raise RunDirError(
        f'{logdir} holds a run with a different config ({details})'
        + (f' (from {source}: {CONFIG_FILE} is missing)'
           if source != CONFIG_FILE else '')
        + '. Rerun with the same flags to resume, or pick a new --logdir.')


def store_config(logdir: str, config: Config) -> None:
  """Writes config.json and its copy beside the checkpoints (atomically)
  unless they already hold `config`; restores a lost config.json."""
  for name in (CHECKPOINT_CONFIG, CONFIG_FILE):
    path = os.path.join(logdir, name)
    if not os.path.isdir(os.path.dirname(path)):
      continue  # No checkpoints directory (a caller without checkpoints).
    try:
      same = read_config(logdir, name) == config.to_dict()
    except RunDirError:  # A corrupt copy that check_config did not read.
      same = False
    if not same:
      write_atomic(path, config.to_json().encode())


def store_spec(logdir: str, frame_shape: Sequence[int], action_size: int,
               kind: str = TRAINING) -> None:
  """Writes spec.json (atomically) unless it already holds this spec.
  Raises RunDirError if it names another kind of run; a spec.json written
  before kinds existed has none and gets this one."""
  spec = {'frame_shape': [int(n) for n in frame_shape],
          'action_size': int(action_size), 'kind': kind}
  stored = _stored_kind(logdir)
  if stored is not None and stored != kind:
    raise RunDirError(f'{logdir} holds a {stored} run, not a {kind} run: '
                      'pick another --logdir.')
  if (read_spec(logdir) != (tuple(spec['frame_shape']), spec['action_size'])
      or stored is None):
    write_atomic(os.path.join(logdir, SPEC_FILE),
                 json.dumps(spec, indent=2, sort_keys=True).encode())


def read_spec(logdir: str) -> Optional[Tuple[Tuple[int, ...], int]]:
  """(frame shape, action size) of the run's episodes, or None for a run
  made before spec.json existed (or one that has not started). Raises
  RunDirError naming the file if it is corrupt."""
  values = read_config(logdir, SPEC_FILE)  # The same JSON-object reader.
  if values is None:
    return None
  try:
    return tuple(int(n) for n in values['frame_shape']), int(
        values['action_size'])
  except (KeyError, TypeError, ValueError):
    raise RunDirError(f'{os.path.join(logdir, SPEC_FILE)} is corrupt: '
                      'delete it (the next run rewrites it).') from None


def _stored_kind(logdir: str) -> Optional[str]:
  """The kind spec.json names; None without one (no spec.json, or one
  written before kinds existed). Raises RunDirError for an unknown kind."""
  kind = (read_config(logdir, SPEC_FILE) or {}).get('kind')
  if kind is not None and kind not in KINDS:
    raise RunDirError(f'{os.path.join(logdir, SPEC_FILE)} names an unknown '
                      f'kind of run {kind!r} ({", ".join(KINDS)}): delete it '
                      '(the next run rewrites it).')
  return kind


def run_kind(
    run: 'str | os.PathLike | Config | Mapping[str, Any] | None') -> str:
  """The kind of run (`TRAINING` or `TRUE_SIMULATOR`) of a run directory
  (a path), a config, or a stored config.json's dict (None: not started).

  A directory's spec.json names it; a run written before kinds existed
  (or before its spec.json) is told by its stored config's planner,
  as is a config: the one place that tells them apart.
  """
  if isinstance(run, (str, os.PathLike)):
    run = os.fspath(run)
    kind = _stored_kind(run)
    if kind is not None:
      return kind
    stored = read_config(run)
    run = stored if stored is not None else read_config(run, CHECKPOINT_CONFIG)
  if run is not None and config_lib.plans_on_true_simulator(run):
    return TRUE_SIMULATOR
  return TRAINING


@dataclasses.dataclass
class MetricsFile:
  """What metrics.jsonl holds: its rows, and lines that are not rows
  (line number, text), such as a row cut off by a crash."""
  rows: List[dict]
  malformed: List[Tuple[int, str]]


def _is_row(value: object) -> bool:
  episode = value.get('episode') if isinstance(value, dict) else None
  return isinstance(episode, int) and not isinstance(episode, bool) and (
      episode >= 0)


def read_metrics(logdir: str) -> MetricsFile:
  """Every valid row of `logdir/metrics.jsonl` in file order, and the lines
  that are not rows. Never raises for bad content; no file: no rows."""
  path = os.path.join(logdir, METRICS_FILE)
  rows, malformed = [], []
  if not os.path.exists(path):
    return MetricsFile(rows, malformed)
  with open(path, 'rb') as file:
    for number, raw in enumerate(file, 1):
      text = raw.decode('utf-8', 'replace')
      if not text.strip():
        continue
      try:
        value = json.loads(text)
      except json.JSONDecodeError:
        value = None
      if _is_row(value):
        rows.append(value)
      else:
        malformed.append((number, text.rstrip('\n')))
  return MetricsFile(rows, malformed)


def last_episode(logdir: str) -> int:
  """The highest episode number with a metrics row (0 if none)."""
  return max((row['episode'] for row in read_metrics(logdir).rows), default=0)


def finished(stored: Optional[dict], rows: Sequence[dict],
             kind: Optional[str] = None) -> bool:
  """Whether a run with config `stored` (None before it started) and metrics
  `rows` collected its config's total_episodes rounds (one episode per task
  each), or, for the true simulator, which collects nothing, has its one row.
  kind: the run's (`run_kind` of its directory); None: `stored`'s."""
  if stored is None or not rows:
    return False
  if (kind or run_kind(stored)) == TRUE_SIMULATOR:
    return True
  tasks = len(config_lib.tasks(stored))
  return max(row['episode'] for row in rows) >= stored['total_episodes'] * tasks


def is_finished(logdir: str) -> bool:
  """`finished` for the run directory `logdir`, read from its files."""
  return finished(read_config(logdir), read_metrics(logdir).rows,
                  run_kind(logdir))


def set_aside_lines(logdir: str, lines: List[str], name: str) -> str:
  """Writes `lines` to `logdir/discarded/metrics/<name>-<time>.jsonl`."""
  directory = os.path.join(logdir, DISCARDED, 'metrics')
  os.makedirs(directory, exist_ok=True)
  stem = os.path.join(directory, f"{name}-{time.strftime('%Y%m%d-%H%M%S')}")
  path, suffix = stem + '.jsonl', 1
  while os.path.exists(path):
    path, suffix = f'{stem}.{suffix}.jsonl', suffix + 1
  write_atomic(path, ''.join(line + '\n' for line in lines).encode())
  return path


class MetricsLog:
  """metrics.jsonl: one JSON row per collected episode, appended and synced.

  `repair` makes the file agree with the checkpoint on resume without ever
  deleting a valid row: malformed lines and rows past the checkpoint are
  moved to `discarded/metrics/`, and missing rows are rebuilt.
  """

  def __init__(self, logdir: str):
    self.logdir = logdir
    self.path = os.path.join(logdir, METRICS_FILE)
    self.rows: List[dict] = read_metrics(logdir).rows

  def repair(self, episodes: int,
             rebuild: Callable[[int], Optional[dict]]) -> None:
    """Keeps one row for each of episodes 1..`episodes`, in order.

    Sets aside (with a warning) malformed lines, duplicate rows and rows of
    episodes past `episodes` (their episodes are redone); rows missing for
    counted episodes are made by `rebuild(episode)` (None: left missing).
    """
    found = read_metrics(self.logdir)
    kept, aside = {}, [text for _, text in found.malformed]
    if found.malformed:
      logging.warning('%s: %d malformed line(s) (e.g. line %d: %.60r).',
                      self.path, len(found.malformed), found.malformed[0][0],
                      found.malformed[0][1])
    for row in found.rows:
      if 1 <= row['episode'] <= episodes and row['episode'] not in kept:
        kept[row['episode']] = row
      else:
        aside.append(json.dumps(row))
    missing = [e for e in range(1, episodes + 1) if e not in kept]
    for episode in missing:
      row = rebuild(episode)
      if row is not None:
        kept[episode] = row
    if missing:
      logging.warning('%s lacked the rows of episodes %s; rebuilt %d from '
                      'the episode files (marked "rebuilt").', self.path,
                      missing, sum(e in kept for e in missing))
    self.rows = [kept[episode] for episode in sorted(kept)]
    if aside:
      moved = set_aside_lines(self.logdir, aside, 'metrics')
      logging.warning('Moved %d metrics line(s) that the checkpoint does not '
                      'count (malformed, duplicate or past episode %d) to %s.',
                      len(aside), episodes, moved)
    if aside or missing:
      write_atomic(self.path, ''.join(
          json.dumps(row) + '\n' for row in self.rows).encode())

  def append(self, row: dict) -> None:
    """Appends one row; on failure (a full disk) cuts the file back."""
    size = os.path.getsize(self.path) if os.path.exists(self.path) else 0
    try:
      with open(self.path, 'a') as file:
        file.write(json.dumps(row) + '\n')
        file.flush()
        os.fsync(file.fileno())
    except BaseException:
      with open(self.path, 'a') as file:
        file.truncate(size)
      raise
    self.rows.append(row)


def is_partial(name: str) -> bool:
  """Whether file `name` is what an interrupted write left: a `*.tmp` file
  or a TensorFlow checkpoint temporary (`*.tempstate*`)."""
  return name.endswith('.tmp') or '.tempstate' in name


def checkpoint_number(name: str) -> Optional[int]:
  """N for a file `ckpt-N.*` of the checkpoints directory, else None."""
  match = _CHECKPOINT_FILE.match(name)
  return int(match.group(1)) if match else None


def checkpoint_numbers(directory: str) -> List[int]:
  """The numbers of the complete checkpoints in `directory`, oldest first:
  TensorFlow writes a checkpoint's index last, so one counts once its index
  exists."""
  found = (_CHECKPOINT_INDEX.match(name) for name in os.listdir(directory))
  return sorted(int(match.group(1)) for match in found if match)


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
      if is_partial(name):
        os.remove(os.path.join(directory, name))
        removed.append(os.path.join(directory, name))
  return removed
