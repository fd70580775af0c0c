"""The MPC agent: observe, then plan (Algorithm 1, lines 10-12).

The agent filters its belief q(s_t | o_<=t, a_<t) through the world model's
posterior, plans with CEM from it, and adds Normal(0, noise) exploration noise
when collecting (none when testing); the action it returns, noisy and
clipped, is the one the next belief update conditions on, as the official
agent does. It acts for a batch of B environments at once (one belief each);
collecting episodes and logging live in `driver` and `training`.
"""

from __future__ import annotations

import functools
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from planet_tf import planning
from planet_tf.config import Config, check_resolved
from planet_tf.models.base import State
from planet_tf.world_model import WorldModel

# (latent model, reward function, belief state) -> action means (B, A).
Planner = Callable[..., tf.Tensor]


def make_planner(config: Config, action_size: int) -> Planner:
  """The planner of `config` as a function of (model, reward_fn, state)."""
  common = dict(action_size=action_size, horizon=config.horizon,
                candidates=config.candidates)
  check_resolved(config)
  groups = config.planner_groups
  if groups > 1:  # The performance layer: the same values, in parts.
    common['evaluate'] = planning.in_groups(groups)
  if config.planner == 'cem':
    return functools.partial(
        planning.cem, iterations=config.iterations, top_k=config.top_k,
        std_estimator=config.cem_std, **common)
  if config.planner == 'random_shooting':
    return functools.partial(planning.random_shooting, **common)
  raise ValueError(f"The agent cannot plan with '{config.planner}'.")


class Agent:
  """Acts in B environments at once; `reset(B)` at the start of episodes.

  `planner` defaults to the one `config` names; tests pass their own.
  """

  def __init__(self, world_model: WorldModel, config: Config,
               planner: Optional[Planner] = None):
    self._wm = world_model
    self._plan = planner or make_planner(config, world_model.action_size)
    self._noise = config.exploration_noise
    self._belief: Optional[State] = None
    self._action = None
    # Optional XLA: fuses the planner's many small element-wise ops.
    self._policy = tf.function(self._policy_step,
                               jit_compile=config.xla_planner)

  @property
  def belief(self) -> State:
    """The current posterior state, one row per environment."""
    if self._belief is None:
      raise RuntimeError('Call Agent.reset() before the first act().')
    return self._belief

  def reset(self, batch_size: int = 1) -> None:
    """Starts new episodes: the fixed initial state and a zero action."""
    self._belief = self._wm.dynamics.initial(batch_size)
    self._action = tf.zeros([batch_size, self._wm.action_size])

  def _policy_step(self, belief, prev_action, images, noise):
    belief = self._wm.observe_step(belief, prev_action, images)
    action = self._plan(self._wm.dynamics, self._wm.reward.mean, belief)
    action += noise * tf.random.normal(tf.shape(action))
    return tf.clip_by_value(action, -1.0, 1.0), belief

  def act(self, images: np.ndarray, explore: bool) -> np.ndarray:
    """Updates the beliefs with `images` (uint8, B x H x W x 3) and returns
    one action per environment (B x A): the plan, plus exploration noise if
    `explore`, clipped to [-1, 1]."""
    belief = self.belief
    noise = self._noise if explore else 0.0
    action, self._belief = self._policy(
        belief, self._action, tf.constant(images, tf.uint8),
        tf.constant(noise, tf.float32))
    self._action = action
    return action.numpy()
