"""Checkpoints of a run: the files `checkpoints/ckpt-N.*` and what they hold.

`Checkpoints` numbers them by episode count, keeps the last few and restores
the newest one that reads back, moving unreadable ones aside.
`training_checkpoint` is the object graph the Trainer saves (networks by
their place in the model, Adam, counters); `load_world_model` reads the
networks back for tools that only use the model (`reproduce/`).
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple

import tensorflow as tf
from absl import logging

from planet_tf import config as config_lib
from planet_tf import rundir
from planet_tf.config import Config
from planet_tf.replay import load_episode
from planet_tf.world_model import WorldModel


def training_checkpoint(world_model: WorldModel, optimizer,
                        counters: Dict[str, tf.Variable]) -> tf.train.Checkpoint:
  """The checkpoint of a training run: every weight keyed by its place in
  the model, the optimiser, and the named counters."""
  return tf.train.Checkpoint(weights=world_model.named_weights(),
                             optimizer=optimizer, **counters)


class Checkpoints:
  """`tf.train.Checkpoint` files `ckpt-N.*` numbered by episode count.

  TensorFlow writes the data file, then the index file, each under a
  temporary name renamed when complete; a checkpoint counts once its index
  exists. No state file is involved: the directory listing is the truth.
  """

  def __init__(self, checkpoint, directory: str, logdir: str, keep: int = 3):
    self.checkpoint = checkpoint
    self.directory = directory
    self.logdir = logdir
    self.keep = keep
    os.makedirs(directory, exist_ok=True)

  def numbers(self) -> List[int]:
    """The numbers of the complete checkpoints, oldest first."""
    return rundir.checkpoint_numbers(self.directory)

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
      rundir.remove_partial_files(self.directory)
      if isinstance(error, Exception):  # TensorFlow raises its own errors.
        raise rundir.RunDirError(
            f'Could not write checkpoint {prefix}: {error}. Nothing partial '
            'was left: fix the cause and rerun the same command to resume '
            'from the last checkpoint.') from error
      raise
    kept = set(self.numbers()[-self.keep:])
    for name in os.listdir(self.directory):  # Also orphans of a kill.
      number = rundir.checkpoint_number(name)
      if number is not None and number not in kept:
        os.remove(os.path.join(self.directory, name))
    return prefix

  def restore_latest(self) -> Optional[int]:
    """Restores the newest checkpoint that reads back; returns its number.

    A checkpoint whose bytes do not read back (corrupt, truncated) is moved
    to `discarded/checkpoints/` with a warning naming it, and the one before
    is tried. One that reads back but does not match the model (another
    config or version) is refused and left in place, whatever the error.
    Returns None if there is none; then episodes past the first (which a
    kill before checkpoint 1 may leave) mean the checkpoints were lost, and
    the run is refused rather than set aside. Raises RunDirError.
    """
    numbers = self.numbers()
    if not numbers:
      self._refuse_lost_checkpoints()
    problems = []
    for number in reversed(numbers):
      prefix = os.path.join(self.directory, f'ckpt-{number}')
      try:
        _read_every_tensor(prefix)
      except Exception as error:  # pylint: disable=broad-except
        problems.append(f'{prefix}: {type(error).__name__}: {error}')
        if number == numbers[0]:
          break  # Keep the oldest for inspection; we refuse below.
        logging.warning('Corrupt checkpoint %s (%s: %s); moving it to %s and '
                        'falling back to the previous one.', prefix,
                        type(error).__name__, error, rundir.DISCARDED)
        for path in self._files(number):
          rundir.move_aside(path, self.logdir, 'checkpoints')
        continue
      try:  # The bytes are sound: any failure now is a mismatch.
        self.checkpoint.read(prefix).assert_consumed()
      except Exception as error:  # pylint: disable=broad-except
        raise rundir.RunDirError(
            f'Checkpoint {prefix} reads back but does not match this model '
            f'({type(error).__name__}: {_first_line(error)}). It was left in '
            'place: rerun with the flags the run was started with (see '
            f'{rundir.CHECKPOINTS_DIR}/{rundir.CONFIG_FILE} or the run\'s '
            'log), use the planet_tf version that wrote it, or pick a new '
            '--logdir.') from None
      return number
    if problems:
      raise rundir.RunDirError(
          'No checkpoint in ' + self.directory + ' reads back:\n  ' +
          '\n  '.join(problems) + '\nMove the checkpoints directory aside '
          'to restart training from scratch.')
    return None

  def _refuse_lost_checkpoints(self) -> None:
    """Raises RunDirError if the run holds episodes that only a lost
    checkpoint can account for (more than the first one)."""
    episodes = os.path.join(self.logdir, rundir.EPISODES_DIR)
    names = [name for name in os.listdir(episodes) if name.endswith('.npz')
             ] if os.path.isdir(episodes) else []
    later = [name for name in names if not name.startswith('000000-')]
    rows = rundir.last_episode(self.logdir)
    if later or rows > 1:
      raise rundir.RunDirError(
          f'{self.logdir} holds {len(names)} episode file(s) and metrics up '
          f'to episode {rows} but no checkpoint in {self.directory}: nothing '
          'was moved. Restore the checkpoints to resume, or start a new '
          '--logdir to train from scratch.')


def _first_line(error: Exception, limit: int = 300) -> str:
  """The first line of an error's message, cut at `limit` characters."""
  text = str(error).strip().splitlines()
  return text[0][:limit] if text else ''


def _read_every_tensor(prefix: str) -> None:
  """Reads every tensor of checkpoint `prefix`; raises if any bytes are bad.

  Reading through a `CheckpointReader` checks the files alone, not whether
  they match the model, which is what tells a corrupt checkpoint (set
  aside) from a mismatched one (refused, kept).
  """
  reader = tf.train.load_checkpoint(prefix)
  for key in reader.get_variable_to_shape_map():
    reader.get_tensor(key)


def _action_size(logdir: str) -> int:
  """The run's action size: from spec.json, or for a run made before it
  existed, from its first episode file."""
  spec = rundir.read_spec(logdir)
  if spec is not None:
    return spec[1]
  episodes = os.path.join(logdir, rundir.EPISODES_DIR)
  names = sorted(n for n in os.listdir(episodes) if n.endswith('.npz')) if (
      os.path.isdir(episodes)) else []
  if not names:
    raise rundir.RunDirError(f'{episodes} holds no episodes.')
  return load_episode(os.path.join(episodes, names[0]))['action'].shape[-1]


def load_world_model(logdir: str, number: Optional[int] = None
                     ) -> Tuple[Config, WorldModel, str]:
  """The config and world model of a run, restored from its newest
  checkpoint (or checkpoint `number`), read-only (no lock, nothing
  written). Returns (config, world_model, checkpoint prefix). Raises
  RunDirError naming what is missing or does not match.
  """
  stored = rundir.read_config(logdir)
  directory = os.path.join(logdir, rundir.CHECKPOINTS_DIR)
  numbers = (Checkpoints(None, directory, logdir).numbers()
             if os.path.isdir(directory) else [])
  if stored is None or not numbers:
    raise rundir.RunDirError(
        f'{logdir} holds no trained run (config.json and a checkpoint): '
        'train it first, e.g. python -m planet_tf.train --logdir=...')
  # Resolved for this device: a run older than the device knobs stored none.
  config = config_lib.for_device(Config.from_dict(stored))
  action_size = _action_size(logdir)
  world_model = WorldModel(config, action_size)
  if number is not None and number not in numbers:
    raise rundir.RunDirError(
        f'{directory} holds no checkpoint {number}; it holds '
        f"{', '.join(map(str, numbers))}.")
  number = numbers[-1] if number is None else number
  prefix = os.path.join(directory, f'ckpt-{number}')
  weights = world_model.named_weights()
  try:
    # Shapes first: a failed restore leaves TensorFlow warning at exit.
    stored_shapes = dict(tf.train.list_variables(prefix))
    for name, weight in weights.items():
      shape = stored_shapes.get(f'weights/{name}/.ATTRIBUTES/VARIABLE_VALUE')
      if shape != list(weight.shape):
        raise ValueError(f'{name}: {shape} stored, {list(weight.shape)} '
                         'expected')
    tf.train.Checkpoint(weights=weights).read(
        prefix).expect_partial().assert_existing_objects_matched()
  except (AssertionError, ValueError, tf.errors.OpError) as error:
    first = _first_line(error, 200)
    raise rundir.RunDirError(
        f'Checkpoint {prefix} does not hold the model that {logdir}/'
        f'config.json describes (model={config.model}; {first}): the '
        'checkpoint is of another model or planet_tf version.') from error
  return config, world_model, prefix
