"""Planning in latent space: the cross-entropy method of Algorithm 2.

Pure functions of (model, reward function, belief state): no variables, so
the agent compiles them into its `tf.function` and they run batched over all
J candidates at once.
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from planet_tf.models.base import LatentModel, State

RewardFn = Callable[[tf.Tensor], tf.Tensor]  # features (..., F) -> mean reward


def _batch_size(state: State):
  """The belief's batch size: static where known, so loop shapes stay fixed."""
  some = next(iter(state.values()))
  return some.shape[0] if some.shape[0] is not None else tf.shape(some)[0]


def evaluate_sequences(model: LatentModel, reward_fn: RewardFn, state: State,
                       actions: tf.Tensor, groups: int = 1) -> tf.Tensor:
  """Sum of predicted mean rewards of s_{t+1..t+H} (Algorithm 2, lines 5-6).

  state: belief with batch B; actions: (B, J, H, A). One sampled state
  trajectory per candidate; returns (B, J). `groups` > 1 rolls the
  candidates out in that many independent parts, which TensorFlow runs
  concurrently on its inter-op threads, keeping the cores busy through
  each part's small ops; the values are the same.
  """
  batch, candidates = tf.shape(actions)[0], tf.shape(actions)[1]
  horizon, action_size = actions.shape[2], actions.shape[3]
  start = {key: tf.repeat(value, candidates, axis=0)
           for key, value in state.items()}
  flat = tf.reshape(actions, [batch * candidates, horizon, action_size])
  rows = flat.shape[0]
  if groups > 1 and rows is not None and rows >= groups:
    sizes = [rows // groups + (i < rows % groups) for i in range(groups)]
    parts = zip(tf.split(flat, sizes),
                *(tf.split(value, sizes) for value in start.values()))
    parts = [(part[0], dict(zip(start, part[1:]))) for part in parts]
  else:
    parts = [(flat, start)]
  returns = [tf.reduce_sum(reward_fn(model.features(model.imagine(*part))), 1)
             for part in parts]
  return tf.reshape(tf.concat(returns, 0), [batch, candidates])


def refit(elite: tf.Tensor, std_estimator: str = 'std'):
  """Algorithm 2, line 8: the action belief's mean and sigma fitted to the
  top-K sequences `elite` (B, K, H, A), over K.

  'std': sqrt(var + 1e-6), the official code's (0c6f7d3); 'abs_dev':
  sum_k |a_k - mu| / (K - 1), Algorithm 2 as printed.
  """
  mean = tf.reduce_mean(elite, 1)
  if std_estimator == 'abs_dev':
    top_k = tf.cast(tf.shape(elite)[1], elite.dtype)
    std = tf.reduce_sum(tf.abs(elite - mean[:, None]), 1) / (top_k - 1)
  elif std_estimator == 'std':
    std = tf.sqrt(tf.math.reduce_variance(elite, 1) + 1e-6)
  else:
    raise ValueError(f"Unknown std_estimator '{std_estimator}': std or abs_dev.")
  return mean, std


def cem(model: LatentModel, reward_fn: RewardFn, state: State, *,
        action_size: int, horizon: int, iterations: int, candidates: int,
        top_k: int, std_estimator: str = 'std', groups: int = 1) -> tf.Tensor:
  """Algorithm 2: returns the first action mean (B, A) for a belief batch B.

  The action belief starts at N(0, I) at every call (no warm start). Sampled
  candidates are clipped to the action bounds [-1, 1] as the official code.
  `std_estimator` 'std' refits the standard deviation of the top K,
  sqrt(var + 1e-6), as the official code (0c6f7d3); 'abs_dev' refits
  sigma = sum_k |a_k - mu| / (K - 1) as Algorithm 2 prints it.
  `groups`: see `evaluate_sequences`.
  """
  batch = _batch_size(state)
  shape = [batch, horizon, action_size]

  def iteration(step, mean, std):
    noise = tf.random.normal([batch, candidates, horizon, action_size])
    actions = tf.clip_by_value(mean[:, None] + std[:, None] * noise, -1.0, 1.0)
    returns = evaluate_sequences(model, reward_fn, state, actions, groups)
    _, best = tf.math.top_k(returns, top_k, sorted=False)
    elite = tf.gather(actions, best, batch_dims=1)  # (B, K, H, A)
    mean, std = refit(elite, std_estimator)
    return step + 1, tf.reshape(mean, shape), tf.reshape(std, shape)

  _, mean, _ = tf.while_loop(
      lambda i, *_: i < iterations, iteration,
      (tf.constant(0), tf.zeros(shape), tf.ones(shape)))
  return mean[:, 0]


def random_shooting(model: LatentModel, reward_fn: RewardFn, state: State, *,
                    action_size: int, horizon: int, candidates: int,
                    groups: int = 1) -> tf.Tensor:
  """Paper Fig. 5's random shooting: the first action of the best of J
  sequences drawn from N(0, I) (clipped to [-1, 1]); one evaluation, no
  refit. Returns (B, A). `groups`: see `evaluate_sequences`."""
  batch = _batch_size(state)
  noise = tf.random.normal([batch, candidates, horizon, action_size])
  actions = tf.clip_by_value(noise, -1.0, 1.0)
  returns = evaluate_sequences(model, reward_fn, state, actions, groups)
  best = tf.argmax(returns, 1, output_type=tf.int32)
  return tf.gather(actions, best, batch_dims=1)[:, 0]

