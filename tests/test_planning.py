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
    parts = tf.function(planning.in_groups(groups))(
        PointMass(), reward_fn, state, actions)
    np.testing.assert_allclose(parts, whole, rtol=1e-6)
    model = PointMass()  # Eager: one transition per step of each part.
    planning.in_groups(groups)(model, reward_fn, state, actions)
    sizes = [10 // groups + (i < 10 % groups) for i in range(groups)]
    assert model.batches == [size for size in sizes for _ in range(4)]
  assert whole.shape == (2, 5)


def test_in_groups_runs_whole_where_the_rows_do_not_split(point_mass, caplog):
  PointMass, reward_fn = point_mass
  state = {'pos': tf.zeros([1, 2])}
  actions = tf.random.stateless_uniform([1, 2, 4, 2], [1, 2], -1.0, 1.0)
  model = PointMass()
  with caplog.at_level('INFO'):
    returns = planning.in_groups(3)(model, reward_fn, state, actions)
  np.testing.assert_allclose(
      returns, planning.evaluate_sequences(PointMass(), reward_fn, state, actions))
  assert model.batches == [2] * 4
  assert 'do not split into 3 groups' in caplog.text


def test_grouped_planning_gives_the_plain_planners_actions(point_mass):
  """Eager, so that the random draws come in program order (a compiled CEM
  loop may draw the next iteration's noise ahead); the point mass is
  deterministic, so both see the same numbers."""
  PointMass, reward_fn = point_mass
  state = {'pos': tf.constant([[0.0, 0.0], [0.3, -0.2]])}
  common = dict(action_size=2, horizon=5, candidates=100)
  for planner, kwargs in ((planning.cem, dict(iterations=3, top_k=10)),
                          (planning.random_shooting, {})):
    plans = []
    for evaluate in (planning.evaluate_sequences, planning.in_groups(2),
                     planning.in_groups(3)):
      tf.random.set_seed(4)
      plans.append(planner(PointMass(), reward_fn, state, evaluate=evaluate,
                           **common, **kwargs).numpy())
    for actions in plans[1:]:
      np.testing.assert_array_equal(actions, plans[0])
    assert not np.array_equal(plans[0], np.zeros_like(plans[0]))


def test_the_agent_plans_in_groups_as_configured(point_mass, tiny_config):
  from planet_tf.agent import make_planner
  PointMass, reward_fn = point_mass
  state = {'pos': tf.zeros([1, 2])}
  for groups, sizes in ((1, [16]), (2, [8, 8]), (3, [6, 5, 5])):
    model = PointMass()
    plan = make_planner(tiny_config.replace(planner_groups=groups,
                                            iterations=1), 2)
    plan(model, reward_fn, state)
    assert model.batches == [size for size in sizes for _ in range(3)]


# Fixed top-K samples, one belief, K=4 sequences of H=1 step, A=2.
ELITE = np.array([[[[0.5, -1.0]], [[0.1, 0.0]], [[-0.3, 0.2]],
                   [[0.9, 0.4]]]], np.float32)


def _by_hand(estimator):
  """The refit written out for ELITE: mean, then sigma per element."""
  columns = [[0.5, 0.1, -0.3, 0.9], [-1.0, 0.0, 0.2, 0.4]]
  mean, sigma = [], []
  for values in columns:
    mu = sum(values) / 4
    mean.append(mu)
    if estimator == 'std':  # Population variance, as tf.math.reduce_variance.
      sigma.append((sum((v - mu) ** 2 for v in values) / 4 + 1e-6) ** 0.5)
    else:
      sigma.append(sum(abs(v - mu) for v in values) / (4 - 1))
  return np.array([[mean]]), np.array([[sigma]])


def test_refit_matches_a_hand_computation_for_both_estimators():
  for estimator in ('std', 'abs_dev'):
    mean, std = planning.refit(tf.constant(ELITE), estimator)
    want_mean, want_std = _by_hand(estimator)
    np.testing.assert_allclose(mean, want_mean, rtol=1e-6)
    np.testing.assert_allclose(std, want_std, rtol=1e-5)
  # The two differ clearly here: the printed formula is no standard deviation.
  assert not np.allclose(_by_hand('std')[1], _by_hand('abs_dev')[1], rtol=0.05)


def test_the_default_refit_is_the_official_codes_standard_deviation():
  # 0c6f7d3's planner refits sqrt(variance + 1e-6); so do the config default
  # and the planner's own default.
  from planet_tf.config import Config
  assert Config().cem_std == 'std'
  _, std = planning.refit(tf.constant(ELITE))
  np.testing.assert_allclose(std, _by_hand('std')[1], rtol=1e-5)


def test_cem_under_tf_function_repeats_for_the_same_seed(point_mass):
  # The candidates' noise does not depend on the loop's state: with parallel
  # iterations its draws could run out of order, and the same seed gave
  # other plans (seen at the paper's sizes).
  model, reward_fn = point_mass[0](), point_mass[1]
  state = {'pos': tf.constant([[0.0, 0.0], [0.3, -0.2]], tf.float32)}
  plans = []
  for _ in range(8):
    tf.random.set_seed(3)  # A fresh function each time: traced anew.
    plans.append(tf.function(planning.cem)(
        model, reward_fn, state, action_size=2, horizon=5, iterations=10,
        candidates=300, top_k=30).numpy())
  for plan in plans[1:]:
    np.testing.assert_array_equal(plan, plans[0])
