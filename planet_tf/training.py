"""Algorithm 1: seed episodes, then repeat C updates and one collected episode.

Run directory layout (all writes are atomic: temporary file, then rename):

  .lock              held (flock) by the process training in the directory
  config.json        the resolved config; a rerun must resolve to the same one
  episodes/          training episodes, one .npz each (see `replay`)
  checkpoints/       model, optimiser and counters after every episode (3 kept)
  metrics.jsonl      one row per collected episode; plotting reads it
  openloop/          open-loop prediction PNGs on the test schedule
  tb/                TensorBoard scalars and images
  discarded/         files moved aside on resume: corrupt ones, and episodes
                     collected after the last checkpoint

One episode is one unit: its file, then its metrics row, then checkpoint N
(N = episodes collected) are written in that order, and the checkpoint is the
commit point. Running the same command again resumes from the newest
checkpoint that reads back: episode files it does not count are moved aside,
metrics rows past it are dropped, so files, rows and counters always agree.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from typing import Callable, Dict, List, Optional, Tuple

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from planet_tf import config as config_lib
from planet_tf import envs
from planet_tf import rundir
from planet_tf.agent import Agent
from planet_tf.config import Config
from planet_tf.replay import Episode, Replay, load_episode
from planet_tf.world_model import WorldModel, openloop_grid

TRAIN_SEED, TEST_SEED = 0, 1


class NonFiniteError(RuntimeError):
  """Too many updates had a non-finite loss or gradient norm."""


class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
  """lr * min(1, step / warmup_steps), `step` counting updates.

  The official code's schedule (camera-ready commit 0c6f7d3) in its units
  converted: it ramps over 10,000 trainer steps of one sample each, that is
  10,000 / batch size 50 = 200 updates.
  """

  def __init__(self, learning_rate: float, warmup_steps: int):
    self.learning_rate = learning_rate
    self.warmup_steps = warmup_steps

  def __call__(self, step):
    if not self.warmup_steps:
      return tf.constant(self.learning_rate, tf.float32)
    ramp = tf.cast(step, tf.float32) / float(self.warmup_steps)
    return self.learning_rate * tf.minimum(ramp, 1.0)

  def get_config(self):
    return {'learning_rate': self.learning_rate,
            'warmup_steps': self.warmup_steps}


def make_optimizer(config: Config) -> keras.optimizers.Optimizer:
  """Adam with the paper's epsilon and the official code's warm-up."""
  return keras.optimizers.Adam(
      LinearWarmup(config.learning_rate, config.warmup_steps),
      epsilon=config.adam_epsilon)


def make_train_step(world_model: WorldModel, optimizer, config: Config,
                    jit_compile: bool = False):
  """A compiled update: loss of Eq. 3, clipped gradients, one Adam step.

  If the loss or the gradients' global norm is not finite, the Adam step is
  skipped (variables, moments and `optimizer.iterations` stay unchanged) and
  the returned `metrics['finite']` is False.
  """
  variables = world_model.trainable_variables
  optimizer.build(variables)

  @tf.function(jit_compile=jit_compile)
  def train_step(images, actions, rewards):
    with tf.GradientTape() as tape:
      loss, metrics = world_model.loss(images, actions, rewards)
    grads = tape.gradient(loss, variables)
    grads, norm = tf.clip_by_global_norm(grads, config.grad_clip_norm)
    metrics['learning_rate'] = optimizer.learning_rate
    finite = tf.logical_and(tf.math.is_finite(loss), tf.math.is_finite(norm))

    def apply():
      optimizer.apply_gradients(zip(grads, variables))
      return tf.constant(True)

    metrics['finite'] = tf.cond(finite, apply, lambda: tf.constant(False))
    metrics['grad_norm'] = norm
    return metrics

  return train_step


def episode_seed(config: Config, phase: int, *indices: int) -> int:
  """A distinct, reproducible seed per (run seed, phase, episode)."""
  return int(np.random.SeedSequence(
      [config.seed, phase, *indices]).generate_state(1)[0])


def run_episode(env, act: Callable[[np.ndarray], np.ndarray],
                seed: int) -> Episode:
  """One episode in the replay's index convention (see `replay`)."""
  image = env.reset(seed)
  images, actions, rewards = [image], [np.zeros(env.action_size, np.float32)], [0.0]
  done = False
  while not done:
    action = np.asarray(act(image), np.float32)
    image, reward, done = env.step(action)
    images.append(image)
    actions.append(action)
    rewards.append(reward)
  return {'image': np.stack(images), 'action': np.stack(actions),
          'reward': np.asarray(rewards, np.float32)}


write_atomic = rundir.write_atomic


class MetricsLog:
  """metrics.jsonl: one JSON row per collected episode, appended and synced."""

  def __init__(self, path: str):
    self.path = path
    self.rows: List[dict] = []
    if os.path.exists(path):
      with open(path) as file:
        for line in file:
          if line.strip():
            try:
              self.rows.append(json.loads(line))
            except json.JSONDecodeError:
              break  # A row cut off by a crash; it is rewritten.

  def truncate(self, episodes: int) -> None:
    """Keeps the rows of the first `episodes` episodes only."""
    kept = {}
    for row in self.rows:
      episode = row.get('episode') if isinstance(row, dict) else None
      if isinstance(episode, int) and 1 <= episode <= episodes:
        kept.setdefault(episode, row)  # The first of any duplicates.
    self.rows = [kept[episode] for episode in sorted(kept)]
    if sorted(kept) != list(range(1, episodes + 1)):
      missing = sorted(set(range(1, episodes + 1)) - set(kept))
      logging.warning('%s lacks the rows of episodes %s.', self.path, missing)
    text = ''.join(json.dumps(row) + '\n' for row in self.rows)
    write_atomic(self.path, text.encode())

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


# Values a rerun may change: extending a run is resuming it with more episodes.
RESUMABLE_CHANGES = ('total_episodes', 'max_nonfinite_updates')


def _check_config(logdir: str, config: Config) -> None:
  """Stores the config of a new run; refuses to resume with another one."""
  path = os.path.join(logdir, 'config.json')
  if os.path.exists(path):
    with open(path) as file:
      stored = json.load(file)
    # A field added to Config after the run started counts at its default.
    defaults = Config().to_dict()
    current = config.to_dict()
    changed = sorted(
        k for k in current if k not in RESUMABLE_CHANGES and
        stored.get(k, defaults[k]) != current[k])
    if changed:
      details = ', '.join(f'{k}: {stored.get(k, defaults[k])!r} -> '
                          f'{current[k]!r}' for k in changed)
      raise rundir.RunDirError(
          f'{logdir} holds a run with a different config ({details}). Rerun '
          'with the same flags to resume, or pick a new --logdir.')
    if stored == current:
      return
  os.makedirs(logdir, exist_ok=True)
  write_atomic(path, config.to_json().encode())


def _mean_metrics(history: List[Dict[str, tf.Tensor]]) -> Dict[str, float]:
  return {key: float(np.mean([float(m[key]) for m in history]))
          for key in history[0]}


class Trainer:
  """Runs Algorithm 1 in one run directory; `run()` resumes where it stopped.

  With several tasks (paper Fig. 7) a round is C updates, then one episode of
  each task; seed episodes, `total_episodes` and the test schedule count
  rounds. With one task a round is one episode, as in Algorithm 1.
  """

  def __init__(self, config: Config, logdir: str):
    """Validates, locks `logdir` and restores its latest good checkpoint.

    Raises ValueError for a bad config, rundir.RunDirError if `logdir` is
    unwritable, locked by another process or holds unreadable checkpoints.
    """
    config_lib.validate(config)
    rundir.check_writable(logdir)
    self.config = config
    self.logdir = logdir
    self.envs = None
    self._lock = rundir.lock(logdir)
    try:
      self._setup()
    except BaseException:
      self.close()
      raise

  def _setup(self) -> None:
    config, logdir = self.config, self.logdir
    _check_config(logdir, config)
    for path in rundir.remove_partial_files(logdir):
      logging.info('Removed %s, left by an interrupted write.', path)
    # Seeds TensorFlow, NumPy and Python's `random`, which Keras 3 draws
    # unseeded initialisers from: with `tf.random.set_seed` alone, two runs
    # of one seed gave different first losses (measured). On CPU no op
    # determinism flag is needed (measured: tests/test_robustness.py).
    keras.utils.set_random_seed(config.seed)
    self.tasks = config_lib.tasks(config)
    self.envs = make_envs(config)
    self.action_size = next(iter(self.envs.values())).action_size
    self.world_model = WorldModel(config, self.action_size)
    self.optimizer = make_optimizer(config)
    self.train_step = make_train_step(self.world_model, self.optimizer, config)
    self.openloop = tf.function(self.world_model.openloop)
    self.agent = Agent(self.world_model, config)
    counter = lambda: tf.Variable(0, dtype=tf.int64, trainable=False)
    self.episodes_done, self.env_steps = counter(), counter()
    self.skipped_updates = counter()
    checkpoint = tf.train.Checkpoint(
        weights=self.world_model.named_weights(), optimizer=self.optimizer,
        episodes=self.episodes_done, env_steps=self.env_steps,
        skipped_updates=self.skipped_updates)
    # The layout before the counters and named weights (planet-tf 0.1 runs).
    legacy = tf.train.Checkpoint(
        optimizer=self.optimizer, episodes=self.episodes_done,
        **self.world_model.layers)
    self.checkpoints = rundir.Checkpoints(
        checkpoint, os.path.join(logdir, 'checkpoints'), logdir, keep=3,
        legacy=legacy)
    self.metrics = MetricsLog(os.path.join(logdir, 'metrics.jsonl'))
    self.writer = tf.summary.create_file_writer(os.path.join(logdir, 'tb'))
    self._pending_image: Optional[np.ndarray] = None
    self._restore()

  def _restore(self) -> None:
    number = self.checkpoints.restore_latest()
    episodes = int(self.episodes_done)
    if number is not None:
      logging.info('Restored checkpoint %d (episode %d, update %d).', number,
                   episodes, int(self.optimizer.iterations))
    self.replay = Replay(os.path.join(self.logdir, 'episodes'),
                         limit=episodes, logdir=self.logdir)
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
    if self.checkpoints.restored_legacy:  # Derive the counters it lacked.
      repeats = [config_lib.action_repeat(self.config, t) for t in self.tasks]
      self.env_steps.assign(sum(
          (len(e['image']) - 1) * repeats[i % len(self.tasks)]
          for i, e in enumerate(self.replay.episodes)))
    self.metrics.truncate(episodes)

  def close(self) -> None:
    """Stops the environment process and releases the run directory."""
    if self.envs is not None:
      close_envs(self.envs)
      self.envs = None
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
    episode = run_episode(self.envs[task], self._collect_policy(index),
                          episode_seed(config, TRAIN_SEED, index))
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
      rng = np.random.default_rng(episode_seed(config, TRAIN_SEED, index))
      return lambda _: envs.random_action(self.action_size, rng)
    self.agent.reset()
    return lambda image: self.agent.act(image[None], explore=True)[0]

  def _train(self, index: int) -> Dict[str, float]:
    config = self.config
    rng = np.random.default_rng(episode_seed(config, 2, index))
    history = []
    for _ in range(config.collect_interval):
      batch = self.replay.sample(config.batch_size, config.chunk_length, rng)
      metrics = self.train_step(batch['image'], batch['action'], batch['reward'])
      if bool(metrics.pop('finite')):
        history.append(metrics)
      else:
        self._skip_update(float(metrics['loss']), float(metrics['grad_norm']))
    return _mean_metrics(history) if history else {}

  def _skip_update(self, loss: float, grad_norm: float) -> None:
    """Counts a skipped update; raises NonFiniteError past the limit."""
    self.skipped_updates.assign_add(1)
    skipped, limit = int(self.skipped_updates), self.config.max_nonfinite_updates
    logging.warning('Skipped update %d: loss %s, gradient norm %s (%d skipped '
                    'so far, limit %d).', int(self.optimizer.iterations) + 1,
                    loss, grad_norm, skipped, limit)
    if skipped > limit:
      raise NonFiniteError(
          f'{skipped} updates had a non-finite loss or gradient norm, more '
          f'than --max_nonfinite_updates={limit}; stopping. The last good '
          f'checkpoint (episode {self._last_saved()}) in {self.logdir} is '
          'intact. Lower --learning_rate or --grad_clip_norm in a new '
          '--logdir, or raise the limit.')

  def _last_saved(self) -> int:
    numbers = self.checkpoints.numbers()
    return numbers[-1] if numbers else 0

  def _test(self, rounds: int) -> Dict[str, object]:
    """Noise-free test episodes of every task; keys carry the task name
    when there are several tasks."""
    config = self.config
    results = {}
    for task_index, task in enumerate(self.tasks):
      returns = []
      for j in range(config.test_episodes):
        self.agent.reset()
        episode = run_episode(
            self.envs[task], lambda image: self.agent.act(image[None], explore=False)[0],
            episode_seed(config, TEST_SEED, rounds, task_index, j))
        returns.append(float(episode['reward'].sum()))
      suffix = f'/{task}' if len(self.tasks) > 1 else ''
      results[f'test_return{suffix}'] = float(np.mean(returns))
      results[f'test_returns{suffix}'] = returns
    self._openloop_summary(rounds)
    return results
  def _openloop_summary(self, episodes: int) -> None:
    config = self.config
    rng = np.random.default_rng(episode_seed(config, 3, episodes))
    batch = self.replay.sample(min(4, config.batch_size), config.chunk_length, rng)
    truth, model = self.openloop(batch['image'], batch['action'],
                                 config.openloop_context)
    grid = openloop_grid(truth.numpy(), model.numpy())
    directory = os.path.join(self.logdir, 'openloop')
    os.makedirs(directory, exist_ok=True)
    write_atomic(os.path.join(directory, f'episode_{episodes:06d}.png'),
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
    parts = [f"episode {row['episode']}/{self.total_episodes}"
             + (f" ({row['task']})" if len(self.tasks) > 1 else ''),
             f'env steps {step}', f"train return {row['train_return']:.1f}"]
    if 'loss' in row:
      parts.append(f"loss {row['loss']:.1f} (image {row['image_nll']:.1f}, "
                   f"reward {row['reward_nll']:.2f}"
                   + (f", kl {row['kl']:.2f})" if 'kl' in row else ')'))
    for key, value in row.items():
      if key.startswith('test_return') and not key.startswith('test_returns'):
        name = key.replace('test_return', 'test return').replace('/', ' ')
        parts.append(f'{name} {value:.1f}')
    times = ', '.join(f"{k.split('_')[0]} {row[k]:.0f}s" for k in
                      ('train_seconds', 'collect_seconds', 'test_seconds')
                      if k in row)
    logging.info('%s | %s', ' | '.join(parts), times)


def make_envs(config: Config) -> Dict[str, object]:
  """One child-process environment per task, actions padded to the largest
  action size among the tasks."""
  made = {}
  for task in config_lib.tasks(config):
    made[task] = envs.ProcessEnv(
        task=task, action_repeat=config_lib.action_repeat(config, task),
        episode_length=config.episode_length, image_size=config.image_size,
        camera_id=config.camera_id)
  size = max(env.action_size for env in made.values())
  return {task: envs.PaddedActions(env, size) for task, env in made.items()}


def close_envs(environments: Dict[str, object]) -> None:
  """Stops every environment process."""
  for env in environments.values():
    env.close()


def evaluate_true_simulator(config: Config, logdir: str) -> None:
  """Table 1's 'CEM + true simulator': test episodes planned by CEM on copies
  of the real simulator (same H, I, J, K), no learning. Writes one metrics
  row with episode 0 (no collected data)."""
  config_lib.validate(config)
  _check_config(logdir, config)
  metrics = MetricsLog(os.path.join(logdir, 'metrics.jsonl'))
  if metrics.rows:
    logging.info('True-simulator evaluation already in %s.', logdir)
    return
  env = make_envs(config)[config.task]
  start, returns = time.time(), []
  try:
    for j in range(config.test_episodes):
      seed = episode_seed(config, TEST_SEED, 0, 0, j)
      plan_seeds = itertools.count(seed)
      plan = lambda _: env.plan(
          horizon=config.horizon, iterations=config.iterations,
          candidates=config.candidates, top_k=config.top_k,
          std_estimator=config.cem_std, seed=next(plan_seeds))
      returns.append(float(run_episode(env, plan, seed)['reward'].sum()))
      logging.info('true simulator: test episode %d/%d return %.1f',
                   j + 1, config.test_episodes, returns[-1])
  finally:
    env.close()
  metrics.append({'episode': 0, 'env_steps': 0, 'updates': 0,
                  'test_return': float(np.mean(returns)),
                  'test_returns': returns,
                  'test_seconds': time.time() - start})


def train(config: Config, logdir: str) -> None:
  """Trains (or resumes) a PlaNet agent in `logdir`; with the true_simulator
  planner, evaluates CEM on the real simulator instead."""
  if config.planner == 'true_simulator':
    evaluate_true_simulator(config, logdir)
  else:
    Trainer(config, logdir).run()


def load_world_model(logdir: str) -> Tuple[Config, WorldModel, str]:
  """The config and world model of a run, restored from its newest
  checkpoint, read-only (no lock, nothing written). Returns (config,
  world_model, checkpoint prefix). Reads both checkpoint layouts."""
  path = os.path.join(logdir, 'config.json')
  directory = os.path.join(logdir, 'checkpoints')
  numbers = (rundir.Checkpoints(None, directory, logdir).numbers()
             if os.path.isdir(directory) else [])
  if not os.path.exists(path) or not numbers:
    raise rundir.RunDirError(
        f'{logdir} holds no trained run (config.json and a checkpoint): '
        'train it first, e.g. python -m planet_tf.train --logdir=...')
  with open(path) as file:
    config = Config.from_dict(json.load(file))
  episodes = sorted(os.listdir(os.path.join(logdir, 'episodes')))
  first = [name for name in episodes if name.endswith('.npz')][:1]
  if not first:
    raise rundir.RunDirError(f'{logdir}/episodes holds no episodes.')
  action_size = load_episode(os.path.join(logdir, 'episodes', first[0]))[
      'action'].shape[-1]
  world_model = WorldModel(config, action_size)
  prefix = os.path.join(directory, f'ckpt-{numbers[-1]}')
  try:
    tf.train.Checkpoint(weights=world_model.named_weights()).read(
        prefix).expect_partial().assert_existing_objects_matched()
  except AssertionError:  # The earlier layout: weights behind the optimizer.
    optimizer = make_optimizer(config)
    optimizer.build(world_model.trainable_variables)
    tf.train.Checkpoint(optimizer=optimizer, **world_model.layers).read(
        prefix).expect_partial().assert_existing_objects_matched()
  return config, world_model, prefix
