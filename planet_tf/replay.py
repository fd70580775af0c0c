"""Experience replay: uint8 episodes on disk, one .npz per episode.

Index convention (every module relies on it): index t of an episode holds

  image[t]   the frame observed at step t, uint8 (H, W, 3);
  action[t]  the action that led to image[t] (zeros at t = 0);
  reward[t]  the reward received on arriving at image[t] (zero at t = 0).

An episode of T agent steps therefore has T + 1 entries. The model computes
h_t = f(h_{t-1}, s_{t-1}, action[t]) and its reward head predicts reward[t]
from (h_t, s_t); the planner sums the predicted rewards of s_{t+1..t+H}.

Each episode is written to a temporary file, flushed to disk and renamed, so
a crash never leaves a truncated episode under its final name, and a failed
write (a full disk) leaves no temporary file behind. Frames stay
uint8 in memory as on disk (float32 would be 4x larger).
"""

from __future__ import annotations

import os
import re
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np
from absl import logging

from planet_tf import rundir

Episode = Dict[str, np.ndarray]
# (frame shape, action size) of a run's episodes.
Spec = Tuple[Tuple[int, ...], int]
_NAME = re.compile(r'^(\d{6})-(\d+)\.npz$')
KEYS = ('image', 'action', 'reward')


def episode_filename(index: int, length: int) -> str:
  """`NNNNNN-T.npz`: the episode's index and its number of steps."""
  return f'{index:06d}-{length}.npz'


def check_episode(episode: Episode) -> None:
  """Raises ValueError if `episode` breaks the index convention."""
  missing = [key for key in KEYS if key not in episode]
  if missing:
    raise ValueError(f'Episode lacks {missing}.')
  image, action, reward = (episode[k] for k in KEYS)
  length = len(image)
  if image.dtype != np.uint8 or image.ndim != 4 or image.shape[-1] != 3:
    raise ValueError(f'Episode images must be uint8 (T, H, W, 3), got '
                     f'{image.dtype} {image.shape}.')
  if action.ndim != 2 or len(action) != length or reward.shape != (length,):
    raise ValueError(f'Episode arrays disagree in length: image {image.shape}, '
                     f'action {action.shape}, reward {reward.shape}.')
  if length < 2:
    raise ValueError('An episode needs at least two frames.')
  if np.any(action[0] != 0) or reward[0] != 0:
    raise ValueError('action[0] and reward[0] must be zero (index convention).')


def save_episode(directory: str, index: int, episode: Episode) -> str:
  """Writes `episode` atomically as `directory/<index>-<length>.npz`."""
  check_episode(episode)
  os.makedirs(directory, exist_ok=True)
  length = len(episode['image']) - 1
  path = os.path.join(directory, episode_filename(index, length))
  rundir.write_file_atomic(
      path, lambda file: np.savez_compressed(
          file, **{key: episode[key] for key in KEYS}))
  return path


def load_episode(path: str) -> Episode:
  """Reads one episode file; raises ValueError naming a corrupt file."""
  try:
    with np.load(path) as data:
      episode = {key: data[key] for key in KEYS}
    check_episode(episode)
  except Exception as error:
    raise ValueError(f'Corrupt episode file {path}: {error}') from error
  return episode


def _check_spec(episode: Episode, spec: Optional[Spec], path: str) -> None:
  """Raises ValueError naming `path` if `episode` does not match `spec`."""
  if spec is None:
    return
  frame, action_size = tuple(spec[0]), int(spec[1])
  got = (tuple(episode['image'].shape[1:]), episode['action'].shape[1])
  if got != (frame, action_size):
    raise ValueError(
        f'Episode file {path} does not match this run: frames {got[0]} and '
        f'action size {got[1]}, expected {frame} and {action_size}')


def _episode_files(directory: str, remove_partial: bool
                   ) -> List[Tuple[int, str]]:
  """(index, path) of the episode files of `directory`, sorted; leftover
  temporary files of interrupted writes are deleted if `remove_partial`."""
  files = []
  os.makedirs(directory, exist_ok=True)
  for name in sorted(os.listdir(directory)):
    path = os.path.join(directory, name)
    if name.endswith('.tmp'):
      if remove_partial:
        os.remove(path)  # An interrupted write.
      continue
    match = _NAME.match(name)
    if match:
      files.append((int(match.group(1)), path))
  return files


def recover_episodes(directory: str, logdir: str, limit: Optional[int],
                     spec: Optional[Spec] = None) -> Dict[int, Episode]:
  """Crash recovery of a run's episodes, before its `Replay` is built.

  Deletes temporary files of interrupted writes and moves to
  `logdir/discarded/episodes/`, with a warning naming each: files with an
  index of `limit` or more (not counted by the checkpoint) or repeating an
  index, corrupt files, and files whose arrays do not match `spec` (frame
  shape, action size: another run's episode cannot train this model).
  Returns the remaining episodes by index, gaps allowed.
  """
  episodes: Dict[int, Episode] = {}
  for index, path in _episode_files(directory, remove_partial=True):
    if index in episodes or (limit is not None and index >= limit):
      moved = rundir.move_aside(path, logdir, 'episodes')
      logging.warning('Episode file %s is not counted by the checkpoint '
                      '(or repeats an index); moved it to %s.', path, moved)
      continue
    try:
      episode = load_episode(path)
      _check_spec(episode, spec, path)
    except ValueError as error:
      moved = rundir.move_aside(path, logdir, 'episodes')
      logging.warning('%s; moved it to %s and continuing without it.',
                      error, moved)
      continue
    episodes[index] = episode
  return episodes


class Replay:
  """All episodes of one run directory, in memory, with chunk sampling."""

  def __init__(self, directory: str,
               episodes: Optional[Mapping[int, Episode]] = None,
               read_only: bool = False):
    """The episodes of `directory`.

    `episodes` (index -> episode, from `recover_episodes`): those, as a
    run's trainer holds them. Without it the files of `directory` are read
    as they are: a corrupt or out-of-sequence file raises ValueError.
    `read_only` leaves temporary files alone: for readers beside a running
    process (figures), which must not delete an episode being written.
    """
    self.directory = directory
    if episodes is None:
      episodes = self._read_strictly(directory, remove_partial=not read_only)
    os.makedirs(directory, exist_ok=True)
    self.indices: List[int] = sorted(episodes)  # File index of each episode.
    self.episodes: List[Episode] = [episodes[i] for i in self.indices]
    self.next_index = self.indices[-1] + 1 if self.indices else 0

  @staticmethod
  def _read_strictly(directory: str, remove_partial: bool
                     ) -> Dict[int, Episode]:
    episodes = {}
    for index, path in _episode_files(directory, remove_partial):
      if index != len(episodes):
        raise ValueError(f'Episode file {os.path.basename(path)} in '
                         f'{directory} is out of sequence: expected index '
                         f'{len(episodes)}.')
      episodes[index] = load_episode(path)
    return episodes

  def __len__(self) -> int:
    return len(self.episodes)

  @property
  def num_steps(self) -> int:
    """Agent steps stored (frames minus the first of each episode)."""
    return sum(len(episode['image']) - 1 for episode in self.episodes)

  def add(self, episode: Episode, index: Optional[int] = None) -> str:
    """Saves `episode` as number `index` (default: after the last one)."""
    index = self.next_index if index is None else index
    path = save_episode(self.directory, index, episode)
    self.episodes.append(episode)
    self.indices.append(index)
    self.next_index = index + 1
    return path

  def get(self, index: int) -> Optional[Episode]:
    """The episode stored as number `index`, or None if it is not loaded."""
    try:
      return self.episodes[self.indices.index(index)]
    except ValueError:
      return None

  def sample(self, batch_size: int, length: int,
             rng: np.random.Generator) -> Episode:
    """B chunks of L consecutive steps, uniformly at random.

    An episode is drawn uniformly, then a start uniformly among its valid
    offsets: uniform over all chunks since the episodes have equal length.
    """
    if not self.episodes:
      raise ValueError('Cannot sample from an empty replay.')
    chunks = {key: [] for key in KEYS}
    for index in rng.integers(0, len(self.episodes), batch_size):
      episode = self.episodes[index]
      available = len(episode['image']) - length
      if available < 0:
        raise ValueError(f'Chunk length {length} exceeds the episode length '
                         f"{len(episode['image'])}.")
      start = int(rng.integers(0, available + 1))
      for key in KEYS:
        chunks[key].append(episode[key][start:start + length])
    return {key: np.stack(value) for key, value in chunks.items()}
