import keras
import numpy as np
import tensorflow as tf

from planet_tf.models.rssm import RSSM


def _rssm():
  keras.utils.set_random_seed(0)  # Weights independent of the test order.
  return RSSM(action_size=2, embed_size=8, stoch_size=3, deter_size=5,
              hidden_size=7, min_std=0.1)


def test_observe_and_imagine_shapes():
  model = _rssm()
  post, prior = model.observe(tf.random.normal([4, 6, 8]), tf.random.normal([4, 6, 2]))
  for state in (post, prior):
    assert state['stoch'].shape == (4, 6, 3) and state['deter'].shape == (4, 6, 5)
    assert float(tf.reduce_min(state['std'])) >= 0.1
  np.testing.assert_array_equal(post['deter'], prior['deter'])
  assert model.features(post).shape == (4, 6, 8) and model.feature_size == 8
  start = {k: v[:, -1] for k, v in post.items()}
  imagined = model.imagine(tf.random.normal([4, 9, 2]), start)
  assert imagined['stoch'].shape == (4, 9, 3)
  assert model.dist(imagined).event_shape == (3,)


def test_observe_and_imagine_are_the_step_functions_over_time():
  """Every step of observe() (and imagine()) is obs_step (img_step) applied
  to the state observe() returned for the step before: the distribution
  parameters and h_t depend on the noise only through s_{t-1}."""
  model = _rssm()
  embed, actions = tf.random.normal([2, 4, 8]), tf.random.normal([2, 4, 2])
  post, prior = model.observe(embed, actions)
  imagined = model.imagine(actions, model.initial(2))
  state = model.initial(2)
  for t in range(4):
    step_post, step_prior = model.obs_step(state, actions[:, t], embed[:, t])
    step_imagined = model.img_step(
        model.initial(2) if t == 0 else
        {k: v[:, t - 1] for k, v in imagined.items()}, actions[:, t])
    for key in ('mean', 'std', 'deter'):
      np.testing.assert_allclose(post[key][:, t], step_post[key], atol=1e-5)
      np.testing.assert_allclose(prior[key][:, t], step_prior[key], atol=1e-5)
      np.testing.assert_allclose(imagined[key][:, t], step_imagined[key],
                                 atol=1e-5)
    state = {k: v[:, t] for k, v in post.items()}


def test_obs_step_calls_img_step_once_and_uses_the_sample():
  model = _rssm()
  calls = []
  original = model.img_step
  def counting(state, action):
    calls.append(1)
    return original(state, action)
  model.img_step = counting
  post, prior = model.obs_step(model.initial(2), tf.zeros([2, 2]), tf.zeros([2, 8]))
  assert len(calls) == 1
  # The features carry the observation only through the sample s_t.
  features = model.features(post)
  np.testing.assert_array_equal(features[:, :3], post['stoch'])
  np.testing.assert_array_equal(features[:, 3:], prior['deter'])


def test_prior_ignores_the_observation_posterior_uses_it():
  model = _rssm()
  state, action = model.initial(1), tf.zeros([1, 2])
  p1, q1 = model.obs_step(state, action, tf.zeros([1, 8]))[::-1]
  p2, q2 = model.obs_step(state, action, tf.ones([1, 8]))[::-1]
  np.testing.assert_allclose(p1['mean'], p2['mean'])
  assert not np.allclose(q1['mean'], q2['mean'])
  assert isinstance(model, RSSM) and model.stochastic
