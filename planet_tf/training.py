"""Algorithm 1: seed episodes, then repeat C updates and one collected episode.

One episode is one unit: its file, then its metrics row, then checkpoint N
(N = episodes collected) are written in that order, and the checkpoint is the
commit point. Running the same command again resumes from the newest
checkpoint that reads back: episode files and metrics rows it does not count
are set aside (`rundir`), so files, rows and counters always agree.

`Trainer` is the loop over parts made elsewhere (`components.build_trainer`,
the composition root, makes the default ones; `resume` restores them from
the run directory). What only observes the loop (TensorBoard, open-loop
pictures, test videos, the console) is a `Hook` (`hooks`), called at each
test point and after each episode's metrics row, before its checkpoint: a
crash in between redoes the episode and its hooks.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
from absl import logging

from planet_tf import config as config_lib
from planet_tf import driver, envs, progress, rundir
from planet_tf.checkpoint import Checkpoints
from planet_tf.config import Config
from planet_tf.driver import Phase
from planet_tf.progress import Progress
from planet_tf.replay import Episode, Replay

# (images, actions, rewards) -> metrics of one update, with 'finite'.
TrainStep = Callable[..., Dict[str, tf.Tensor]]


class NonFiniteError(RuntimeError):
  """Too many updates had a non-finite loss or gradient norm."""


def total_episodes(config: Config) -> int:
  """Episodes of all tasks together: `total_episodes` rounds."""
  return config.total_episodes * len(config.tasks)


@dataclasses.dataclass(frozen=True, eq=False)
class Counters:
  """The run's counters; checkpoints hold them under these names."""
  episodes: tf.Variable
  env_steps: tf.Variable
  skipped_updates: tf.Variable

  @classmethod
  def zeros(cls) -> 'Counters':
    """Three int64 counters at 0 (a new run, before `resume`)."""
    counter = lambda: tf.Variable(0, dtype=tf.int64, trainable=False)
    return cls(counter(), counter(), counter())

  def as_dict(self) -> Dict[str, tf.Variable]:
    """name -> variable, as `checkpoint.training_checkpoint` takes them."""
    return {field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)}


@dataclasses.dataclass(frozen=True)
class TestPoint:
  """A test point's episodes, seen by hooks before the metrics row."""
  rounds: int  # Rounds collected (the file number of its pictures).
  env_steps: int  # The TensorBoard step of the row to come.
  episodes: Dict[str, List[Episode]]  # task -> its test episodes.


@dataclasses.dataclass(frozen=True)
class EpisodeEnd:
  """One collected episode, seen by hooks after its metrics row."""
  row: Dict[str, Any]  # As written to metrics.jsonl; hooks only read it.
  episode: Episode


class Hook:
  """Observes the loop; it must not change what the loop computes.
  Subclasses override what they need (the defaults do nothing)."""

  def on_test(self, point: TestPoint) -> None:
    """After the test episodes of a test point (timed with them)."""

  def on_episode(self, end: EpisodeEnd) -> None:
    """After an episode's metrics row, before its checkpoint."""


def resume(config: Config, logdir: str, checkpoints: Checkpoints,
           counters: Counters, optimizer,
           make_replay: Callable[[int], Replay],
           metrics: rundir.MetricsLog) -> Replay:
  """Restores the newest checkpoint that reads back, then the replay of the
  episodes it counts (`make_replay(episodes)`) and the metrics rows.

  Raises rundir.RunDirError for more episodes than `total_episodes` or a
  checkpoint whose episode files are all gone.
  """
  number = checkpoints.restore_latest()
  episodes = int(counters.episodes)
  if episodes > total_episodes(config):
    several = len(config.tasks) > 1
    raise rundir.RunDirError(
        f'{logdir} holds {episodes} collected episodes, more than '
        f'--total_episodes={config.total_episodes}'
        + (f' x {len(config.tasks)} tasks' if several else '')
        + ': pass at least that many to resume or extend it.')
  if number is not None:
    logging.info('Restored checkpoint %d (episode %d, update %d).', number,
                 episodes, int(optimizer.iterations))
  replay = make_replay(episodes)
  if episodes and not len(replay):
    raise rundir.RunDirError(
        f'The checkpoint counts {episodes} episodes but '
        f'{replay.directory} holds none. Restore them or start a new '
        '--logdir.')
  if len(replay) < episodes:
    logging.warning('%d of the %d episodes counted are missing or corrupt; '
                    'training continues with the rest.',
                    episodes - len(replay), episodes)
  if len(replay):
    logging.info('Loaded %d episodes (%d steps) from %s.', len(replay),
                 replay.num_steps, replay.directory)
  metrics.repair(episodes, lambda episode: _rebuilt_row(
      replay, config.tasks, episode))
  return replay


def _rebuilt_row(replay: Replay, tasks: Sequence[str],
                 episode: int) -> Optional[dict]:
  """A metrics row for a counted episode whose row was lost, from its
  episode file (returns only: losses and test results are not stored)."""
  stored = replay.get(episode - 1)
  if stored is None:
    return None
  return {'episode': episode, 'task': tasks[(episode - 1) % len(tasks)],
          'train_return': float(stored['reward'].sum()), 'rebuilt': True}


@dataclasses.dataclass(eq=False, repr=False)
class Trainer:
  """Runs Algorithm 1 over its parts; `run()` goes on where the run stopped.

  With several tasks (paper Fig. 7) a round is C updates, then one episode of
  each task; seed episodes, `total_episodes` and the test schedule count
  rounds. With one task a round is one episode, as in Algorithm 1. Make one
  with `components.build_trainer`, which restores the parts from the run
  directory; `closer` stops the environments and releases the directory.
  """
  config: Config
  logdir: str
  environments: driver.Environments
  world_model: Any  # Read by hooks (open loop); the loop uses train_step.
  optimizer: Any  # Its `iterations` count the updates.
  train_step: TrainStep
  agent: Any  # reset(batch_size), act(images, explore) -> actions.
  replay: Replay
  checkpoints: Checkpoints
  metrics: rundir.MetricsLog
  counters: Counters
  hooks: List[Hook] = dataclasses.field(default_factory=list)
  progress: Progress = dataclasses.field(default_factory=Progress)
  closer: Callable[[], None] = lambda: None

  @property
  def tasks(self) -> Tuple[str, ...]:
    """The run's tasks, in the order of each round."""
    return self.config.tasks

  @property
  def action_size(self) -> int:
    """The largest action size of the tasks (every action has it)."""
    return self.environments.action_size

  @property
  def episodes_done(self) -> tf.Variable:
    """Episodes collected and committed (the newest checkpoint's number)."""
    return self.counters.episodes

  @property
  def total_episodes(self) -> int:
    """Episodes of all tasks together: `total_episodes` rounds."""
    return total_episodes(self.config)

  def close(self) -> None:
    """Stops the environment processes and releases the run directory."""
    self.closer()
    self.closer = lambda: None

  def run(self) -> None:
    """Collects episodes until `total_episodes` rounds, training before each."""
    try:
      while int(self.episodes_done) < self.total_episodes:
        self._iteration()
    finally:
      self.close()
    logging.info('Done: %d episodes in %s.', int(self.episodes_done),
                 self.logdir)

  def _iteration(self) -> None:
    config, counters = self.config, self.counters
    index = int(counters.episodes)
    round_, task_index = divmod(index, len(self.tasks))
    task = self.tasks[task_index]
    row = {'episode': index + 1, 'task': task}
    start = time.time()
    if round_ >= config.seed_episodes and task_index == 0:
      row.update(self._train(index))
    row['train_seconds'] = time.time() - start
    start = time.time()
    with self.progress.phase(f'collect {task}',
                             progress.agent_steps(config, task)) as tick:
      episode = driver.run_episode(
          self.environments.collect[task], None,
          driver.episode_seed(config, Phase.COLLECT, index), tick,
          make_act=lambda: self._collect_policy(index))  # Fresh per redo.
    row['collect_seconds'] = time.time() - start
    self.replay.add(episode, index)
    row['train_return'] = float(episode['reward'].sum())
    counters.env_steps.assign_add(
        (len(episode['image']) - 1) * config_lib.action_repeat(config, task))
    row['env_steps'] = int(counters.env_steps)
    row['updates'] = int(self.optimizer.iterations)
    row['skipped_updates'] = int(counters.skipped_updates)
    last_of_round = task_index == len(self.tasks) - 1
    if (config.test_episodes and last_of_round and
        (round_ + 1) % config.test_every == 0):
      start = time.time()
      row.update(self._test(round_ + 1, row['env_steps']))
      row['test_seconds'] = time.time() - start
    self.metrics.append(row)
    for hook in self.hooks:
      hook.on_episode(EpisodeEnd(row, episode))
    counters.episodes.assign(index + 1)
    self.checkpoints.save(index + 1)  # The commit point of this episode.

  def _collect_policy(self, index: int) -> Callable[[np.ndarray], np.ndarray]:
    """Random actions for seed episodes (and `collect_policy=random`),
    else the planner with exploration noise."""
    config = self.config
    if (index // len(self.tasks) < config.seed_episodes or
        config.collect_policy == 'random'):
      rng = np.random.default_rng(
          driver.episode_seed(config, Phase.COLLECT, index))
      return lambda _: envs.random_action(self.action_size, rng)
    self.agent.reset(1)
    return lambda image: self.agent.act(image[None], explore=True)[0]

  def _test_policy(self,
                   batch_size: int) -> Callable[[np.ndarray], np.ndarray]:
    """The planner without noise for `batch_size` test episodes, its
    beliefs reset (a fresh one per redo)."""
    self.agent.reset(batch_size)
    return lambda images: self.agent.act(images, explore=False)

  def _train(self, index: int) -> Dict[str, float]:
    config = self.config
    rng = np.random.default_rng(driver.episode_seed(config, Phase.UPDATES, index))
    history = []
    with self.progress.phase('updates', config.collect_interval) as tick:
      for _ in range(config.collect_interval):
        batch = self.replay.sample(config.batch_size, config.chunk_length, rng)
        metrics = self.train_step(batch['image'], batch['action'],
                                  batch['reward'])
        if bool(metrics.pop('finite')):
          history.append(metrics)
        else:
          self._skip_update(float(metrics['loss']), float(metrics['grad_norm']))
        tick()
    return _mean_metrics(history) if history else {}

  def _skip_update(self, loss: float, grad_norm: float) -> None:
    """Counts a skipped update; raises NonFiniteError past the limit."""
    skipped = self.counters.skipped_updates
    skipped.assign_add(1)
    limit = self.config.max_nonfinite_updates
    logging.warning('Skipped update %d: loss %s, gradient norm %s (%d skipped '
                    'so far, limit %d).', int(self.optimizer.iterations) + 1,
                    loss, grad_norm, int(skipped), limit)
    if int(skipped) > limit:
      numbers = self.checkpoints.numbers()
      raise NonFiniteError(
          f'{int(skipped)} updates had a non-finite loss or gradient norm, '
          f'more than --max_nonfinite_updates={limit}; stopping. The last '
          f'good checkpoint (episode {numbers[-1] if numbers else 0}) in '
          f'{self.logdir} is intact. Lower --learning_rate or '
          '--grad_clip_norm in a new --logdir, or raise the limit.')

  def _test(self, rounds: int, env_steps: int) -> Dict[str, object]:
    """Noise-free test episodes of every task, the N of a task run as one
    batch; keys carry the task name when there are several tasks."""
    config = self.config
    results, tested = {}, {}
    for task_index, task in enumerate(self.tasks):
      seeds = driver.test_seeds(config, rounds, task_index)
      with self.progress.phase(f'test {task} x{len(seeds)}',
                               progress.agent_steps(config, task)) as tick:
        # A dead or frozen environment: all N redone from their seeds.
        episodes = driver.run_episodes_retrying(
            self.environments.test(task),
            lambda: self._test_policy(len(seeds)), seeds, tick)
      tested[task] = episodes
      returns = [float(episode['reward'].sum()) for episode in episodes]
      suffix = f'/{task}' if len(self.tasks) > 1 else ''
      results[f'test_return{suffix}'] = float(np.mean(returns))
      results[f'test_returns{suffix}'] = returns
    for hook in self.hooks:
      hook.on_test(TestPoint(rounds, env_steps, tested))
    return results


def _mean_metrics(history: List[Dict[str, tf.Tensor]]) -> Dict[str, float]:
  return {key: float(np.mean([float(m[key]) for m in history]))
          for key in history[0]}
