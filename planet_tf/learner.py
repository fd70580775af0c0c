"""Learning the world model: the optimiser and one compiled update.

Adam with the paper's rate and epsilon, a linear warm-up of the learning rate
(official code, converted to updates), the gradients' global norm clipped,
and updates whose loss or gradient norm is not finite skipped.
"""

from __future__ import annotations

import functools
from typing import Callable, Tuple

import keras
import tensorflow as tf

from planet_tf import chunking
from planet_tf.config import Config
from planet_tf.world_model import WorldModel


class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
  """lr * min(1, step / warmup_steps), `step` counting updates.

  The official code's schedule (camera-ready commit 0c6f7d3) in its units
  converted: it ramps over 10,000 trainer steps of one sample each, that is
  10,000 / batch size 50 = 200 updates.
  """

  def __init__(self, learning_rate: float, warmup_steps: int):
    self.learning_rate = learning_rate
    self.warmup_steps = warmup_steps

  def __call__(self, step):
    if not self.warmup_steps:
      return tf.constant(self.learning_rate, tf.float32)
    ramp = tf.cast(step, tf.float32) / float(self.warmup_steps)
    return self.learning_rate * tf.minimum(ramp, 1.0)

  def get_config(self):
    return {'learning_rate': self.learning_rate,
            'warmup_steps': self.warmup_steps}


def make_optimizer(config: Config) -> keras.optimizers.Optimizer:
  """Adam with the paper's epsilon and the official code's warm-up."""
  return keras.optimizers.Adam(
      LinearWarmup(config.learning_rate, config.warmup_steps),
      epsilon=config.adam_epsilon)


def make_loss(world_model: WorldModel) -> Callable[..., Tuple[tf.Tensor, dict]]:
  """`world_model.loss` with the chunked backward passes of its config's
  `backward_chunks` applied where they apply (`chunking.backward_passes`):
  the same values and gradients in less memory. Takes (images, actions,
  rewards)."""
  size = world_model.config.image_size
  passes = chunking.backward_passes(
      world_model.encoder, world_model.decoder,
      world_model.config.backward_chunks, (size, size, 3))
  return functools.partial(world_model.loss, **passes)


def make_train_step(world_model: WorldModel, optimizer, config: Config,
                    jit_compile: bool = False):
  """A compiled update: loss of Eq. 3 (`make_loss`), clipped gradients,
  one Adam step.

  If the loss or the gradients' global norm is not finite, the Adam step is
  skipped (variables, moments and `optimizer.iterations` stay unchanged) and
  the returned `metrics['finite']` is False.
  """
  variables = world_model.trainable_variables
  optimizer.build(variables)
  loss_fn = make_loss(world_model)

  @tf.function(jit_compile=jit_compile)
  def train_step(images, actions, rewards):
    with tf.GradientTape() as tape:
      loss, metrics = loss_fn(images, actions, rewards)
    grads = tape.gradient(loss, variables)
    grads, norm = tf.clip_by_global_norm(grads, config.grad_clip_norm)
    metrics['learning_rate'] = optimizer.learning_rate
    finite = tf.logical_and(tf.math.is_finite(loss), tf.math.is_finite(norm))

    def apply():
      optimizer.apply_gradients(zip(grads, variables))
      return tf.constant(True)

    metrics['finite'] = tf.cond(finite, apply, lambda: tf.constant(False))
    metrics['grad_norm'] = norm
    return metrics

  return train_step
