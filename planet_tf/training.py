"""Algorithm 1: seed episodes, then repeat C updates and one collected episode.

Run directory layout (all writes are atomic: temporary file, then rename):

  config.json        the resolved config; a rerun must resolve to the same one
  episodes/          training episodes, one .npz each (see `replay`)
  checkpoints/       model + optimiser after every episode (last two kept)
  metrics.jsonl      one row per collected episode; plotting reads it
  openloop/          open-loop prediction PNGs on the test schedule
  tb/                TensorBoard scalars and images

Running the same command again resumes: episodes are reloaded, the latest
checkpoint is restored and metrics rows past it are dropped.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from typing import Callable, Dict, List, Optional

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from planet_tf import config as config_lib
from planet_tf import envs
from planet_tf.agent import Agent
from planet_tf.config import Config
from planet_tf.replay import Episode, Replay
from planet_tf.world_model import WorldModel, openloop_grid

TRAIN_SEED, TEST_SEED = 0, 1


class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
  """lr * min(1, step / warmup_steps), the official code's schedule."""

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
  return keras.optimizers.Adam(
      LinearWarmup(config.learning_rate, config.warmup_steps),
      epsilon=config.adam_epsilon)


def make_train_step(world_model: WorldModel, optimizer, config: Config,
                    jit_compile: bool = False):
  """A compiled update: loss of Eq. 3, clipped gradients, one Adam step."""
  variables = world_model.trainable_variables
  optimizer.build(variables)

  @tf.function(jit_compile=jit_compile)
  def train_step(images, actions, rewards):
    with tf.GradientTape() as tape:
      loss, metrics = world_model.loss(images, actions, rewards)
    grads = tape.gradient(loss, variables)
    grads, norm = tf.clip_by_global_norm(grads, config.grad_clip_norm)
    metrics['learning_rate'] = optimizer.learning_rate
    optimizer.apply_gradients(zip(grads, variables))
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


def write_atomic(path: str, data: bytes) -> None:
  temporary = path + '.tmp'
  with open(temporary, 'wb') as file:
    file.write(data)
    file.flush()
    os.fsync(file.fileno())
  os.replace(temporary, path)


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
    self.rows = [row for row in self.rows if row['episode'] <= episodes]
    text = ''.join(json.dumps(row) + '\n' for row in self.rows)
    write_atomic(self.path, text.encode())

  def append(self, row: dict) -> None:
    self.rows.append(row)
    with open(self.path, 'a') as file:
      file.write(json.dumps(row) + '\n')
      file.flush()
      os.fsync(file.fileno())


# Values a rerun may change: extending a run is resuming it with more episodes.
RESUMABLE_CHANGES = ('total_episodes',)


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
      raise ValueError(
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
    config_lib.validate(config)
    _check_config(logdir, config)
    self.config = config
    self.logdir = logdir
    tf.random.set_seed(config.seed)
    self.tasks = config_lib.tasks(config)
    self.envs = make_envs(config)
    self.action_size = next(iter(self.envs.values())).action_size
    self.replay = Replay(os.path.join(logdir, 'episodes'))
    self.world_model = WorldModel(config, self.action_size)
    self.optimizer = make_optimizer(config)
    self.train_step = make_train_step(self.world_model, self.optimizer, config)
    self.openloop = tf.function(self.world_model.openloop)
    self.agent = Agent(self.world_model, config)
    self.episodes_done = tf.Variable(0, dtype=tf.int64, trainable=False)
    self.checkpoint = tf.train.Checkpoint(
        optimizer=self.optimizer, episodes=self.episodes_done,
        **self.world_model.layers)
    self.manager = tf.train.CheckpointManager(
        self.checkpoint, os.path.join(logdir, 'checkpoints'), max_to_keep=2)
    self.metrics = MetricsLog(os.path.join(logdir, 'metrics.jsonl'))
    self.writer = tf.summary.create_file_writer(os.path.join(logdir, 'tb'))
    self._pending_image: Optional[np.ndarray] = None
    self._restore()

  def _restore(self) -> None:
    if self.manager.latest_checkpoint:
      self.checkpoint.restore(self.manager.latest_checkpoint).assert_consumed()
      logging.info('Restored %s (episode %d, update %d).',
                   self.manager.latest_checkpoint,
                   int(self.episodes_done), int(self.optimizer.iterations))
    if int(self.episodes_done) > len(self.replay):
      raise ValueError(
          f'The checkpoint counts {int(self.episodes_done)} episodes but '
          f'{self.replay.directory} holds {len(self.replay)}: episode files '
          'are missing. Restore them or start a new --logdir.')
    if len(self.replay):
      logging.info('Loaded %d episodes (%d steps) from %s.', len(self.replay),
                   self.replay.num_steps, self.replay.directory)
    self.metrics.truncate(len(self.replay))

  @property
  def total_episodes(self) -> int:
    return self.config.total_episodes * len(self.tasks)

  def run(self) -> None:
    """Collects episodes until `total_episodes` rounds, training before each."""
    try:
      while len(self.replay) < self.total_episodes:
        self._iteration()
    finally:
      close_envs(self.envs)
    logging.info('Done: %d episodes in %s.', len(self.replay), self.logdir)

  def _iteration(self) -> None:
    config = self.config
    index = len(self.replay)
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
    self.replay.add(episode)
    row['train_return'] = float(episode['reward'].sum())
    row['env_steps'] = self._env_steps()
    row['updates'] = int(self.optimizer.iterations)
    last_of_round = task_index == len(self.tasks) - 1
    if (config.test_episodes and last_of_round and
        (round_ + 1) % config.test_every == 0):
      start = time.time()
      row.update(self._test(round_ + 1))
      row['test_seconds'] = time.time() - start
    self._log(row)
    self.episodes_done.assign(len(self.replay))
    self.manager.save(checkpoint_number=len(self.replay))

  def _collect_policy(self, index: int) -> Callable[[np.ndarray], np.ndarray]:
    """Random actions for seed episodes (and `collect_policy=random`),
    else the planner with exploration noise."""
    config = self.config
    if (index // len(self.tasks) < config.seed_episodes or
        config.collect_policy == 'random'):
      rng = np.random.default_rng(episode_seed(config, TRAIN_SEED, index))
      return lambda _: envs.random_action(self.action_size, rng)
    self.agent.reset()
    return lambda image: self.agent.act(image, explore=True)

  def _env_steps(self) -> int:
    """Environment steps of all stored episodes, each at its task's repeat."""
    repeats = [config_lib.action_repeat(self.config, task) for task in self.tasks]
    return sum((len(episode['image']) - 1) * repeats[i % len(self.tasks)]
               for i, episode in enumerate(self.replay.episodes))

  def _train(self, index: int) -> Dict[str, float]:
    config = self.config
    rng = np.random.default_rng(episode_seed(config, 2, index))
    history = []
    for _ in range(config.collect_interval):
      batch = self.replay.sample(config.batch_size, config.chunk_length, rng)
      history.append(self.train_step(
          batch['image'], batch['action'], batch['reward']))
    return _mean_metrics(history)

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
            self.envs[task], lambda image: self.agent.act(image, explore=False),
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
    parts = [f"episode {row['episode']}/{self.config.total_episodes}",
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
