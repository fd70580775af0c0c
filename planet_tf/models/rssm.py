"""Recurrent state-space model (paper Sec. 3, Eq. 4; layers as the official code).

Prior:     h_t = GRU(h_{t-1}, Dense_relu([s_{t-1}, a_t]))
           s_t ~ N(mean, std) from Dense_relu(h_t)
Posterior: s_t ~ N(mean, std) from Dense_relu([h_t, embed(o_t)])
std = softplus(x) + min_std. Features for the decoder and reward model are
[s_t, h_t]; the posterior reaches them only through its sample s_t, so there
is no deterministic shortcut from the observation to the reconstruction.
"""

from __future__ import annotations

from typing import Dict, Tuple

import tensorflow as tf

from planet_tf.models.base import LatentModel, State
from planet_tf.models.layers import GaussianHead, GRUCell, sample


class RSSM(LatentModel):
  """Deterministic GRU path plus stochastic Gaussian state."""

  def __init__(self, action_size: int, embed_size: int = 1024,
               stoch_size: int = 30, deter_size: int = 200,
               hidden_size: int = 200, min_std: float = 0.1, **kwargs):
    super().__init__(action_size, embed_size, **kwargs)
    policy = self.dtype_policy
    self.stoch_size = stoch_size
    self.deter_size = deter_size
    self.prior_input = self.hidden_layer(hidden_size)
    self.cell = GRUCell(deter_size, dtype=policy)
    self.prior_hidden = self.hidden_layer(hidden_size)
    self.prior_head = GaussianHead(stoch_size, min_std, dtype=policy)
    self.post_hidden = self.hidden_layer(hidden_size)
    self.post_head = GaussianHead(stoch_size, min_std, dtype=policy)
    self.build_for()

  @property
  def state_sizes(self) -> Dict[str, int]:
    return {'mean': self.stoch_size, 'std': self.stoch_size,
            'stoch': self.stoch_size, 'deter': self.deter_size}

  @property
  def feature_size(self) -> int:
    return self.stoch_size + self.deter_size

  def img_step(self, state: State, action: tf.Tensor) -> State:
    x = self.prior_input(tf.concat([state['stoch'], action], -1))
    deter = self.cell(x, state['deter'])
    mean, std = self.prior_head(self.prior_hidden(deter))
    return {'mean': mean, 'std': std, 'stoch': sample(mean, std),
            'deter': deter}

  def obs_step(self, state: State, action: tf.Tensor,
               embed: tf.Tensor) -> Tuple[State, State]:
    prior = self.img_step(state, action)
    x = self.post_hidden(tf.concat([prior['deter'], embed], -1))
    mean, std = self.post_head(x)
    post = {'mean': mean, 'std': std, 'stoch': sample(mean, std),
            'deter': prior['deter']}
    return post, prior

  def features(self, state: State) -> tf.Tensor:
    return tf.concat([state['stoch'], state['deter']], -1)
