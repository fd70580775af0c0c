"""The contract every latent dynamics model implements.

A state is a dict of (batch, size) tensors. `img_step` is the prior
transition p(s_t | s_{t-1}, a_t) (actions indexed as in `replay`), `obs_step`
the posterior q(s_t | s_{t-1}, a_t, o_t), which calls `img_step` once and
returns both. `observe` and `imagine` run them over time as symbolic loops
(`tf.scan`), so that tracing does not grow with the sequence length, one
step at a time: a step's noise depends on no earlier step (its shape is
static), so parallel steps would take the random stream out of order and
the same seed would give other samples.
Objectives, planner and agent use only this contract and never branch on the
model type.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import keras
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions
State = Dict[str, tf.Tensor]


def _swap_first_axes(t):
  t = tf.convert_to_tensor(t)
  return tf.transpose(t, [1, 0] + list(range(2, t.shape.rank)))


def _time_major(x):
  return tf.nest.map_structure(_swap_first_axes, x)


_batch_major = _time_major  # Swapping the first two axes is its own inverse.


class LatentModel(keras.layers.Layer):
  """Base class: subclasses define `state_sizes`, `img_step`, `obs_step`,
  `features` and, if stochastic, keep `mean` and `std` in the state."""

  stochastic: bool = True

  def __init__(self, action_size: int, embed_size: int, **kwargs):
    super().__init__(**kwargs)
    self.action_size = action_size
    self.embed_size = embed_size

  @property
  def state_sizes(self) -> Dict[str, int]:
    raise NotImplementedError

  @property
  def feature_size(self) -> int:
    raise NotImplementedError

  def initial(self, batch_size) -> State:
    """The fixed initial state s_0: zeros."""
    return {key: tf.zeros([batch_size, size])
            for key, size in self.state_sizes.items()}

  def hidden_layer(self, units: int) -> keras.layers.Layer:
    """A ReLU dense layer computing in this model's dtype policy."""
    return keras.layers.Dense(units, activation='relu',
                              dtype=self.dtype_policy)

  def img_step(self, state: State, action: tf.Tensor) -> State:
    raise NotImplementedError

  def obs_step(self, state: State, action: tf.Tensor,
               embed: tf.Tensor) -> Tuple[State, State]:
    raise NotImplementedError

  def features(self, state: State) -> tf.Tensor:
    raise NotImplementedError

  def dist(self, state: State) -> tfd.Distribution:
    """The diagonal Gaussian over the stochastic state."""
    return tfd.MultivariateNormalDiag(state['mean'], state['std'])

  def observe(self, embed: tf.Tensor, actions: tf.Tensor,
              state: Optional[State] = None) -> Tuple[State, State]:
    """Filters a sequence: embed (B, T, E), actions (B, T, A) -> posterior
    and prior states with (B, T, size) tensors."""
    if state is None:
      state = self.initial(tf.shape(actions)[0])
    def step(previous, inputs):
      action, embedding = inputs
      return self.obs_step(previous[0], action, embedding)
    post, prior = tf.scan(
        step, (_time_major(actions), _time_major(embed)),
        initializer=(state, state), parallel_iterations=1)
    return _batch_major(post), _batch_major(prior)

  def imagine(self, actions: tf.Tensor, state: State) -> State:
    """Rolls the prior forward from `state`: actions (B, T, A) -> states
    with (B, T, size) tensors."""
    prior = tf.scan(self.img_step, _time_major(actions), initializer=state,
                    parallel_iterations=1)
    return _batch_major(prior)

  def build_for(self) -> None:
    """Creates every variable by running one step on dummy inputs, so that
    no variable is first created inside a symbolic loop."""
    state = self.initial(1)
    action = tf.zeros([1, self.action_size])
    self.obs_step(state, action, tf.zeros([1, self.embed_size]))
    self.built = True
