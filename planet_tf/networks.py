"""Encoder, decoder and reward model as Keras layers (paper App. A).

The convolutional encoder and deconvolutional decoder are those of Ha &
Schmidhuber (2018) as in the official code. All layers accept any number of
leading batch dimensions, e.g. (B, T, 64, 64, 3).

Precision: each layer takes Keras' `dtype` policy and hands it to its
sublayers. Under 'mixed_bfloat16' (`--mixed_precision`) they compute in
bfloat16 and keep float32 weights; every layer here returns float32, so
distributions, losses and recurrent states stay in float32.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions


def _flatten_leading(x: tf.Tensor, keep: int):
  """Merges all but the last `keep` dimensions; returns the merged tensor and
  the leading shape to restore."""
  shape = tf.shape(x)
  leading = shape[:-keep]
  merged = tf.reshape(x, tf.concat([[-1], shape[-keep:]], 0))
  return merged, leading


class Encoder(keras.layers.Layer):
  """64x64x3 image -> 1024 features: 4 convs, kernel 4, stride 2, ReLU.

  Plain Keras. For training on a CPU the learner runs its backward pass in
  chunks of frames (`chunking.chunked_encoder`): same gradients, less memory.
  """

  def __init__(self, depth: int = 32, **kwargs):
    super().__init__(**kwargs)
    self.convs = [
        keras.layers.Conv2D(mult * depth, 4, strides=2, activation='relu',
                            dtype=self.dtype_policy)
        for mult in (1, 2, 4, 8)]
    self.output_size = 2 * 2 * 8 * depth

  def build(self, input_shape):
    shape = (None,) + tuple(input_shape[-3:])
    for conv in self.convs:
      conv.build(shape)
      shape = conv.compute_output_shape(shape)

  def call(self, image: tf.Tensor) -> tf.Tensor:
    x, leading = _flatten_leading(image, 3)
    for conv in self.convs:
      x = conv(x)
    x = tf.reshape(x, tf.concat([leading, [self.output_size]], 0))
    return tf.cast(x, tf.float32)


class DenseToGrid(keras.layers.Layer):
  """A transposed conv from a 1x1 input, computed as one matmul.

  Conv2DTranspose(filters, k, 'valid') applied to a 1x1xC input gives
  out[i, j, f] = sum_c x[c] W[i, j, f, c] + b[f]: a dense layer with a
  k*k*filters output and one bias per filter. TF's transposed conv from a
  1x1 input is slow without XLA (docs/performance.md); this matmul is not.
  The initialiser scale is that of the transposed conv.

  Its weights, a (C, k*k*filters) kernel and one bias per filter, are the
  checkpoint layout of every run so far: a Conv2DTranspose holds a
  (k, k, filters, C) kernel, and no plain Keras layer holds these two, so
  the layer stays. A new decoder can use Conv2DTranspose itself (slow from
  a 1x1 input on a CPU without XLA).
  """

  def __init__(self, filters: int, kernel_size: int, activation=None, **kwargs):
    super().__init__(**kwargs)
    self.filters = filters
    self.kernel_size = kernel_size
    self.activation = keras.activations.get(activation)

  def build(self, input_shape):
    channels = int(input_shape[-1])
    area = self.kernel_size ** 2
    # Glorot-uniform limit of the equivalent Conv2DTranspose kernel.
    limit = math.sqrt(6.0 / (area * self.filters + area * channels))
    self.kernel = self.add_weight(
        name='kernel', shape=(channels, area * self.filters),
        initializer=keras.initializers.RandomUniform(-limit, limit))
    self.bias = self.add_weight(
        name='bias', shape=(self.filters,), initializer='zeros')

  def call(self, x: tf.Tensor) -> tf.Tensor:
    y = tf.matmul(x, tf.cast(self.kernel, x.dtype))
    y = tf.reshape(y, [-1, self.kernel_size, self.kernel_size, self.filters])
    return self.activation(y + tf.cast(self.bias, x.dtype))



class Decoder(keras.layers.Layer):
  """Features -> Normal(mean image, 1) over 64x64x3 (paper App. A).

  Dense(1024, linear), reshape to 1x1, deconvs 128 (k5), 64 (k5), 32 (k6)
  with ReLU and 3 (k6), stride 2. The first deconv is `DenseToGrid`.
  """

  def __init__(self, depth: int = 32, embed_size: int = 1024, **kwargs):
    super().__init__(**kwargs)
    policy = self.dtype_policy
    self.dense = keras.layers.Dense(embed_size, dtype=policy)
    self.grid = DenseToGrid(4 * depth, 5, activation='relu', dtype=policy)
    self.deconvs = [
        keras.layers.Conv2DTranspose(2 * depth, 5, strides=2, activation='relu',
                                     dtype=policy),
        keras.layers.Conv2DTranspose(depth, 6, strides=2, activation='relu',
                                     dtype=policy),
        keras.layers.Conv2DTranspose(3, 6, strides=2, dtype=policy)]

  def build(self, input_shape):
    self.dense.build((None, int(input_shape[-1])))
    self.grid.build((None, self.dense.units))
    shape = (None, 5, 5, self.grid.filters)
    for deconv in self.deconvs:
      deconv.build(shape)
      shape = deconv.compute_output_shape(shape)

  def mean(self, features: tf.Tensor) -> tf.Tensor:
    x, leading = _flatten_leading(features, 1)
    x = self.grid(self.dense(x))
    for deconv in self.deconvs:
      x = deconv(x)
    x = tf.reshape(x, tf.concat([leading, [64, 64, 3]], 0))
    return tf.cast(x, tf.float32)

  def call(self, features: tf.Tensor) -> tfd.Distribution:
    return tfd.Independent(tfd.Normal(self.mean(features), 1.0), 3)


class RewardModel(keras.layers.Layer):
  """Features -> Normal(mean reward, 1): `layers` x `units` ReLU, then linear."""

  def __init__(self, layers: int = 2, units: int = 200, **kwargs):
    super().__init__(**kwargs)
    self.hidden = [keras.layers.Dense(units, activation='relu',
                                      dtype=self.dtype_policy)
                   for _ in range(layers)]
    self.out = keras.layers.Dense(1, dtype=self.dtype_policy)

  def build(self, input_shape):
    size = int(input_shape[-1])
    for layer in self.hidden:
      layer.build((None, size))
      size = layer.units
    self.out.build((None, size))

  def mean(self, features: tf.Tensor) -> tf.Tensor:
    x = features
    for layer in self.hidden:
      x = layer(x)
    return tf.cast(tf.squeeze(self.out(x), -1), tf.float32)

  def call(self, features: tf.Tensor) -> tfd.Distribution:
    return tfd.Normal(self.mean(features), 1.0)
