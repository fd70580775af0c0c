"""Purely deterministic recurrent model (paper Fig. 2a, Fig. 4's "RNN").

h_t = GRU(h_{t-1}, Dense_relu([a_t, embed(o_t)])) when o_t is observed. The
prior is the same cell fed a zero embedding, as the official code's models
build their prior from the posterior cell with zero observations
(models/drnn.py, control/planning.py). No stochastic state, so no KL term:
the loss is reconstruction and reward only, and nothing trains the
observation-free transitions that planning uses (the paper's point).
"""

from __future__ import annotations

from typing import Dict, Tuple

import tensorflow as tf

from planet_tf.models.base import LatentModel, State
from planet_tf.models.layers import GRUCell


class RNN(LatentModel):
  """Deterministic GRU transitions only."""

  stochastic = False

  def __init__(self, action_size: int, embed_size: int = 1024,
               deter_size: int = 200, hidden_size: int = 200, **kwargs):
    super().__init__(action_size, embed_size, **kwargs)
    policy = self.dtype_policy
    self.deter_size = deter_size
    self.input_layer = self.hidden_layer(hidden_size)
    self.cell = GRUCell(deter_size, dtype=policy)
    self.build_for()

  @property
  def state_sizes(self) -> Dict[str, int]:
    return {'deter': self.deter_size}

  @property
  def feature_size(self) -> int:
    return self.deter_size

  def _step(self, state: State, action: tf.Tensor, embed: tf.Tensor) -> State:
    x = self.input_layer(tf.concat([action, embed], -1))
    return {'deter': self.cell(x, state['deter'])}

  def img_step(self, state: State, action: tf.Tensor) -> State:
    batch = tf.shape(action)[0]
    return self._step(state, action, tf.zeros([batch, self.embed_size]))

  def obs_step(self, state: State, action: tf.Tensor,
               embed: tf.Tensor) -> Tuple[State, State]:
    return self._step(state, action, embed), self.img_step(state, action)

  def features(self, state: State) -> tf.Tensor:
    return state['deter']

  def dist(self, state: State):
    raise TypeError('The RNN model has no stochastic state to form a '
                    'distribution over.')
