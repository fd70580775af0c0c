"""Planning in latent space: the cross-entropy method of Algorithm 2.

Pure functions of (model, reward function, belief state): no variables, so
the agent compiles them into its `tf.function` and they run batched over all
J candidates at once. Each planner scores its candidates with an `evaluate`
function, by default `evaluate_sequences` (one rollout of all of them);
`in_groups` is the same computation in parts, the CPU performance layer
that the agent applies (`--planner_groups`). A new planner written against
`evaluate` gets it unchanged.
"""

from __future__ import annotations

from typing import Callable, Tuple

import tensorflow as tf
from absl import logging

from planet_tf.models.base import LatentModel, State

RewardFn = Callable[[tf.Tensor], tf.Tensor]  # features (..., F) -> mean reward
# (model, reward_fn, belief B, actions (B, J, H, A)) -> returns (B, J).
Evaluate = Callable[[LatentModel, RewardFn, State, tf.Tensor], tf.Tensor]


def _batch_size(state: State):
  """The belief's batch size: static where known, so loop shapes stay fixed."""
  some = next(iter(state.values()))
  return some.shape[0] if some.shape[0] is not None else tf.shape(some)[0]


def _flat_candidates(state: State, actions: tf.Tensor) -> Tuple[State, tf.Tensor]:
  """The B x J rollouts as rows: each belief repeated J times, and the
  actions (B, J, H, A) as (B * J, H, A)."""
  batch, candidates = tf.shape(actions)[0], tf.shape(actions)[1]
  horizon, action_size = actions.shape[2], actions.shape[3]
  start = {key: tf.repeat(value, candidates, axis=0)
           for key, value in state.items()}
  return start, tf.reshape(actions, [batch * candidates, horizon, action_size])


def rollout_returns(model: LatentModel, reward_fn: RewardFn, start: State,
                    actions: tf.Tensor) -> tf.Tensor:
  """Sum of predicted mean rewards along one sampled trajectory per row:
  start (N rows), actions (N, H, A) -> (N,)."""
  return tf.reduce_sum(reward_fn(model.features(model.imagine(actions, start))), 1)


def evaluate_sequences(model: LatentModel, reward_fn: RewardFn, state: State,
                       actions: tf.Tensor) -> tf.Tensor:
  """Sum of predicted mean rewards of s_{t+1..t+H} (Algorithm 2, lines 5-6).

  state: belief with batch B; actions: (B, J, H, A). One sampled state
  trajectory per candidate; returns (B, J). `in_groups` computes the same
  in parts.
  """
  shape = tf.shape(actions)[:2]
  start, flat = _flat_candidates(state, actions)
  return tf.reshape(rollout_returns(model, reward_fn, start, flat), shape)


def in_groups(groups: int) -> Evaluate:
  """`evaluate_sequences` with the B x J rollouts split into `groups`
  independent parts (sizes differing by at most one): a planner's
  `evaluate` giving the same values. TensorFlow runs the parts concurrently
  on its inter-op threads, which keeps the cores busy through each part's
  small ops. Where the number of rows is unknown when traced, or below
  `groups`, it is `evaluate_sequences` (one log line per trace)."""

  def evaluate(model: LatentModel, reward_fn: RewardFn, state: State,
               actions: tf.Tensor) -> tf.Tensor:
    shape = tf.shape(actions)[:2]
    start, flat = _flat_candidates(state, actions)
    rows = flat.shape[0]
    if rows is None or rows < groups:
      logging.info('Planner: %s rollouts do not split into %d groups; one '
                   'rollout instead.', rows, groups)
      return tf.reshape(rollout_returns(model, reward_fn, start, flat), shape)
    sizes = [rows // groups + (i < rows % groups) for i in range(groups)]
    parts = zip(tf.split(flat, sizes),
                *(tf.split(value, sizes) for value in start.values()))
    returns = [rollout_returns(model, reward_fn, dict(zip(start, part[1:])),
                               part[0]) for part in parts]
    return tf.reshape(tf.concat(returns, 0), shape)

  return evaluate


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
        top_k: int, std_estimator: str = 'std',
        evaluate: Evaluate = evaluate_sequences) -> tf.Tensor:
  """Algorithm 2: returns the first action mean (B, A) for a belief batch B.

  The action belief starts at N(0, I) at every call (no warm start). Sampled
  candidates are clipped to the action bounds [-1, 1] as the official code.
  `std_estimator` 'std' refits the standard deviation of the top K,
  sqrt(var + 1e-6), as the official code (0c6f7d3); 'abs_dev' refits
  sigma = sum_k |a_k - mu| / (K - 1) as Algorithm 2 prints it.
  `evaluate` scores the candidates (`evaluate_sequences`, or the same in
  parts: `in_groups`).
  """
  batch = _batch_size(state)
  shape = [batch, horizon, action_size]

  def iteration(step, mean, std):
    noise = tf.random.normal([batch, candidates, horizon, action_size])
    actions = tf.clip_by_value(mean[:, None] + std[:, None] * noise, -1.0, 1.0)
    returns = evaluate(model, reward_fn, state, actions)
    _, best = tf.math.top_k(returns, top_k, sorted=False)
    elite = tf.gather(actions, best, batch_dims=1)  # (B, K, H, A)
    mean, std = refit(elite, std_estimator)
    return step + 1, tf.reshape(mean, shape), tf.reshape(std, shape)

  # One iteration at a time: each draws its noise before anything it
  # depends on, so parallel iterations would take the random stream out of
  # order and the same seed would give other plans.
  _, mean, _ = tf.while_loop(
      lambda i, *_: i < iterations, iteration,
      (tf.constant(0), tf.zeros(shape), tf.ones(shape)), parallel_iterations=1)
  return mean[:, 0]


def random_shooting(model: LatentModel, reward_fn: RewardFn, state: State, *,
                    action_size: int, horizon: int, candidates: int,
                    evaluate: Evaluate = evaluate_sequences) -> tf.Tensor:
  """Paper Fig. 5's random shooting: the first action of the best of J
  sequences drawn from N(0, I) (clipped to [-1, 1]); one evaluation, no
  refit. Returns (B, A). `evaluate`: as for `cem`."""
  batch = _batch_size(state)
  noise = tf.random.normal([batch, candidates, horizon, action_size])
  actions = tf.clip_by_value(noise, -1.0, 1.0)
  returns = evaluate(model, reward_fn, state, actions)
  best = tf.argmax(returns, 1, output_type=tf.int32)
  return tf.gather(actions, best, batch_dims=1)[:, 0]

