"""Purely stochastic state-space model (paper Fig. 2b, Fig. 4's "SSM").

Wiring as the official code's SSM:
Prior:     s_t ~ N(mean, std) from Dense_relu([s_{t-1}, a_t])
Posterior: s_t ~ N(mean, std) from Dense_relu([prior mean, prior std, embed(o_t)])
Features are s_t alone: nothing deterministic carries information over time.
"""

from __future__ import annotations

from typing import Dict, Tuple

import tensorflow as tf

from planet_tf.models.base import LatentModel, State
from planet_tf.models.layers import GaussianHead, sample


class SSM(LatentModel):
  """Stochastic transitions only."""

  def __init__(self, action_size: int, embed_size: int = 1024,
               stoch_size: int = 30, hidden_size: int = 200,
               min_std: float = 0.1, **kwargs):
    super().__init__(action_size, embed_size, **kwargs)
    policy = self.dtype_policy
    self.stoch_size = stoch_size
    self.prior_hidden = self.hidden_layer(hidden_size)
    self.prior_head = GaussianHead(stoch_size, min_std, dtype=policy)
    self.post_hidden = self.hidden_layer(hidden_size)
    self.post_head = GaussianHead(stoch_size, min_std, dtype=policy)
    self.build_for()

  @property
  def state_sizes(self) -> Dict[str, int]:
    return {'mean': self.stoch_size, 'std': self.stoch_size,
            'stoch': self.stoch_size}

  @property
  def feature_size(self) -> int:
    return self.stoch_size

  def img_step(self, state: State, action: tf.Tensor) -> State:
    x = self.prior_hidden(tf.concat([state['stoch'], action], -1))
    mean, std = self.prior_head(x)
    return {'mean': mean, 'std': std, 'stoch': sample(mean, std)}

  def obs_step(self, state: State, action: tf.Tensor,
               embed: tf.Tensor) -> Tuple[State, State]:
    prior = self.img_step(state, action)
    x = self.post_hidden(tf.concat([prior['mean'], prior['std'], embed], -1))
    mean, std = self.post_head(x)
    return {'mean': mean, 'std': std, 'stoch': sample(mean, std)}, prior

  def features(self, state: State) -> tf.Tensor:
    return state['stoch']
