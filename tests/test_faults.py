"""Faults a long run meets (issue 27): a run is never changed or discarded
quietly. Each test fails without its fix."""

import glob
import os

import pytest

from planet_tf import rundir, training


def _finished_run(tmp_path, tiny_config, fake_env):
  logdir = str(tmp_path / 'run')
  config = tiny_config.replace(test_episodes=0)
  training.Trainer(config, logdir, fake_env).run()  # Checkpoints 1..3.
  return logdir, config


def _listing(logdir):
  return sorted(os.path.relpath(path, logdir) for path in glob.glob(
      os.path.join(logdir, '**'), recursive=True)
      if os.path.isfile(path) and not path.endswith('.lock'))


def test_mismatched_checkpoint_is_refused_and_left_in_place(
    tmp_path, tiny_config, fake_env):
  logdir, config = _finished_run(tmp_path, tiny_config, fake_env)
  # An old run (no stored config with its checkpoints) lost config.json.
  os.remove(os.path.join(logdir, rundir.CONFIG_FILE))
  os.remove(os.path.join(logdir, rundir.CHECKPOINT_CONFIG))
  before = _listing(logdir)
  with pytest.raises(rundir.RunDirError, match='does not match this model'):
    training.Trainer(config.replace(deter_size=20), logdir, fake_env)
  assert _listing(logdir) == before  # Nothing moved to discarded/.
  trainer = training.Trainer(config, logdir, fake_env)
  assert int(trainer.episodes_done) == 3  # The newest checkpoint.
  trainer.close()


def test_lost_config_json_is_checked_against_the_checkpoint_copy(
    tmp_path, tiny_config, fake_env):
  logdir, config = _finished_run(tmp_path, tiny_config, fake_env)
  os.remove(os.path.join(logdir, rundir.CONFIG_FILE))
  with pytest.raises(rundir.RunDirError, match=r'batch_size: 3 -> 2.*'
                     r'horizon: 3 -> 2.*checkpoints'):
    training.Trainer(config.replace(batch_size=2, horizon=2), logdir,
                     fake_env)
  assert rundir.read_config(logdir) is None  # Nothing claimed.
  trainer = training.Trainer(config, logdir, fake_env)
  trainer.close()
  assert rundir.read_config(logdir) == config.to_dict()  # Restored.


def test_episodes_without_any_checkpoint_are_refused_not_discarded(
    tmp_path, tiny_config, fake_env):
  logdir, config = _finished_run(tmp_path, tiny_config, fake_env)
  for path in glob.glob(os.path.join(logdir, 'checkpoints', 'ckpt-*')):
    os.remove(path)
  before = _listing(logdir)
  with pytest.raises(rundir.RunDirError,
                     match=r'no checkpoint.*Restore the checkpoints.*new '
                     r'--logdir'):
    training.Trainer(config, logdir, fake_env)
  assert _listing(logdir) == before
  assert not os.path.exists(os.path.join(logdir, rundir.DISCARDED))


def test_repeated_task_and_negative_action_repeat_are_one_line_each(
    tiny_config):
  from planet_tf import config as config_lib
  with pytest.raises(ValueError, match='more than once') as error:
    config_lib.validate(tiny_config.replace(
        task='cartpole_swingup,cartpole_swingup'))
  assert str(error.value).count('\n') == 1
  with pytest.raises(ValueError) as error:
    config_lib.validate(tiny_config.replace(action_repeat=-1))
  assert str(error.value).count('\n') == 1 and 'frames' not in str(error.value)


def test_help_says_action_repeat_zero_is_the_papers_value():
  from absl import flags
  from planet_tf import train
  values = flags.FlagValues()
  train.define_flags(values)
  assert "paper's action repeat" in values['action_repeat'].help
