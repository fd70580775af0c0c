"""Running episodes: environments for a config, episode seeds, the loop.

`run_episode` records an episode in the replay's index convention (see
`replay`); `run_episodes` runs several at once, one policy call per step for
all of them (the agent plans for a batch of beliefs), the environments
stepping concurrently in their processes. Every episode has its own seed,
derived from the run seed, a named phase and its indices, so that episodes
stay reproducible across resumes.
"""

from __future__ import annotations

import enum
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
from absl import logging

from planet_tf import config as config_lib
from planet_tf import env_process, envs
from planet_tf.config import Config
from planet_tf.replay import Episode


class Phase(enum.IntEnum):
  """What a seed is for; the values are part of every run's seeds."""
  COLLECT = 0  # A collected (training) episode's environment and actions.
  TEST = 1  # A test episode's environment.
  UPDATES = 2  # The chunks sampled for the updates before an episode.
  OPENLOOP = 3  # The chunks of an open-loop summary.
  EVALUATE = 4  # An evaluation episode (`planet_tf.evaluate`) and its planner.


def episode_seed(config: Config, phase: Phase, *indices: int) -> int:
  """A distinct, reproducible seed per (run seed, phase, indices)."""
  return int(np.random.SeedSequence(
      [config.seed, int(phase), *indices]).generate_state(1)[0])


def test_seeds(config: Config, episode: int, task_index: int = 0) -> List[int]:
  """The environment seeds of the `test_episodes` test episodes after
  `episode` collected rounds, for the task at `task_index` of the run."""
  return [episode_seed(config, Phase.TEST, episode, task_index, j)
          for j in range(config.test_episodes)]


def make_env(config: Config, task: str) -> env_process.ProcessEnv:
  """DM Control's `task` from pixels as `config` asks, in a child process."""
  return env_process.ProcessEnv(
      task=task, action_repeat=config_lib.action_repeat(config, task),
      episode_length=config.episode_length, image_size=config.image_size,
      camera_id=config.camera_id, timeout=config.env_timeout)


class Environments:
  """A run's environments, all presenting the largest action size of its
  tasks (paper Fig. 7): one per task for collection, made at once (their
  action sizes set the model's), and the N of each task's test episodes,
  made on first use. `make_env(config, task)` makes one."""

  def __init__(self, config: Config,
               make_env: Callable[[Config, str], object] = make_env):
    self._config, self._make_env = config, make_env
    self._test: Dict[str, List[object]] = {}
    made = _make_all(lambda task: make_env(config, task), config.tasks)
    self.action_size = max(env.action_size for env in made)
    self.collect = {task: envs.PaddedActions(env, self.action_size)
                    for task, env in zip(config.tasks, made)}

  def test(self, task: str) -> List[object]:
    """The `test_episodes` environments of `task`, made on first use."""
    if task not in self._test:
      self._test[task] = _make_all(
          lambda _: envs.PaddedActions(self._make_env(self._config, task),
                                       self.action_size),
          range(self._config.test_episodes))
    return self._test[task]

  def close(self) -> None:
    """Stops every environment made (collection, then test ones)."""
    for env in list(self.collect.values()) + [
        env for made in self._test.values() for env in made]:
      env.close()
    self.collect, self._test = {}, {}


def _make_all(make: Callable[[object], object], keys: Sequence) -> List[object]:
  """`make(key)` for every key; if one fails, those already made are
  closed (their processes stopped) before the error goes on."""
  made: List[object] = []
  try:
    for key in keys:
      made.append(make(key))
  except BaseException:
    for env in made:
      env.close()
    raise
  return made


# Redos of one episode after its environment process died or froze.
ENV_RETRIES = 3


class EnvFailedError(RuntimeError):
  """Environment processes kept dying; the message says how to go on."""


def run_episodes_retrying(environments: Sequence, make_act: Callable[[], Callable],
                          seeds: Sequence[int],
                          on_step: Callable[[], None] = lambda: None
                          ) -> List[Episode]:
  """`run_episodes` with `make_act()`'s fresh policy; when an environment
  process dies or stops answering, every dead one is replaced and the
  episodes are redone from their seeds, up to ENV_RETRIES times, each with
  a warning naming the exit code. Past that, raises EnvFailedError."""
  for attempt in range(ENV_RETRIES + 1):
    try:
      return run_episodes(environments, make_act(), seeds, on_step)
    except env_process.EnvDiedError as error:
      if attempt == ENV_RETRIES:
        raise EnvFailedError(
            f'{error} It failed {ENV_RETRIES + 1} times in one episode; the '
            'run stopped: rerun the same command to resume from the last '
            'checkpoint.') from None
      logging.warning('%s (exit code %s). Replacing it and redoing the '
                      '%s from %s (%d of %d).', error, error.code,
                      *(('episode', 'its seed') if len(seeds) == 1 else
                        (f'{len(seeds)} episodes', 'their seeds')),
                      attempt + 1, ENV_RETRIES)
      for env in environments:
        env.restart()
  raise AssertionError('unreachable')


def run_episodes(environments: Sequence, act: Callable[[np.ndarray], np.ndarray],
                 seeds: Sequence[int],
                 on_step: Callable[[], None] = lambda: None) -> List[Episode]:
  """One episode per environment, all at once, in the replay's index
  convention (see `replay`).

  `act` maps the current frames of all environments (N, H, W, 3) to their
  actions (N, A); the environments reset and step concurrently (each in its
  process). An environment whose episode has ended keeps its last frame in
  the batch, and its actions are dropped. `on_step` is called after every
  step of the batch (progress display).
  """
  frames = env_process.reset_all(environments, seeds)
  records = [([frame], [np.zeros(env.action_size, np.float32)], [0.0])
             for frame, env in zip(frames, environments)]
  running = list(range(len(environments)))
  while running:
    actions = np.asarray(act(np.stack(frames)), np.float32)
    results = env_process.step_all([environments[i] for i in running],
                            [actions[i] for i in running])
    for i, (frame, reward, done) in zip(list(running), results):
      images, taken, rewards = records[i]
      images.append(frame)
      taken.append(actions[i])
      rewards.append(reward)
      frames[i] = frame
      if done:
        running.remove(i)
    on_step()
  return [{'image': np.stack(images), 'action': np.stack(taken),
           'reward': np.asarray(rewards, np.float32)}
          for images, taken, rewards in records]


def run_episode(env, act: Callable[[np.ndarray], np.ndarray], seed: int,
                on_step: Callable[[], None] = lambda: None,
                make_act: Optional[Callable[[], Callable]] = None) -> Episode:
  """One episode of one environment; `act` maps a frame to an action.
  With `make_act` (a fresh `act` per try), a dead environment is replaced
  and the episode redone (`run_episodes_retrying`)."""
  batch = lambda act: lambda frames: act(frames[0])[None]
  if make_act is None:
    return run_episodes([env], batch(act), [seed], on_step)[0]
  return run_episodes_retrying([env], lambda: batch(make_act()), [seed],
                               on_step)[0]

