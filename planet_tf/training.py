"""Algorithm 1: seed episodes, then repeat C updates and one collected episode.

One episode is one unit: its file, then its metrics row, then checkpoint N
(N = episodes collected) are written in that order, and the checkpoint is the
commit point. Running the same command again resumes from the newest
checkpoint that reads back: episode files and metrics rows it does not count
are set aside (`rundir`), so files, rows and counters always agree.
"""

from __future__ import annotations

import os
import time
from typing import Callable, Dict, List, Optional

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from planet_tf import config as config_lib
from planet_tf import driver, envs, pictures, progress, rundir, video
from planet_tf.agent import Agent
from planet_tf.checkpoint import Checkpoints, training_checkpoint
from planet_tf.config import Config
from planet_tf.driver import Phase
from planet_tf.learner import make_optimizer, make_train_step
from planet_tf.replay import Replay, recover_episodes
from planet_tf.world_model import WorldModel

# (config, task) -> an environment of that task (`envs.ProcessEnv` interface).
EnvFactory = Callable[[Config, str], object]


class NonFiniteError(RuntimeError):
  """Too many updates had a non-finite loss or gradient norm."""


class Trainer:
  """Runs Algorithm 1 in one run directory; `run()` resumes where it stopped.

  With several tasks (paper Fig. 7) a round is C updates, then one episode of
  each task; seed episodes, `total_episodes` and the test schedule count
  rounds. With one task a round is one episode, as in Algorithm 1.
  `make_env` creates the environments (default: DM Control in child
  processes); tests pass small fakes.
  """

  def __init__(self, config: Config, logdir: str,
               make_env: EnvFactory = driver.make_env):
    """Validates, locks `logdir` and restores its latest good checkpoint.

    Raises ValueError for a bad config, rundir.RunDirError if `logdir` is
    unwritable, locked by another process, holds another config, more
    episodes than `total_episodes` or unreadable checkpoints.
    """
    config_lib.validate(config)
    rundir.check_writable(logdir)
    self.config = config_lib.for_device(config)  # 'auto' knobs resolved.
    self.logdir = logdir
    self.tasks = config_lib.tasks(config)
    self._make_env = make_env
    self.progress = progress.Progress()
    self.envs: Dict[str, object] = {}
    self._test_envs: Dict[str, List[object]] = {}
    self._lock = rundir.lock(logdir)
    try:
      self._setup()
    except BaseException:
      self.close()
      raise

  def _setup(self) -> None:
    config, logdir = self.config, self.logdir
    # Sizes may differ until the first update (checked again on restore).
    rundir.check_config(logdir, config, allow=rundir.UNTRAINED_CHANGES)
    for path in rundir.remove_partial_files(logdir):
      logging.info('Removed %s, left by an interrupted write.', path)
    # Seeds TensorFlow, NumPy and Python's `random`, which Keras 3 draws
    # unseeded initialisers from (`tf.random.set_seed` alone is not enough).
    keras.utils.set_random_seed(config.seed)
    made = {task: self._make_env(config, task) for task in self.tasks}
    self.action_size = max(env.action_size for env in made.values())
    self.envs = {task: envs.PaddedActions(env, self.action_size)
                 for task, env in made.items()}
    self.world_model = WorldModel(config, self.action_size)
    self.optimizer = make_optimizer(config)
    self.train_step = make_train_step(self.world_model, self.optimizer, config)
    self.openloop = tf.function(self.world_model.openloop)
    self.agent = Agent(self.world_model, config)
    counter = lambda: tf.Variable(0, dtype=tf.int64, trainable=False)
    self.episodes_done, self.env_steps = counter(), counter()
    self.skipped_updates = counter()
    self.checkpoints = Checkpoints(
        training_checkpoint(self.world_model, self.optimizer, dict(
            episodes=self.episodes_done, env_steps=self.env_steps,
            skipped_updates=self.skipped_updates)),
        os.path.join(logdir, rundir.CHECKPOINTS_DIR), logdir, keep=3)
    self.metrics = rundir.MetricsLog(logdir)
    self._restore()
    if int(self.optimizer.iterations):  # Trained: no size may change now.
      rundir.check_config(logdir, config)
    # Only a config that started (environments made, checkpoint restored,
    # episode count within the budget) is stored.
    rundir.store_config(logdir, config)
    rundir.store_spec(logdir, (config.image_size, config.image_size, 3),
                      self.action_size)
    self.writer = tf.summary.create_file_writer(
        os.path.join(logdir, rundir.TENSORBOARD_DIR))
    self._pending_image: Optional[np.ndarray] = None

  def _restore(self) -> None:
    number = self.checkpoints.restore_latest()
    episodes = int(self.episodes_done)
    if episodes > self.total_episodes:
      raise rundir.RunDirError(
          f'{self.logdir} holds {episodes} collected episodes, more than '
          f'--total_episodes={self.config.total_episodes}'
          + (f' x {len(self.tasks)} tasks' if len(self.tasks) > 1 else '')
          + ': pass at least that many to resume or extend it.')
    if number is not None:
      logging.info('Restored checkpoint %d (episode %d, update %d).', number,
                   episodes, int(self.optimizer.iterations))
    size = self.config.image_size
    directory = os.path.join(self.logdir, rundir.EPISODES_DIR)
    self.replay = Replay(directory, recover_episodes(
        directory, self.logdir, limit=episodes,
        spec=((size, size, 3), self.action_size)))
    if episodes and not len(self.replay):
      raise rundir.RunDirError(
          f'The checkpoint counts {episodes} episodes but '
          f'{self.replay.directory} holds none. Restore them or start a new '
          '--logdir.')
    if len(self.replay) < episodes:
      logging.warning('%d of the %d episodes counted are missing or corrupt; '
                      'training continues with the rest.',
                      episodes - len(self.replay), episodes)
    if len(self.replay):
      logging.info('Loaded %d episodes (%d steps) from %s.', len(self.replay),
                   self.replay.num_steps, self.replay.directory)
    self.metrics.repair(episodes, self._rebuilt_row)

  def _rebuilt_row(self, episode: int) -> Optional[dict]:
    """A metrics row for a counted episode whose row was lost, from its
    episode file (returns only: losses and test results are not stored)."""
    stored = self.replay.get(episode - 1)
    if stored is None:
      return None
    return {'episode': episode,
            'task': self.tasks[(episode - 1) % len(self.tasks)],
            'train_return': float(stored['reward'].sum()), 'rebuilt': True}

  def close(self) -> None:
    """Stops the environment processes and releases the run directory."""
    for environments in [list(self.envs.values())] + list(
        self._test_envs.values()):
      for env in environments:
        env.close()
    self.envs, self._test_envs = {}, {}
    if self._lock is not None:
      self._lock.close()
      self._lock = None

  @property
  def total_episodes(self) -> int:
    """Episodes of all tasks together: `total_episodes` rounds."""
    return self.config.total_episodes * len(self.tasks)

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
    config = self.config
    index = int(self.episodes_done)
    round_, task_index = divmod(index, len(self.tasks))
    task = self.tasks[task_index]
    row = {'episode': index + 1, 'task': task}
    start = time.time()
    if round_ >= config.seed_episodes and task_index == 0:
      row.update(self._train(index))
    row['train_seconds'] = time.time() - start
    start = time.time()
    with self.progress.phase(f'collect {task}',
                             driver.agent_steps(config, task)) as tick:
      episode = driver.run_episode(
          self.envs[task], None,
          driver.episode_seed(config, Phase.COLLECT, index), tick,
          make_act=lambda: self._collect_policy(index))  # Fresh per redo.
    row['collect_seconds'] = time.time() - start
    self.replay.add(episode, index)
    row['train_return'] = float(episode['reward'].sum())
    self.env_steps.assign_add(
        (len(episode['image']) - 1) * config_lib.action_repeat(config, task))
    row['env_steps'] = int(self.env_steps)
    row['updates'] = int(self.optimizer.iterations)
    row['skipped_updates'] = int(self.skipped_updates)
    last_of_round = task_index == len(self.tasks) - 1
    if (config.test_episodes and last_of_round and
        (round_ + 1) % config.test_every == 0):
      start = time.time()
      row.update(self._test(round_ + 1))
      row['test_seconds'] = time.time() - start
    self._log(row)
    self.episodes_done.assign(index + 1)
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
    self.skipped_updates.assign_add(1)
    skipped, limit = int(self.skipped_updates), self.config.max_nonfinite_updates
    logging.warning('Skipped update %d: loss %s, gradient norm %s (%d skipped '
                    'so far, limit %d).', int(self.optimizer.iterations) + 1,
                    loss, grad_norm, skipped, limit)
    if skipped > limit:
      numbers = self.checkpoints.numbers()
      raise NonFiniteError(
          f'{skipped} updates had a non-finite loss or gradient norm, more '
          f'than --max_nonfinite_updates={limit}; stopping. The last good '
          f'checkpoint (episode {numbers[-1] if numbers else 0}) in '
          f'{self.logdir} is intact. Lower --learning_rate or '
          '--grad_clip_norm in a new --logdir, or raise the limit.')

  def _test_environments(self, task: str) -> List[object]:
    """The N environments of `task`'s test episodes, made on first use."""
    if task not in self._test_envs:
      self._test_envs[task] = [
          envs.PaddedActions(self._make_env(self.config, task),
                             self.action_size)
          for _ in range(self.config.test_episodes)]
    return self._test_envs[task]

  def _test(self, rounds: int) -> Dict[str, object]:
    """Noise-free test episodes of every task, the N of a task run as one
    batch; keys carry the task name when there are several tasks."""
    config = self.config
    results = {}
    for task_index, task in enumerate(self.tasks):
      seeds = [driver.episode_seed(config, Phase.TEST, rounds, task_index, j)
               for j in range(config.test_episodes)]
      self.agent.reset(len(seeds))
      with self.progress.phase(f'test {task} x{len(seeds)}',
                               driver.agent_steps(config, task)) as tick:
        episodes = driver.run_episodes(
            self._test_environments(task),
            lambda images: self.agent.act(images, explore=False), seeds, tick)
      if config.test_video and task_index == 0:
        self._test_video(rounds, episodes[0])
      returns = [float(episode['reward'].sum()) for episode in episodes]
      suffix = f'/{task}' if len(self.tasks) > 1 else ''
      results[f'test_return{suffix}'] = float(np.mean(returns))
      results[f'test_returns{suffix}'] = returns
    self._openloop_summary(rounds)
    return results

  def _test_video(self, rounds: int, episode: dict) -> None:
    """videos/episode_N.mp4 (GIF without ffmpeg) of a test episode, and
    a strip of its frames in TensorBoard."""
    directory = os.path.join(self.logdir, rundir.VIDEOS_DIR)
    os.makedirs(directory, exist_ok=True)
    video.write(os.path.join(directory, f'episode_{rounds:06d}.mp4'),
                video.episode_panel(episode['image'], episode['reward']))
    with self.writer.as_default():
      tf.summary.image('test_video', video.strip(episode['image'])[None],
                       step=int(self.env_steps))

  def _openloop_summary(self, episodes: int) -> None:
    config = self.config
    rng = np.random.default_rng(
        driver.episode_seed(config, Phase.OPENLOOP, episodes))
    batch = self.replay.sample(min(4, config.batch_size), config.chunk_length, rng)
    truth, model = self.openloop(batch['image'], batch['action'],
                                 config.openloop_context)
    grid = pictures.openloop_image(
        truth.numpy(), model.numpy(), config.openloop_context,
        title=f'{os.path.basename(self.logdir)}: open-loop prediction after '
              f'episode {episodes}')
    directory = os.path.join(self.logdir, rundir.OPENLOOP_DIR)
    os.makedirs(directory, exist_ok=True)
    rundir.write_atomic(os.path.join(directory, f'episode_{episodes:06d}.png'),
                        tf.io.encode_png(grid).numpy())
    self._pending_image = grid

  def _log(self, row: dict) -> None:
    self.metrics.append(row)
    step = row['env_steps']
    with self.writer.as_default():
      for key, value in row.items():
        if isinstance(value, (int, float)) and key != 'episode':
          tf.summary.scalar(key, value, step=step)
      if self._pending_image is not None:
        tf.summary.image('openloop', self._pending_image[None], step=step)
        self._pending_image = None
    self.writer.flush()
    logging.info('%s', progress.episode_line(
        row, self.total_episodes, several_tasks=len(self.tasks) > 1,
        eta=self._eta(row['episode'])))

  def _eta(self, episodes: int) -> Optional[float]:
    """Seconds until `total_episodes`, once a planned episode was timed."""
    config, rounds = self.config, episodes // len(self.tasks)
    tests = (config.total_episodes // config.test_every
             - rounds // config.test_every) if config.test_episodes else 0
    default_test = None
    planned = [r for r in self.metrics.rows if r.get('collect_seconds')]
    if planned:  # A test point: about one batched episode per task.
      default_test = 1.5 * planned[-1]['collect_seconds'] * len(self.tasks)
    return progress.eta_seconds(self.metrics.rows,
                                self.total_episodes - episodes, tests,
                                default_test)


def _mean_metrics(history: List[Dict[str, tf.Tensor]]) -> Dict[str, float]:
  return {key: float(np.mean([float(m[key]) for m in history]))
          for key in history[0]}


def train(config: Config, logdir: str) -> None:
  """Trains (or resumes) a PlaNet agent in `logdir`."""
  Trainer(config, logdir).run()
