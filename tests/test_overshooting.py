"""Latent overshooting against values computed by hand with a mock cell."""

import numpy as np
import tensorflow as tf

from planet_tf.models.base import LatentModel
from planet_tf.objectives import latent_overshooting_kl


class AddActionCell(LatentModel):
  """Deterministic mock: prior mean = previous sample + action, posterior
  mean = embedding, unit std everywhere, sample = mean. Then every KL is
  0.5 * ||mean_q - mean_p||^2."""

  def __init__(self):
    super().__init__(action_size=1, embed_size=1)

  @property
  def state_sizes(self):
    return {'mean': 1, 'std': 1, 'stoch': 1}

  def img_step(self, state, action):
    mean = state['stoch'] + action
    return {'mean': mean, 'std': tf.ones_like(mean), 'stoch': mean}

  def obs_step(self, state, action, embed):
    prior = self.img_step(state, action)
    return {'mean': embed, 'std': tf.ones_like(embed), 'stoch': embed}, prior

  def features(self, state):
    return state['stoch']


def _by_hand(post, actions, distance, kl_scale, os_scale, free_nats):
  """Eq. 7 with explicit loops: start at the posterior t - d (zero state
  when t - d = -1), add the actions t-d+1..t."""
  batch, length = post.shape
  totals = np.zeros(distance + 1)
  for d in range(1, distance + 1):
    for b in range(batch):
      for t in range(length):
        start = t - d
        if start < -1:
          continue
        mean = (post[b, start] if start >= 0 else 0.0) + actions[b, start + 1:t + 1].sum()
        totals[d] += max(0.5 * (post[b, t] - mean) ** 2, free_nats)
  per_distance = totals / (batch * length)
  weights = np.array([0, kl_scale] + [os_scale] * (distance - 1))
  return np.sum(weights * per_distance) / distance


def _run(distance, kl_scale=1.0, os_scale=2.0, free_nats=0.0, seed=0):
  rng = np.random.default_rng(seed)
  embed = rng.normal(size=(2, 6, 1)).astype(np.float32)
  actions = rng.normal(size=(2, 6, 1)).astype(np.float32)
  model = AddActionCell()
  post, prior = model.observe(tf.constant(embed), tf.constant(actions))
  loss, _ = latent_overshooting_kl(
      model, post, prior, tf.constant(actions), distance=distance,
      kl_scale=kl_scale, overshooting_scale=os_scale, free_nats=free_nats)
  expected = _by_hand(embed[..., 0], actions[..., 0], distance, kl_scale,
                      os_scale, free_nats)
  return float(loss), expected


def test_matches_hand_computation_for_several_distances():
  for distance in (2, 3, 6, 8):  # 8 > chunk length: all past-end terms masked.
    loss, expected = _run(distance)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_free_nats_apply_to_every_distance():
  loss, expected = _run(4, free_nats=1.5, seed=1)
  np.testing.assert_allclose(loss, expected, rtol=1e-5)
  free = _by_hand(np.zeros((2, 6)), np.zeros((2, 6)), 4, 1.0, 2.0, 1.5)
  assert expected > free > 0


def test_posterior_targets_get_no_gradient_for_distances_above_one():
  """With d = 2 only (beta_1 = 0), the gradient reaches a posterior only as
  the start of a rollout, never as the target."""
  model = AddActionCell()
  embed = tf.Variable(tf.constant([[[0.5], [-1.0], [2.0]]]))
  actions = tf.zeros([1, 3, 1])
  with tf.GradientTape() as tape:
    post, prior = model.observe(embed, actions)
    loss, _ = latent_overshooting_kl(
        model, post, prior, actions, distance=2, kl_scale=0.0,
        overshooting_scale=1.0, free_nats=0.0)
  grad = tape.gradient(loss, embed).numpy()[0, :, 0]
  # Valid d = 2 terms: t = 1 (from the zero state) and t = 2 (from post 0).
  # KL = 0.5 (q_t - start)^2 / 2 / 3 (1/D, 1/(B T)); as a start, post 0
  # gets -(q_2 - q_0) / 6; as targets q_1, q_2 would get gradient: stopped.
  np.testing.assert_allclose(grad, [-(2.0 - 0.5) / 6, 0.0, 0.0], rtol=1e-5)
