"""Every paper variant runs from its preset; each test asserts what makes it
that variant."""

import os

import numpy as np
import pytest
import tensorflow as tf

from planet_tf import config as config_lib
from planet_tf import (components, driver, env_process, envs, planning,
                       true_simulator)
from planet_tf.world_model import WorldModel


@pytest.fixture
def make_config(tiny):
  return lambda *presets, **overrides: config_lib.for_device(
      config_lib.resolve(['paper', *presets], {**tiny, **overrides}))


def _random_batch(action_size=6):
  rng = np.random.default_rng(0)
  return (rng.integers(0, 256, (2, 6, 64, 64, 3)).astype(np.uint8),
          rng.uniform(-1, 1, (2, 6, action_size)).astype(np.float32),
          rng.uniform(0, 1, (2, 6)).astype(np.float32))


def test_rnn_is_deterministic_without_kl(tmp_path, make_config, fake_env,
                                        metrics_rows):
  config = make_config('rnn')
  wm = WorldModel(config, action_size=6)
  assert wm.dynamics.state_sizes == {'deter': config.deter_size}
  assert not wm.dynamics.stochastic
  loss, metrics = wm.loss(*_random_batch())
  assert not any(k.startswith('kl') or 'entropy' in k for k in metrics)
  np.testing.assert_allclose(
      loss, metrics['image_nll'] + 10 * metrics['reward_nll'], rtol=1e-6)
  # Same encoder, decoder and reward model as the RSSM (the heads' first
  # kernels differ only in their input: the features are h_t alone).
  rssm = WorldModel(make_config(), action_size=6)
  for name in ('encoder', 'decoder', 'reward'):
    shapes = lambda m: [v.shape for v in getattr(m, name).weights][1:]
    assert shapes(wm) == shapes(rssm)
  assert wm.dynamics.feature_size == config.deter_size
  components.build_trainer(config, str(tmp_path), fake_env).run()
  last = metrics_rows(tmp_path)[-1]
  assert 'kl' not in last and np.isfinite(last['loss']) and 'test_return' in last


def test_ssm_is_stochastic_without_deterministic_path(tmp_path, make_config,
                                                     fake_env, metrics_rows):
  config = make_config('ssm')
  wm = WorldModel(config, action_size=6)
  assert set(wm.dynamics.state_sizes) == {'mean', 'std', 'stoch'}
  assert wm.dynamics.feature_size == config.stoch_size
  assert not any('cell' in v.path or 'gru' in v.path.lower()
                 for v in wm.dynamics.weights)
  components.build_trainer(config, str(tmp_path), fake_env).run()
  last = metrics_rows(tmp_path)[-1]
  assert last['kl_loss'] >= config.free_nats and 'test_return' in last


@pytest.mark.parametrize('model', ['rssm', 'ssm'])
def test_overshooting_preset_adds_multi_step_kl(model, make_config):
  config = make_config('overshooting', model=model, overshooting=4)
  assert config_lib.resolve(['overshooting']).overshooting == 50
  wm = WorldModel(config, action_size=6)
  loss, metrics = wm.loss(*_random_batch())
  # Distances 2..4 have 5, 4, 3 valid terms of T = 6, each >= free nats.
  floor = config.free_nats * (5 + 4 + 3) / 6 / 3
  assert float(metrics['overshooting_kl_loss']) >= floor - 1e-5
  # Eq. 7 with beta_1 = beta_{>1} = 1: the KL part is the mean over distances.
  kl_part = loss - metrics['image_nll'] - 10 * metrics['reward_nll']
  assert abs(float(kl_part) - (float(metrics['kl_loss']) +
             3 * float(metrics['overshooting_kl_loss'])) / 4) < 1e-3
  with pytest.raises(ValueError, match='needs stochastic latents'):
    make_config('overshooting', 'rnn', overshooting=4)


def test_random_shooting_evaluates_each_sequence_once_and_takes_the_best(
    point_mass, make_config):
  PointMass, reward_fn = point_mass
  model = PointMass()
  tf.random.set_seed(0)
  state = {'pos': tf.zeros([1, 2])}
  action = planning.random_shooting(
      model, reward_fn, state, action_size=2, horizon=4, candidates=1000)
  # One model call per horizon step, each over all 1000 sequences: no refit.
  assert model.batches == [1000] * 4 and action.shape == (1, 2)
  # With H = 1 the best of 1000 random actions lies near the target.
  action = planning.random_shooting(
      PointMass(), reward_fn, state, action_size=2, horizon=1, candidates=1000)
  np.testing.assert_allclose(action[0], [0.6, -0.4], atol=0.15)
  cem_model = PointMass()
  planning.cem(cem_model, reward_fn, state, action_size=2, horizon=4,
               iterations=3, candidates=50, top_k=5)
  assert cem_model.batches == [50] * 12  # CEM: H steps per iteration.
  assert make_config('random_shooting').planner == 'random_shooting'


def test_random_collection_collects_with_uniform_actions(
    tmp_path, make_config, fake_env, metrics_rows):
  config = make_config('random_collection')
  trainer = components.build_trainer(config, str(tmp_path), fake_env)
  trainer.run()
  rows = metrics_rows(tmp_path)
  assert rows[-1]['updates'] == config.collect_interval  # Still trained.
  assert 'test_return' in rows[-1]  # And tested by planning.
  index = 2  # The first episode after the seed episodes.
  rng = np.random.default_rng(driver.episode_seed(config, driver.Phase.COLLECT, index))
  episode = trainer.replay.episodes[index]
  expected = np.stack([envs.random_action(6, rng) for _ in range(len(episode['action']) - 1)])
  np.testing.assert_array_equal(episode['action'][1:], expected)


def test_multitask_pads_actions_and_reports_returns_per_task(
    tmp_path, make_config, fake_env, metrics_rows):
  config = make_config('multitask', task='cheetah_run,cartpole_swingup',
                   episode_length=48, seed_episodes=1, total_episodes=2,
                   test_every=2)
  assert len(config_lib.tasks(config_lib.resolve(['multitask']))) == 6
  trainer = components.build_trainer(config, str(tmp_path), fake_env)
  assert trainer.action_size == 6  # cheetah 6, cartpole 1.
  trainer.run()
  rows = metrics_rows(tmp_path)
  assert [r['task'] for r in rows] == ['cheetah_run', 'cartpole_swingup'] * 2
  # One episode of each task every C updates.
  assert [r['updates'] for r in rows] == [0, 0, 2, 2]
  assert set(rows[-1]) >= {'test_return/cheetah_run', 'test_return/cartpole_swingup'}
  lengths = [len(e['image']) - 1 for e in trainer.replay.episodes]
  assert lengths == [12, 6, 12, 6]  # R = 4 and R = 8.
  assert all(e['action'].shape[1] == 6 for e in trainer.replay.episodes)
  assert rows[-1]['env_steps'] == 4 * 48


def test_padded_actions_ignore_the_unused_elements():
  with env_process.ProcessEnv('cartpole_swingup', 8, episode_length=32) as raw:
    env = envs.PaddedActions(raw, 6)
    env.reset(3)
    a = env.step(np.array([0.5, 1, 1, 1, 1, 1], np.float32))
    env.reset(3)
    b = env.step(np.array([0.5, -1, 0, 0, 0, 0], np.float32))
  np.testing.assert_array_equal(a[0], b[0])
  assert a[1] == b[1]


def test_true_simulator_plans_on_the_simulator_and_restores_its_state(
    tmp_path, make_config, metrics_rows):
  planning = make_config('true_simulator', task='cartpole_swingup',
                         horizon=3, iterations=2, candidates=16, top_k=4,
                         cem_std='abs_dev')
  with env_process.ProcessEnv('cartpole_swingup', 8, episode_length=64) as planned, \
       env_process.ProcessEnv('cartpole_swingup', 8, episode_length=64) as plain:
    planned.reset(5)
    plain.reset(5)
    action = true_simulator.simulator_policy(planned, planning)(None)
    assert action.shape == (1,) and abs(action[0]) <= 1
    np.testing.assert_array_equal(planned.step(action)[0], plain.step(action)[0])
  config = make_config('true_simulator', task='cartpole_swingup', episode_length=64,
                   test_episodes=2)
  true_simulator.evaluate(config, str(tmp_path))
  rows = metrics_rows(tmp_path)
  assert len(rows) == 1 and rows[0]['episode'] == 0 and rows[0]['updates'] == 0
  assert len(rows[0]['test_returns']) == 2
  assert not os.path.exists(tmp_path / 'checkpoints')  # No learning.
