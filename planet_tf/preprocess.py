"""Image preprocessing: 5-bit quantisation with uniform dequantisation noise.

Paper App. A (after Kingma & Dhariwal, 2018); the formula follows the official
code: x -> floor(x / 2^(8-b)) / 2^b + U(0, 2^-b) - 0.5, so values lie in
[-0.5, 0.5). This is the one place frames are quantised: the replay stores
the raw uint8 frames and both the training step and the agent call
`preprocess` inside their compiled graphs.
"""

import tensorflow as tf


def preprocess(image: tf.Tensor, bit_depth: int = 5,
               noise: bool = True) -> tf.Tensor:
  """uint8 frames -> float32 in [-0.5, 0.5), reduced to `bit_depth` bits."""
  bins = 2 ** bit_depth
  image = tf.cast(image, tf.float32)
  if bit_depth < 8:
    image = tf.floor(image / 2 ** (8 - bit_depth))
  image = image / bins
  if noise:
    image = image + tf.random.uniform(tf.shape(image), 0.0, 1.0 / bins)
  return image - 0.5


def postprocess(image: tf.Tensor, bit_depth: int = 5) -> tf.Tensor:
  """Inverse of `preprocess` for pictures: float -> uint8 on the bit grid."""
  bins = 2 ** bit_depth
  image = tf.floor(bins * (image + 0.5)) * (256.0 / bins)
  return tf.cast(tf.clip_by_value(image, 0.0, 255.0), tf.uint8)
