import subprocess
import sys

import pytest

from planet_tf import config as config_lib


def test_paper_defaults_match_the_paper():
  c = config_lib.resolve()
  assert (c.batch_size, c.chunk_length) == (50, 50)
  assert (c.horizon, c.iterations, c.candidates, c.top_k) == (12, 10, 1000, 100)
  assert (c.seed_episodes, c.collect_interval) == (5, 100)
  assert (c.deter_size, c.stoch_size, c.hidden_size) == (200, 30, 200)
  assert (c.learning_rate, c.adam_epsilon, c.grad_clip_norm) == (1e-3, 1e-4, 1000.0)
  assert (c.free_nats, c.bit_depth, c.exploration_noise) == (3.0, 5, 0.3)
  assert config_lib.action_repeat(c) == 4  # cheetah


@pytest.mark.parametrize('task,repeat', [
    ('cartpole_swingup', 8), ('reacher_easy', 4), ('cheetah_run', 4),
    ('finger_spin', 2), ('cup_catch', 4), ('walker_walk', 2)])
def test_paper_action_repeats(task, repeat):
  assert config_lib.action_repeat(config_lib.resolve(overrides={'task': task})) == repeat


def test_cpu_preset_changes_exactly_the_listed_values():
  paper, cpu = config_lib.resolve().to_dict(), config_lib.resolve(['cpu']).to_dict()
  changed = {k: cpu[k] for k in paper if paper[k] != cpu[k]}
  assert changed == dict(total_episodes=40, collect_interval=25, batch_size=16,
                         candidates=300, top_k=30, test_episodes=3)


@pytest.mark.parametrize('overrides,message', [
    ({'task': 'cheetah_fly'}, "Unknown task 'cheetah_fly'"),
    ({'top_k': 2000}, 'exceeds --candidates'),
    ({'batch_size': 0}, '--batch_size must be positive'),
    ({'chunk_length': 300}, 'exceeds the 251 frames'),
    ({'episode_length': 20, 'chunk_length': 7}, 'exceeds the 6 frames'),
    ({'model': 'lstm'}, "Unknown --model 'lstm'"),
    ({'task': 'hopper_hop'}, 'pass --action_repeat'),
    ({'free_nats': -1.0}, '--free_nats must not be negative'),
])
def test_bad_values_fail_with_a_message_naming_the_fix(overrides, message):
  with pytest.raises(ValueError, match=message):
    config_lib.resolve(overrides=overrides)


def test_unknown_keys_presets_and_types_are_rejected():
  with pytest.raises(ValueError, match="Unknown config key 'batchsize'"):
    config_lib.resolve(overrides={'batchsize': 3})
  with pytest.raises(ValueError, match="Unknown preset 'fast'"):
    config_lib.resolve(['fast'])
  with pytest.raises(ValueError, match="expects int"):
    config_lib.resolve(overrides={'batch_size': 2.5})


def test_any_suite_task_by_name_with_explicit_repeat():
  c = config_lib.resolve(overrides={'task': 'ball_in_cup_catch', 'action_repeat': 6})
  assert config_lib.action_repeat(c) == 6
  # 1000 steps at R = 6: ceil(1000 / 6) = 167 agent steps, 168 frames.
  with pytest.raises(ValueError, match='exceeds the 168 frames'):
    c.replace(chunk_length=169) and config_lib.validate(c.replace(chunk_length=169))


def _cli(*args):
  return subprocess.run([sys.executable, '-m', 'planet_tf.train', *args],
                        capture_output=True, text=True, timeout=120)


def test_cli_prints_resolved_config_and_rejects_bad_flags():
  result = _cli('--preset=cpu', '--horizon=7', '--print_config')
  assert result.returncode == 0, result.stderr
  assert '"horizon": 7' in result.stdout and '"candidates": 300' in result.stdout
  result = _cli('--top_k=2000', '--print_config')
  assert result.returncode != 0 and 'exceeds --candidates' in result.stderr
  result = _cli('--print_config', '--preset=bogus')
  assert result.returncode != 0 and "Unknown preset 'bogus'" in result.stderr
