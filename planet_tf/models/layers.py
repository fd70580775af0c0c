"""Building blocks of the latent models: a Gaussian head, its sample, a GRU.

Each computes in its layer's dtype policy and returns float32 (states and
distributions stay float32 under `--mixed_precision`).
"""

from __future__ import annotations

from typing import Tuple

import keras
import tensorflow as tf


class GaussianHead(keras.layers.Layer):
  """Dense(2 * size) -> (mean, softplus(std) + min_std), in float32 whatever
  the dense layer's compute dtype."""

  def __init__(self, size: int, min_std: float, **kwargs):
    super().__init__(**kwargs)
    self.size = size
    self.min_std = min_std
    self.dense = keras.layers.Dense(2 * size, dtype=self.dtype_policy)

  def build(self, input_shape):
    self.dense.build((None, int(input_shape[-1])))

  def call(self, x: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
    mean, std = tf.split(tf.cast(self.dense(x), tf.float32), 2, -1)
    return mean, tf.nn.softplus(std) + self.min_std


def sample(mean: tf.Tensor, std: tf.Tensor) -> tf.Tensor:
  """A reparameterised sample of N(mean, std^2)."""
  return mean + std * tf.random.normal(tf.shape(mean))


class GRUCell(keras.layers.Layer):
  """GRU (Cho et al., 2014) as TF1's GRU cells that the official code used.

  r, u = sigmoid(W [x, h] + b) with b initialised to 1;
  c = tanh(W_c [x, r * h] + b_c); h' = u * h + (1 - u) * c.
  The state h keeps its own dtype (float32) under a mixed policy: only the
  two dense layers compute in the policy's dtype.
  """

  def __init__(self, units: int, **kwargs):
    super().__init__(autocast=False, **kwargs)
    self.units = units
    self.gates = keras.layers.Dense(
        2 * units, activation='sigmoid', bias_initializer='ones',
        dtype=self.dtype_policy)
    self.candidate = keras.layers.Dense(units, activation='tanh',
                                        dtype=self.dtype_policy)

  def build(self, input_shape):
    size = int(input_shape[-1]) + self.units
    self.gates.build((None, size))
    self.candidate.build((None, size))

  def call(self, x: tf.Tensor, h: tf.Tensor) -> tf.Tensor:
    x = tf.cast(x, h.dtype)
    gates = tf.cast(self.gates(tf.concat([x, h], -1)), h.dtype)
    reset, update = tf.split(gates, 2, -1)
    candidate = self.candidate(tf.concat([x, reset * h], -1))
    return update * h + (1.0 - update) * tf.cast(candidate, h.dtype)
