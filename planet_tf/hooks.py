"""What observes a training run (`training.Hook`), one class each: each is
made from the few parts it reads and can be tested alone.

- `TensorBoardScalars`: every number of a metrics row, at its env step.
- `OpenLoopPictures`: openloop/episode_N.png at a test point (and in
  TensorBoard), the model's open-loop prediction of replayed chunks.
- `TestVideos`: videos/episode_N.mp4 of a test episode (and a strip of it
  in TensorBoard), with `--test_video`.
- `ConsoleLines`: one log line per episode, with the ETA.

`default_hooks` makes them for a `training.Trainer` (`components`).
"""

from __future__ import annotations

import os
from typing import List, Optional

import numpy as np
import tensorflow as tf
from absl import logging

from planet_tf import driver, pictures, progress, rundir, training, video
from planet_tf.config import Config
from planet_tf.driver import Phase
from planet_tf.replay import Replay
from planet_tf.training import EpisodeEnd, Hook, TestPoint

SummaryWriter = tf.summary.SummaryWriter


class TensorBoardScalars(Hook):
  """Every number of a metrics row but the episode's, at its env step."""

  def __init__(self, writer: SummaryWriter):
    self._writer = writer

  def on_episode(self, end: EpisodeEnd) -> None:
    step = end.row['env_steps']
    with self._writer.as_default():
      for key, value in end.row.items():
        if isinstance(value, (int, float)) and key != 'episode':
          tf.summary.scalar(key, value, step=step)
    self._writer.flush()


class OpenLoopPictures(Hook):
  """At a test point: openloop/episode_N.png (N rounds) of the model's
  open-loop prediction of up to 4 replayed chunks, and its image in
  TensorBoard when `writer` is given."""

  def __init__(self, config: Config, logdir: str, world_model, replay: Replay,
               writer: Optional[SummaryWriter] = None):
    self._config, self._logdir = config, logdir
    self._replay, self._writer = replay, writer
    self._openloop = tf.function(world_model.openloop)

  def on_test(self, point: TestPoint) -> None:
    config, rounds = self._config, point.rounds
    rng = np.random.default_rng(
        driver.episode_seed(config, Phase.OPENLOOP, rounds))
    batch = self._replay.sample(min(4, config.batch_size),
                                config.chunk_length, rng)
    truth, model = self._openloop(batch['image'], batch['action'],
                                  config.openloop_context)
    grid = pictures.openloop_image(
        truth.numpy(), model.numpy(), config.openloop_context,
        title=f'{os.path.basename(self._logdir)}: open-loop prediction after '
              f'episode {rounds}')
    directory = os.path.join(self._logdir, rundir.OPENLOOP_DIR)
    os.makedirs(directory, exist_ok=True)
    rundir.write_atomic(os.path.join(directory, f'episode_{rounds:06d}.png'),
                        tf.io.encode_png(grid).numpy())
    if self._writer is not None:
      with self._writer.as_default():
        tf.summary.image('openloop', grid[None], step=point.env_steps)
      self._writer.flush()


class TestVideos(Hook):
  """At a test point: videos/episode_N.mp4 (GIF without ffmpeg) of the
  first task's first test episode, and a strip of its frames in TensorBoard
  when `writer` is given."""

  def __init__(self, logdir: str, writer: Optional[SummaryWriter] = None):
    self._logdir, self._writer = logdir, writer

  def on_test(self, point: TestPoint) -> None:
    episode = next(iter(point.episodes.values()))[0]
    directory = os.path.join(self._logdir, rundir.VIDEOS_DIR)
    os.makedirs(directory, exist_ok=True)
    video.write(os.path.join(directory, f'episode_{point.rounds:06d}.mp4'),
                video.episode_panel(episode['image'], episode['reward']))
    if self._writer is not None:
      with self._writer.as_default():
        tf.summary.image('test_video', video.strip(episode['image'])[None],
                         step=point.env_steps)
      self._writer.flush()


class ConsoleLines(Hook):
  """One log line per episode (`progress.episode_line`) with the ETA from
  the rows so far (`metrics`, which holds the episode's row already)."""

  def __init__(self, config: Config, metrics: rundir.MetricsLog):
    self._config, self._metrics = config, metrics
    self._tasks = len(config.tasks)

  def on_episode(self, end: EpisodeEnd) -> None:
    logging.info('%s', progress.episode_line(
        end.row, training.total_episodes(self._config),
        several_tasks=self._tasks > 1, eta=self.eta(end.row['episode'])))

  def eta(self, episodes: int) -> Optional[float]:
    """Seconds until `total_episodes`, once a planned episode was timed
    (`progress.run_eta`, the sweep's estimate too)."""
    del episodes  # The rows hold the episode just collected.
    return progress.run_eta(self._config, self._metrics.rows)


def default_hooks(trainer: training.Trainer) -> List[Hook]:
  """The hooks of every run: TensorBoard in `logdir/tb`, open-loop
  pictures, test videos (with `--test_video`) and console lines."""
  config, logdir = trainer.config, trainer.logdir
  writer = tf.summary.create_file_writer(
      os.path.join(logdir, rundir.TENSORBOARD_DIR))
  made: List[Hook] = [TensorBoardScalars(writer)]
  if config.test_episodes:
    made.append(OpenLoopPictures(config, logdir, trainer.world_model,
                                 trainer.replay, writer))
    if config.test_video:
      made.append(TestVideos(logdir, writer))
  made.append(ConsoleLines(config, trainer.metrics))
  return made
