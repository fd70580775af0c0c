import json
import os
import subprocess
import sys

import numpy as np
import pytest

from planet_tf import components, learner
from planet_tf.agent import Agent
from planet_tf.world_model import WorldModel


def test_loss_is_equation_3_with_free_nats_and_reward_scale(tiny_config):
  wm = WorldModel(tiny_config, action_size=6)
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (2, 6, 64, 64, 3)).astype(np.uint8)
  actions = rng.uniform(-1, 1, (2, 6, 6)).astype(np.float32)
  rewards = rng.uniform(0, 1, (2, 6)).astype(np.float32)
  loss, m = wm.loss(images, actions, rewards)
  expected = m['image_nll'] + 10.0 * m['reward_nll'] + m['kl_loss']
  np.testing.assert_allclose(loss, expected, rtol=1e-6)
  assert float(m['kl_loss']) >= 3.0 and float(m['kl_loss']) >= float(m['kl'])


def test_train_step_updates_every_variable_and_warms_up(tiny_config):
  # Without free nats, so that the prior's layers get a gradient too.
  config = tiny_config.replace(warmup_steps=4, free_nats=0.0)
  wm = WorldModel(config, action_size=6)
  optimizer = learner.make_optimizer(config)
  step = learner.make_train_step(wm, optimizer, config)
  rng = np.random.default_rng(0)
  batch = (rng.integers(0, 256, (3, 6, 64, 64, 3)).astype(np.uint8),
           rng.uniform(-1, 1, (3, 6, 6)).astype(np.float32),
           rng.uniform(0, 1, (3, 6)).astype(np.float32))
  before = [v.numpy().copy() for v in wm.trainable_variables]
  rates = [float(step(*batch)['learning_rate']) for _ in range(2)]
  np.testing.assert_allclose(rates, [0.0, 0.25e-3], rtol=1e-6)
  changed = [not np.array_equal(b, v.numpy())
             for b, v in zip(before, wm.trainable_variables)]
  assert all(changed), 'every variable gets a gradient'


def test_default_warmup_reaches_the_paper_rate_at_update_200():
  """The official 10,000-sample ramp (0c6f7d3) is 200 updates of batch 50."""
  from planet_tf.config import Config
  config = Config()
  schedule = learner.LinearWarmup(config.learning_rate, config.warmup_steps)
  rates = [float(schedule(step)) for step in (0, 1, 100, 199, 200, 201, 10000)]
  np.testing.assert_allclose(
      rates, [0.0, 5e-6, 5e-4, 9.95e-4, 1e-3, 1e-3, 1e-3], rtol=1e-6)


@pytest.mark.parametrize('xla', [False, True])
def test_agent_acts_within_bounds_and_filters_its_belief(tiny_config, xla):
  wm = WorldModel(tiny_config, action_size=6)
  agent = Agent(wm, tiny_config.replace(xla_planner=xla))
  agent.reset()
  frame = np.zeros((64, 64, 3), np.uint8)
  actions = [agent.act(frame[None], explore=True) for _ in range(3)]
  assert all(a.shape == (1, 6) and np.all(np.abs(a) <= 1) for a in actions)
  assert agent.belief['deter'].shape == (1, tiny_config.deter_size)


def _files(directory):
  return sorted(os.listdir(directory))


def test_end_to_end_run_then_resume(tmp_path, tiny_config):
  logdir = str(tmp_path / 'run')
  components.train(tiny_config, logdir)
  assert _files(os.path.join(logdir, 'episodes')) == [
      '000000-10.npz', '000001-10.npz', '000002-10.npz']
  rows = [json.loads(l) for l in open(os.path.join(logdir, 'metrics.jsonl'))]
  assert [r['episode'] for r in rows] == [1, 2, 3]
  assert rows[2]['updates'] == 2 and np.isfinite(rows[2]['loss'])
  assert len(rows[2]['test_returns']) == 1 and 'test_return' not in rows[1]
  assert rows[2]['env_steps'] == 3 * 40
  assert os.path.exists(os.path.join(logdir, 'openloop', 'episode_000003.png'))
  assert any(f.startswith('events') for f in _files(os.path.join(logdir, 'tb')))
  assert any(f.startswith('ckpt-3') for f in _files(os.path.join(logdir, 'checkpoints')))
  first_episode = open(os.path.join(logdir, 'episodes', '000000-10.npz'), 'rb').read()

  # The same command again: nothing left to do, nothing rewritten.
  components.train(tiny_config, logdir)
  assert len(open(os.path.join(logdir, 'metrics.jsonl')).readlines()) == 3

  # Extended to 4 episodes: resumes from the checkpoint, no new seed episodes.
  trainer = components.build_trainer(tiny_config.replace(total_episodes=4),
                                     logdir)
  assert int(trainer.optimizer.iterations) == 2 and len(trainer.replay) == 3
  trainer.run()
  rows = [json.loads(l) for l in open(os.path.join(logdir, 'metrics.jsonl'))]
  assert [r['episode'] for r in rows] == [1, 2, 3, 4] and rows[3]['updates'] == 4
  assert len(_files(os.path.join(logdir, 'episodes'))) == 4
  assert open(os.path.join(logdir, 'episodes', '000000-10.npz'), 'rb').read() == first_episode


def test_cli_runs_and_refuses_a_different_config(tmp_path, tiny):
  flags = [f'--{k}={v}' for k, v in tiny.items()]
  command = [sys.executable, '-m', 'planet_tf.train', f'--logdir={tmp_path}'] + flags
  result = subprocess.run(command, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'episode 3/3' in result.stderr and 'test return' in result.stderr
  result = subprocess.run(command + ['--horizon=5'], capture_output=True,
                          text=True, timeout=300)
  assert result.returncode != 0
  assert 'different config (horizon: 3 -> 5)' in result.stderr


def test_parts_refuse_a_config_not_resolved_for_the_device(tiny_config):
  # Issue 29, 2: the device knobs are resolved once, where a run is put
  # together; a part given 'auto' says so instead of resolving it again.
  from planet_tf import agent as agent_lib
  from planet_tf import config as config_lib
  auto = tiny_config.replace(backward_chunks='auto', planner_groups='auto')
  with pytest.raises(ValueError, match="backward_chunks, planner_groups "
                     "still 'auto'"):
    WorldModel(auto, action_size=6)
  with pytest.raises(ValueError, match="still 'auto'"):
    agent_lib.make_planner(auto, 6)
  config_lib.check_resolved(config_lib.for_device(auto))
