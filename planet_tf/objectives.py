"""The training objectives: the bound of paper Eq. 3 and latent overshooting (Eq. 7).

Eq. 3:
loss = E_t[-ln p(o_t | s_t)] + reward_scale * E_t[-ln p(r_t | s_t)]
       + kl_scale * E_t[max(KL[q(s_t | ...) || p(s_t | s_{t-1}, a_t)], free_nats)]

Expectations are means over batch and time of a single reparameterised
posterior sample. Free nats clip each time step's KL from below, then the
mean is taken, as in the official code (training/utility.py).

Eq. 7 (latent overshooting, distance D > 1) replaces the KL term by
(1/D) sum_{d=1..D} beta_d E_t[max(KL[q(s_t) || p(s_t | s_{t-d})], free_nats)]
with beta_1 = kl_scale and beta_{d>1} = overshooting_scale.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import tensorflow as tf
import tensorflow_probability as tfp

from planet_tf.chunking import FrameSum
from planet_tf.models.base import LatentModel, State

tfd = tfp.distributions


def kl_with_free_nats(post_dist: tfd.Distribution, prior_dist: tfd.Distribution,
                      free_nats: float) -> Tuple[tf.Tensor, tf.Tensor]:
  """Returns (mean of max(KL_t, free_nats), mean raw KL) over all steps."""
  kl = tfd.kl_divergence(post_dist, prior_dist)
  return tf.reduce_mean(tf.maximum(kl, free_nats)), tf.reduce_mean(kl)


def _shift_right(state: State, first: State) -> State:
  """state[:, t - 1] at position t; `first` (B, ...) at position 0."""
  return {key: tf.concat([first[key][:, None], value[:, :-1]], 1)
          for key, value in state.items()}


def latent_overshooting_kl(
    model: LatentModel, post: State, prior: State, actions: tf.Tensor, *,
    distance: int, kl_scale: float, overshooting_scale: float,
    free_nats: float) -> Tuple[tf.Tensor, Dict[str, tf.Tensor]]:
  """The KL part of Eq. 7 for distances 1..D.

  The d-step prior of s_t rolls the transition d times from the posterior
  sample at t - d (the fixed initial state when t - d = -1), applying
  action[t-d+1..t]; it is computed for all t at once from the (d-1)-step
  priors shifted by one step. Terms whose start lies before the chunk are
  absent; each distance is summed over its valid terms and divided by B * T,
  as the d = 1 term. Posteriors are targets without gradient for d > 1.
  """
  shape = tf.shape(actions)
  batch, length = shape[0], shape[1]
  positions = tf.range(length)[None, :]
  targets = model.dist({k: tf.stop_gradient(v) for k, v in post.items()})
  initial = model.initial(batch)
  one_step, _ = kl_with_free_nats(model.dist(post), model.dist(prior), free_nats)
  flat = lambda t: tf.reshape(t, tf.concat([[-1], tf.shape(t)[2:]], 0))
  unflat = lambda t: tf.reshape(t, tf.concat([[batch, length], tf.shape(t)[1:]], 0))
  flat_actions = flat(actions)

  def body(d, previous, total):
    start = tf.nest.map_structure(flat, _shift_right(previous, initial))
    current = tf.nest.map_structure(unflat, model.img_step(start, flat_actions))
    kl = tf.maximum(tfd.kl_divergence(targets, model.dist(current)), free_nats)
    valid = tf.cast(positions >= d - 1, kl.dtype)  # Start index t - d >= -1.
    return d + 1, current, total + tf.reduce_sum(kl * valid)

  prior = {key: prior[key] for key in model.state_sizes}
  # One distance at a time, as `tf.scan` in the models: the random stream
  # in order.
  _, _, total = tf.while_loop(
      lambda d, *_: d <= distance, body, (tf.constant(2), prior, tf.constant(0.0)),
      parallel_iterations=1)
  multi_step = total / tf.cast(batch * length, tf.float32)
  loss = (kl_scale * one_step + overshooting_scale * multi_step) / distance
  return loss, {'overshooting_kl_loss': multi_step / max(distance - 1, 1)}


def _plain_sum(fn, inputs: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
  return fn(inputs, targets)


def image_nll(decoder, features: tf.Tensor, images: tf.Tensor,
              frame_sum: Optional[FrameSum] = None) -> tf.Tensor:
  """E_t[-ln p(o_t | s_t)]: the mean over all frames of the decoder's NLL.

  `frame_sum(fn, features, images)` computes the sum of the NLL over the
  frames; None: at once. The learner passes `chunking`'s, which decodes the
  frames in sequential chunks: the same value and gradients, a fraction of
  the decoder's activation memory.
  """
  flat_features = tf.reshape(features, [-1, features.shape[-1]])
  flat_images = tf.reshape(images, tf.concat([[-1], tf.shape(images)[-3:]], 0))
  frames = tf.cast(tf.shape(flat_features)[0], tf.float32)

  def nll_sum(chunk_features, chunk_images):
    return -tf.reduce_sum(decoder(chunk_features).log_prob(chunk_images))

  total = (frame_sum or _plain_sum)(nll_sum, flat_features, flat_images)
  return total / frames


def elbo_loss(model: LatentModel, decoder, reward_model, post: State,
              prior: State, images: tf.Tensor, rewards: tf.Tensor, *,
              free_nats: float, kl_scale: float, reward_scale: float,
              actions: Optional[tf.Tensor] = None, overshooting: int = 0,
              overshooting_scale: float = 0.0,
              frame_sum: Optional[FrameSum] = None,
              ) -> Tuple[tf.Tensor, Dict[str, tf.Tensor]]:
  """Eq. 3 (or Eq. 7 with overshooting > 1) for one batch; returns the loss
  and each term for logging.

  images: preprocessed (B, T, 64, 64, 3); rewards (B, T); actions (B, T, A)
  (needed for overshooting); post and prior as returned by `model.observe`;
  frame_sum: see `image_nll`.
  """
  features = model.features(post)
  image_term = image_nll(decoder, features, images, frame_sum)
  reward_nll = -tf.reduce_mean(reward_model(features).log_prob(rewards))
  loss = image_term + reward_scale * reward_nll
  metrics = {'image_nll': image_term, 'reward_nll': reward_nll}
  if model.stochastic:
    post_dist, prior_dist = model.dist(post), model.dist(prior)
    kl_loss, kl = kl_with_free_nats(post_dist, prior_dist, free_nats)
    if overshooting > 1:
      kl_term, extra = latent_overshooting_kl(
          model, post, prior, actions, distance=overshooting,
          kl_scale=kl_scale, overshooting_scale=overshooting_scale,
          free_nats=free_nats)
      metrics.update(extra)
    else:
      kl_term = kl_scale * kl_loss
    loss += kl_term
    metrics.update(kl=kl, kl_loss=kl_loss,
                   prior_entropy=tf.reduce_mean(prior_dist.entropy()),
                   post_entropy=tf.reduce_mean(post_dist.entropy()))
  metrics['loss'] = loss
  return loss, metrics
