import numpy as np
import tensorflow as tf

from planet_tf import planning


TARGET = np.array([0.6, -0.4], np.float32)


def _plan(point_mass, std_estimator, start):
  model, reward_fn = point_mass[0](), point_mass[1]
  state = {'pos': tf.constant(start, tf.float32)}
  return tf.function(planning.cem)(
      model, reward_fn, state, action_size=2, horizon=5, iterations=10,
      candidates=1000, top_k=100, std_estimator=std_estimator).numpy()


def test_cem_finds_the_known_optimum(point_mass):
  # From the origin the best plan steps onto the target at once and stays.
  tf.random.set_seed(0)
  for estimator in ('abs_dev', 'std'):
    action = _plan(point_mass, estimator, [[0.0, 0.0], [0.3, -0.2]])
    assert action.shape == (2, 2)
    np.testing.assert_allclose(action[0], TARGET, atol=0.1)
    np.testing.assert_allclose(action[1], TARGET - [0.3, -0.2], atol=0.1)


def test_cem_respects_action_bounds(point_mass):
  # The target is 3 away: the best first action is the bound itself.
  tf.random.set_seed(1)
  action = _plan(point_mass, 'abs_dev', [[-2.4, 0.0]])
  assert np.all(np.abs(action) <= 1.0)
  assert action[0, 0] > 0.95


def test_evaluate_sequences_sums_rewards_of_the_next_h_states(point_mass):
  PointMass, reward_fn = point_mass
  state = {'pos': tf.zeros([1, 2])}
  actions = tf.constant(np.full((1, 3, 4, 2), 0.1, np.float32))
  returns = planning.evaluate_sequences(PointMass(), reward_fn, state, actions)
  positions = 0.1 * np.arange(1, 5)[:, None] * np.ones(2)  # s_{t+1..t+4}
  expected = -np.sum((positions - TARGET) ** 2)
  np.testing.assert_allclose(returns, np.full((1, 3), expected), rtol=1e-5)


def test_evaluate_sequences_in_groups_gives_the_same_returns(point_mass):
  PointMass, reward_fn = point_mass
  # 2 beliefs x 5 candidates = 10 rollouts, split unevenly into 3 groups.
  state = {'pos': tf.constant([[0.0, 0.0], [0.5, 0.5]])}
  actions = tf.random.stateless_uniform([2, 5, 4, 2], [1, 2], -1.0, 1.0)
  whole = planning.evaluate_sequences(PointMass(), reward_fn, state, actions)
  for groups in (2, 3):
    parts = tf.function(planning.evaluate_sequences)(
        PointMass(), reward_fn, state, actions, groups)
    np.testing.assert_allclose(parts, whole, rtol=1e-6)
  assert whole.shape == (2, 5)
