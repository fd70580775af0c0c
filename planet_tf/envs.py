"""DeepMind Control tasks from pixels, as the paper uses them.

Observations are 64x64x3 uint8 frames rendered from the task's camera; each
agent action is repeated R times and the rewards of the repeats are summed
(Algorithm 1, lines 13-15); an episode lasts 1000 environment steps, so
ceil(1000 / R) agent steps, the last repeat cut short if R does not divide
1000 (the official code's cup used R = 6); actions live in [-1, 1].

MuJoCo's EGL renderer (Mesa on CPU) and TensorFlow crash when loaded into one
process (a segfault on the first render after `import tensorflow`). So the
trainer talks to `env_process.ProcessEnv`, which runs `DMControlEnv` in a
child Python process that never imports TensorFlow; `env_checks` checks
task names, cameras and rendering before any is made. This module imports
neither TensorFlow nor dm_control at import time.
"""

from __future__ import annotations

import os
from typing import Tuple

import numpy as np

from planet_tf.env_checks import resolve_task

os.environ.setdefault('MUJOCO_GL', 'egl')


class DMControlEnv:
  """One DM Control task from pixels with action repeat, in this process.

  `reset(seed)` reseeds the task's random state, so an episode is determined
  by its seed and the actions taken.
  """

  def __init__(self, task: str, action_repeat: int, episode_length: int = 1000,
               image_size: int = 64, camera_id: int = 0):
    from dm_control import suite
    spec = resolve_task(task, suite.ALL_TASKS)
    self._random = np.random.RandomState(0)
    self._env = suite.load(spec.domain, spec.task,
                           task_kwargs={'random': self._random})
    self._repeat = action_repeat
    self._length = episode_length
    self._size = image_size
    self._camera = camera_id
    self._step = 0
    action_spec = self._env.action_spec()
    if not (np.allclose(action_spec.minimum, -1) and
            np.allclose(action_spec.maximum, 1)):
      raise ValueError(f'Task {task} has actions outside [-1, 1].')
    self.action_size = int(np.prod(action_spec.shape))

  def _render(self) -> np.ndarray:
    return self._env.physics.render(self._size, self._size,
                                    camera_id=self._camera)

  def reset(self, seed: int) -> np.ndarray:
    """Starts an episode seeded by `seed`; returns the first frame."""
    self._random.seed(seed % 2**32)
    self._env.reset()
    self._step = 0
    return self._render()

  def step(self, action: np.ndarray) -> Tuple[np.ndarray, float, bool]:
    """Applies `action` R times; returns (frame, summed reward, done)."""
    action = np.asarray(action, np.float64).reshape(self.action_size)
    if not np.all(np.isfinite(action)):
      raise ValueError(f'Non-finite action {action}.')
    action = np.clip(action, -1.0, 1.0)
    reward, done = 0.0, False
    for _ in range(self._repeat):
      time_step = self._env.step(action)
      reward += time_step.reward or 0.0
      self._step += 1
      done = time_step.last() or self._step >= self._length
      if done:
        break
    return self._render(), float(reward), done

  def geom_position(self, name: str) -> np.ndarray:
    """World position (x, y, z) of the task's geom `name` now, e.g. the
    reacher's 'target' after a reset (analysis of starts, not the agent)."""
    return self._env.physics.named.data.geom_xpos[name].copy()

  def candidate_returns(self, actions: np.ndarray) -> np.ndarray:
    """The true returns of action sequences (J, H, A) from the current
    physics state, each with the action repeat and the task's own reward;
    the state is restored after (the rollouts of Table 1's 'CEM + true
    simulator', planned by `planning.cem` in the parent)."""
    physics = self._env.physics
    start = physics.get_state().copy()
    actions = np.clip(np.asarray(actions, np.float64), -1.0, 1.0)
    returns = np.array([self._simulate(start, plan) for plan in actions],
                       np.float32)
    with physics.reset_context():
      physics.set_state(start)
    return returns

  def _simulate(self, start: np.ndarray, plan: np.ndarray) -> float:
    """Sum of true rewards of `plan` from physics state `start`."""
    env, physics = self._env, self._env.physics
    substeps = int(round(env.control_timestep() / physics.timestep()))
    with physics.reset_context():
      physics.set_state(start)
    total = 0.0
    for action in plan:
      for _ in range(self._repeat):
        env.task.before_step(action, physics)
        physics.step(substeps)
        env.task.after_step(physics)
        total += env.task.get_reward(physics) or 0.0
    return total

  def close(self) -> None:
    self._env.close()


class PaddedActions:
  """Presents an env with a larger action space, ignoring the extra
  elements (paper Fig. 7: one agent on tasks with different action sizes)."""

  def __init__(self, env, action_size: int):
    if action_size < env.action_size:
      raise ValueError(f'Cannot pad {env.action_size} actions to {action_size}.')
    self._env = env
    self.action_size = action_size

  def reset(self, seed: int) -> np.ndarray:
    return self._env.reset(seed)

  def step(self, action: np.ndarray) -> Tuple[np.ndarray, float, bool]:
    return self._env.step(np.asarray(action)[:self._env.action_size])

  @property
  def concurrent(self) -> bool:
    """Whether the wrapped environment steps in a process of its own."""
    return getattr(self._env, 'concurrent', False)

  def reset_async(self, seed: int) -> None:
    self._env.reset_async(seed)

  def reset_wait(self) -> np.ndarray:
    return self._env.reset_wait()

  def step_async(self, action: np.ndarray) -> None:
    self._env.step_async(np.asarray(action)[:self._env.action_size])

  def step_wait(self) -> Tuple[np.ndarray, float, bool]:
    return self._env.step_wait()

  def candidate_returns(self, actions: np.ndarray) -> np.ndarray:
    """The inner env's true returns of `actions` (J, H, A), padding cut."""
    return self._env.candidate_returns(
        np.asarray(actions)[..., :self._env.action_size])

  def close(self) -> None:
    self._env.close()

  def restart(self) -> None:
    """Replaces a dead environment process (`ProcessEnv.restart`)."""
    self._env.restart()


def random_action(action_size: int, rng: np.random.Generator) -> np.ndarray:
  """A uniformly random action in [-1, 1]^action_size."""
  return rng.uniform(-1.0, 1.0, action_size).astype(np.float32)


