"""The MPC agent: filters its belief through the posterior, plans each step.

Algorithm 1, lines 10-12: infer q(s_t | o_<=t, a_<t), plan with CEM, add
Normal(0, noise) exploration noise when collecting (none when testing). The
agent only acts; collecting episodes and logging live in `training`.
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from planet_tf import planning
from planet_tf.config import Config
from planet_tf.preprocess import preprocess
from planet_tf.world_model import WorldModel


def make_planner(config: Config, action_size: int):
  """The planner of `config` as a function of (model, reward_fn, state)."""
  if config.planner not in planning.PLANNERS:
    raise ValueError(f"The agent cannot plan with '{config.planner}'.")
  return functools.partial(
      planning.PLANNERS[config.planner], action_size=action_size,
      horizon=config.horizon, iterations=config.iterations,
      candidates=config.candidates, top_k=config.top_k,
      std_estimator=config.cem_std, groups=config.planner_groups)


class Agent:
  """Acts in one environment; `reset` at the start of every episode."""

  def __init__(self, world_model: WorldModel, config: Config):
    self._wm = world_model
    self._config = config
    self._plan = make_planner(config, world_model.action_size)
    self._state = None
    self._action = None
    # Optional XLA: fuses the planner's many small element-wise ops.
    self._policy = tf.function(self._policy_step,
                               jit_compile=config.xla_planner)

  def reset(self) -> None:
    self._state = self._wm.dynamics.initial(1)
    self._action = tf.zeros([1, self._wm.action_size])

  def _policy_step(self, state, prev_action, image, noise):
    x = preprocess(image[None, None], self._config.bit_depth)
    embed = self._wm.encoder(x)[:, 0]
    post, _ = self._wm.dynamics.obs_step(state, prev_action, embed)
    action = self._plan(self._wm.dynamics, self._wm.reward.mean, post)
    action += noise * tf.random.normal(tf.shape(action))
    return tf.clip_by_value(action, -1.0, 1.0), post

  def act(self, image: np.ndarray, explore: bool) -> np.ndarray:
    """Updates the belief with `image` (uint8 HxWx3), returns an action."""
    if self._state is None:
      raise RuntimeError('Call Agent.reset() before the first act().')
    noise = self._config.exploration_noise if explore else 0.0
    action, self._state = self._policy(
        self._state, self._action, tf.constant(image, tf.uint8),
        tf.constant(noise, tf.float32))
    self._action = action
    return action.numpy()[0]
