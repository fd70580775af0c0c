"""The training objective: the variational bound of paper Eq. 3.

loss = E_t[-ln p(o_t | s_t)] + reward_scale * E_t[-ln p(r_t | s_t)]
       + kl_scale * E_t[max(KL[q(s_t | ...) || p(s_t | s_{t-1}, a_t)], free_nats)]

Expectations are means over batch and time of a single reparameterised
posterior sample. Free nats clip each time step's KL from below, then the
mean is taken, as in the official code (training/utility.py).
"""

from __future__ import annotations

from typing import Dict, Tuple

import tensorflow as tf
import tensorflow_probability as tfp

from planet_tf.models.base import LatentModel, State

tfd = tfp.distributions


def kl_with_free_nats(post_dist: tfd.Distribution, prior_dist: tfd.Distribution,
                      free_nats: float) -> Tuple[tf.Tensor, tf.Tensor]:
  """Returns (mean of max(KL_t, free_nats), mean raw KL) over all steps."""
  kl = tfd.kl_divergence(post_dist, prior_dist)
  return tf.reduce_mean(tf.maximum(kl, free_nats)), tf.reduce_mean(kl)


def elbo_loss(model: LatentModel, decoder, reward_model, post: State,
              prior: State, images: tf.Tensor, rewards: tf.Tensor, *,
              free_nats: float, kl_scale: float,
              reward_scale: float) -> Tuple[tf.Tensor, Dict[str, tf.Tensor]]:
  """Eq. 3 for one batch; returns the loss and each term for logging.

  images: preprocessed (B, T, 64, 64, 3); rewards (B, T); post and prior as
  returned by `model.observe`.
  """
  features = model.features(post)
  image_nll = -tf.reduce_mean(decoder(features).log_prob(images))
  reward_nll = -tf.reduce_mean(reward_model(features).log_prob(rewards))
  loss = image_nll + reward_scale * reward_nll
  metrics = {'image_nll': image_nll, 'reward_nll': reward_nll}
  if model.stochastic:
    post_dist, prior_dist = model.dist(post), model.dist(prior)
    kl_loss, kl = kl_with_free_nats(post_dist, prior_dist, free_nats)
    loss += kl_scale * kl_loss
    metrics.update(kl=kl, kl_loss=kl_loss,
                   prior_entropy=tf.reduce_mean(prior_dist.entropy()),
                   post_entropy=tf.reduce_mean(post_dist.entropy()))
  metrics['loss'] = loss
  return loss, metrics
