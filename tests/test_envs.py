import numpy as np
import pytest

from planet_tf import env_checks, env_process


def test_action_repeat_sums_rewards_and_frames_are_uint8():
  actions = np.random.default_rng(0).uniform(-1, 1, (10, 6)).astype(np.float32)
  with env_process.ProcessEnv('cheetah_run', 4, episode_length=40) as repeated, \
       env_process.ProcessEnv('cheetah_run', 1, episode_length=40) as single:
    first = repeated.reset(seed=7)
    assert first.shape == (64, 64, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, single.reset(seed=7))
    assert repeated.action_size == 6
    for step, action in enumerate(actions):
      frame, reward, done = repeated.step(action)
      total = 0.0
      for _ in range(4):
        single_frame, r, _ = single.step(action)
        total += r
      np.testing.assert_allclose(reward, total, rtol=1e-6)
      np.testing.assert_array_equal(frame, single_frame)
      assert done == (step == 9)  # 40 env steps = 10 agent steps.


def test_reset_seed_determines_the_episode():
  with env_process.ProcessEnv('cartpole_swingup', 8, episode_length=16) as env:
    a, b, c = env.reset(1), env.reset(2), env.reset(1)
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, b)


def test_errors_cross_the_process_boundary():
  with pytest.raises(ValueError, match="Unknown task 'cheetah_fly'"):
    env_process.ProcessEnv('cheetah_fly', 4)
  with env_process.ProcessEnv('cheetah_run', 4, episode_length=8) as env:
    env.reset(0)
    with pytest.raises(ValueError, match='Non-finite action'):
      env.step(np.full(6, np.nan))


def test_resolve_task_accepts_paper_names_and_suite_names():
  assert env_checks.resolve_task('cup_catch').domain == 'ball_in_cup'
  spec = env_checks.resolve_task('point_mass_easy')
  assert (spec.domain, spec.task, spec.paper_action_repeat) == ('point_mass', 'easy', None)


def test_environment_checks_list_every_problem_at_once():
  # Unknown suite names and missing cameras are checked where environments
  # are made (the config's own checks start nothing), all in one error.
  env_checks.check_environments(['cartpole_swingup', 'point_mass_easy'], 0)
  with pytest.raises(ValueError) as error:
    env_checks.check_environments(['cheetah_fly', 'cheetah_run'], 7)
  message = str(error.value)
  assert "Unknown task 'cheetah_fly'" in message
  assert '--camera_id=7 does not exist: cheetah_run has 2 camera(s)' in message


def test_true_simulator_rollouts_are_the_real_returns_and_leave_the_state():
  # Table 1's 'CEM + true simulator' scores candidates by true returns from
  # the current physics state: equal to stepping the task for real, and the
  # state is restored after.
  from planet_tf import true_simulator
  from planet_tf.config import Config
  rng = np.random.default_rng(0)
  plans = rng.uniform(-1, 1, size=(3, 2, 1)).astype(np.float32)
  with env_process.ProcessEnv('cartpole_swingup', 8, episode_length=40) as env, \
       env_process.ProcessEnv('cartpole_swingup', 8, episode_length=40) as twin:
    env.reset(3), twin.reset(3)
    env.step(np.array([0.5], np.float32))
    twin.step(np.array([0.5], np.float32))
    returns = env.candidate_returns(plans)
    assert returns.shape == (3,)
    real = [env.step(action) for action in plans[1]]
    np.testing.assert_allclose(returns[1], sum(r for _, r, _ in real),
                               rtol=1e-5)
    # `twin` never planned: the same frames after the same real steps.
    for (frame, _, _), action in zip(real, plans[1]):
      np.testing.assert_array_equal(twin.step(action)[0], frame)
    config = Config(task='cartpole_swingup', horizon=2, iterations=2,
                    candidates=8, top_k=2)
    action = true_simulator.simulator_policy(env, config)(None)
    assert action.shape == (1,) and np.all(np.abs(action) <= 1)
