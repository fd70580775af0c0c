import os
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
    ({'task': 'cheetah_fly'}, "'cheetah_fly' is not one of the paper's six"),
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
  config_lib.validate(c.replace(chunk_length=168))  # Exactly one episode.
  with pytest.raises(ValueError, match='exceeds the 168 frames'):
    config_lib.validate(c.replace(chunk_length=169))


def _cli(*args):
  return subprocess.run([sys.executable, '-m', 'planet_tf.train', *args],
                        capture_output=True, text=True, timeout=120)


def test_cli_prints_resolved_config_and_rejects_bad_flags():
  result = _cli('--preset=cpu', '--horizon=7', '--print_config')
  assert result.returncode == 0, result.stderr
  assert '* horizon = 7   (paper: 12)' in result.stdout
  assert '* candidates = 300   (paper: 1000)' in result.stdout
  result = _cli('--top_k=2000', '--print_config')
  assert result.returncode != 0 and 'exceeds --candidates' in result.stderr
  result = _cli('--print_config', '--preset=bogus')
  assert result.returncode != 0 and "Unknown preset 'bogus'" in result.stderr


@pytest.mark.parametrize('overrides,message', [
    ({'learning_rate': float('nan')}, '--learning_rate must be a finite number'),
    ({'free_nats': float('inf')}, '--free_nats must be a finite number'),
    ({'seed': -1}, '--seed must not be negative'),
    ({'seed': 2**32}, '--seed must be below 2\\*\\*32'),
    ({'camera_id': -2}, '--camera_id must be -1'),
    ({'max_nonfinite_updates': -1}, '--max_nonfinite_updates must not be negative'),
    ({'openloop_context': 6, 'chunk_length': 6}, '--openloop_context=6 must be shorter'),
    ({'bit_depth': 9}, '--bit_depth must be in 1..8'),
    ({'image_size': 32}, '--image_size must be 64'),
    ({'planner': 'mppi'}, "Unknown --planner 'mppi'"),
    ({'cem_std': 'var'}, "Unknown --cem_std 'var'"),
    ({'top_k': 1, 'candidates': 1}, '--top_k must be at least 2'),
    ({'seed_episodes': 9, 'total_episodes': 3}, '--seed_episodes=9 exceeds'),
    ({'test_every': 0}, '--test_every must be positive'),
    ({'warmup_steps': -5}, '--warmup_steps must not be negative'),
    ({'exploration_noise': -0.1}, '--exploration_noise must not be negative'),
])
def test_bad_value_table(overrides, message):
  with pytest.raises(ValueError, match=message):
    config_lib.resolve(overrides=overrides)


def test_every_problem_is_listed_at_once():
  with pytest.raises(ValueError) as error:
    config_lib.resolve(overrides={'batch_size': 0, 'seed': -1, 'horizon': 0})
  assert all(f'--{key}' in str(error.value)
             for key in ('batch_size', 'seed', 'horizon'))


def _parse(*argv):
  from absl import flags
  from planet_tf import train
  values = flags.FlagValues()
  train.define_flags(values)
  values(['train', *argv])
  return train.config_from_flags(values)


@pytest.mark.parametrize('argv,message', [
    (['--batch_size=abc'], "invalid literal for int\\(\\) with base 10: 'abc'"),
    (['--learning_rate=fast'], 'could not convert string to float'),
    (['--batchsize=3'], 'Unknown command line flag .batchsize.'),
    (['--learning_rate=nan'], '--learning_rate must be a finite number'),
    (['--seed=-3'], '--seed must not be negative'),
    (['--preset=cpu,bogus'], "Unknown preset 'bogus'"),
    (['--top_k=2000'], 'exceeds --candidates'),
    (['--task=cheetah_fly'], "'cheetah_fly' is not one of the paper's six"),
])
def test_bad_flag_table(argv, message):
  from absl import flags
  with pytest.raises((ValueError, flags.Error), match=message):
    _parse(*argv)


def test_cli_reports_bad_input_before_any_work(tmp_path):
  result = _cli('--preset=debug')
  assert result.returncode != 0 and 'pass --logdir=' in result.stderr
  result = _cli(f'--logdir={tmp_path}', '--seed=-1')
  assert result.returncode != 0 and '--seed must not be negative' in result.stderr
  assert not os.listdir(tmp_path)  # Nothing written.
  result = _cli(f'--logdir={tmp_path}', 'extra')
  assert result.returncode != 0 and 'Unexpected arguments' in result.stderr


def test_planner_groups_must_fit_the_candidates():
  with pytest.raises(ValueError, match='planner_groups=40 exceeds --candidates=32'):
    config_lib.resolve(['debug'], dict(planner_groups=40))
  with pytest.raises(ValueError, match='planner_groups must be positive'):
    config_lib.resolve(['debug'], dict(planner_groups=0))


def test_validation_starts_no_process(monkeypatch):
  # Issue 29, 2: the config's checks are its values alone; suite names and
  # cameras are checked where environments are made.
  import subprocess as subprocess_lib

  def no_process(*args, **kwargs):
    raise AssertionError(f'validate started a process: {args}')
  monkeypatch.setattr(subprocess_lib, 'Popen', no_process)
  config_lib.resolve(overrides={'task': 'hopper_hop,cheetah_run',
                                'action_repeat': 4, 'camera_id': 1})


def test_constraints_are_stored_with_their_fields():
  import dataclasses
  checked = {field.name for field in dataclasses.fields(config_lib.Config)
             if field.metadata.get('rules')}
  assert {'batch_size', 'seed', 'planner', 'camera_id'} <= checked
  assert 'task' not in checked  # Checked against the task table instead.


def test_one_predicate_names_the_true_simulator_runs():
  # Issue 29, 3: the special case is asked in one place, for configs and
  # for stored config.json dicts alike.
  config = config_lib.resolve(['true_simulator'],
                              {'task': 'cartpole_swingup'})
  assert config_lib.plans_on_true_simulator(config)
  assert config_lib.plans_on_true_simulator(config.to_dict())
  assert not config_lib.plans_on_true_simulator(config_lib.resolve())
  assert not config_lib.plans_on_true_simulator({})
