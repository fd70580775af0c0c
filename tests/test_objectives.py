import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from planet_tf.objectives import kl_with_free_nats

tfd = tfp.distributions


def _kl_by_hand(m1, s1, m2, s2):
  """KL(N(m1, s1^2) || N(m2, s2^2)) summed over the last axis."""
  return np.sum(np.log(s2 / s1) + (s1**2 + (m1 - m2)**2) / (2 * s2**2) - 0.5, -1)


def test_kl_with_free_nats_matches_hand_computation():
  rng = np.random.default_rng(0)
  shape = (3, 5, 4)
  m1, m2 = rng.normal(size=shape), rng.normal(size=shape)
  s1, s2 = rng.uniform(0.2, 2, shape), rng.uniform(0.2, 2, shape)
  post = tfd.MultivariateNormalDiag(m1.astype(np.float32), s1.astype(np.float32))
  prior = tfd.MultivariateNormalDiag(m2.astype(np.float32), s2.astype(np.float32))
  kl = _kl_by_hand(m1, s1, m2, s2)
  assert kl.min() < 3.0 < kl.max()  # Both sides of the free nats occur.
  loss, raw = kl_with_free_nats(post, prior, 3.0)
  np.testing.assert_allclose(raw, kl.mean(), rtol=1e-5)
  # Clipped per time step, then averaged (official code).
  np.testing.assert_allclose(loss, np.maximum(kl, 3.0).mean(), rtol=1e-5)


def test_free_nats_stop_the_gradient_below_the_threshold():
  mean = tf.Variable(tf.fill([2, 3], 0.1))
  prior = tfd.MultivariateNormalDiag(tf.zeros([2, 3]), tf.ones([2, 3]))
  with tf.GradientTape() as tape:
    loss, raw = kl_with_free_nats(
        tfd.MultivariateNormalDiag(mean, tf.ones([2, 3])), prior, 3.0)
  assert float(raw) < 3.0 and float(loss) == 3.0
  assert np.all(tape.gradient(loss, mean).numpy() == 0)
