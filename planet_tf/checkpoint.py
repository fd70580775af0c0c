"""Checkpoints of a run: the files `checkpoints/ckpt-N.*` and what they hold.

`Checkpoints` numbers them by episode count, keeps the last few and restores
the newest one that reads back, moving unreadable ones aside.
`training_checkpoint` is the object graph the Trainer saves (networks by
their place in the model, Adam, counters); `load_world_model` reads the
networks back for tools that only use the model (`reproduce/`).
"""

from __future__ import annotations

import os
import re
from typing import Dict, List, Optional, Tuple

import tensorflow as tf
from absl import logging

from planet_tf import rundir
from planet_tf.config import Config
from planet_tf.replay import load_episode
from planet_tf.world_model import WorldModel

_CHECKPOINT = re.compile(r'^ckpt-(\d+)\.index$')
_CHECKPOINT_FILE = re.compile(r'^ckpt-(\d+)\.')


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
      rundir.remove_partial_files(self.directory)
      if isinstance(error, Exception):  # TensorFlow raises its own errors.
        raise rundir.RunDirError(
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
        self.checkpoint.read(prefix).assert_consumed()
      except AssertionError as error:
        raise rundir.RunDirError(
            f'Checkpoint {prefix} does not match this program ({error}). It '
            'was written by another version of planet_tf; use that version '
            'or start a new --logdir.') from error
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
      return number
    if problems:
      raise rundir.RunDirError(
          'No checkpoint in ' + self.directory + ' reads back:\n  ' +
          '\n  '.join(problems) + '\nMove the checkpoints directory aside '
          'to restart training from scratch.')
    return None


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
  config = Config.from_dict(stored)
  episodes = os.path.join(logdir, rundir.EPISODES_DIR)
  names = sorted(n for n in os.listdir(episodes) if n.endswith('.npz')) if (
      os.path.isdir(episodes)) else []
  if not names:
    raise rundir.RunDirError(f'{episodes} holds no episodes.')
  action_size = load_episode(os.path.join(episodes, names[0]))[
      'action'].shape[-1]
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
    first = (str(error).strip().splitlines() or [''])[0][:200]
    raise rundir.RunDirError(
        f'Checkpoint {prefix} does not hold the model that {logdir}/'
        f'config.json describes (model={config.model}; {first}): the '
        'checkpoint is of another model or planet_tf version.') from error
  return config, world_model, prefix
