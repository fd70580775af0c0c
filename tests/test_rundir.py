"""The run directory's files: one reader each, and no valid metrics row is
ever lost on resume (issue 16)."""

import json
import os
import shutil

import pytest

from planet_tf import components, rundir


def _lines(path):
  with open(path) as file:
    return [line for line in file.read().splitlines() if line.strip()]


def _discarded_lines(logdir):
  directory = os.path.join(logdir, rundir.DISCARDED, 'metrics')
  if not os.path.isdir(directory):
    return []
  return [line for name in sorted(os.listdir(directory))
          for line in _lines(os.path.join(directory, name))]


@pytest.fixture(scope='module')
def _finished_template(tmp_path_factory, tiny_config, fake_env):
  """One finished 3-episode run on the fake environment, made once."""
  config = tiny_config.replace(test_episodes=0)
  logdir = str(tmp_path_factory.mktemp('template') / 'run')
  components.build_trainer(config, logdir, fake_env).run()
  return config, logdir


@pytest.fixture
def finished_run(_finished_template, tmp_path):
  """A copy of the finished run for one test to change."""
  config, template = _finished_template
  logdir = str(tmp_path / 'run')
  shutil.copytree(template, logdir)
  return config, logdir


def test_read_metrics_keeps_every_valid_row_and_lists_the_rest(tmp_path):
  path = tmp_path / rundir.METRICS_FILE
  path.write_text('{"episode": 1}\ngarbage\n\n{"episode": 2}\n[1, 2]\n'
                  '{"episode": 3, "cut')
  found = rundir.read_metrics(str(tmp_path))
  assert [row['episode'] for row in found.rows] == [1, 2]
  assert [number for number, _ in found.malformed] == [2, 5, 6]
  assert rundir.read_metrics(str(tmp_path / 'missing')).rows == []


def test_a_garbage_line_loses_no_valid_row_on_resume(finished_run, fake_env,
                                                     metrics_rows):
  config, logdir = finished_run
  path = os.path.join(logdir, rundir.METRICS_FILE)
  lines = _lines(path)
  with open(path, 'w') as file:  # Garbage after row 1, before rows 2 and 3.
    file.write('\n'.join(lines[:1] + ['{not json'] + lines[1:]) + '\n')
  components.build_trainer(config.replace(total_episodes=4), logdir,
                           fake_env).run()
  rows = metrics_rows(logdir)
  assert [row['episode'] for row in rows] == [1, 2, 3, 4]
  assert [json.loads(line) for line in lines] == rows[:3]  # Kept as they were.
  assert _discarded_lines(logdir) == ['{not json']


def test_rows_of_counted_episodes_lost_from_the_file_are_rebuilt(
    finished_run, fake_env, metrics_rows):
  config, logdir = finished_run
  rows = metrics_rows(logdir)
  open(os.path.join(logdir, rundir.METRICS_FILE), 'w').close()  # Emptied.
  components.build_trainer(config.replace(total_episodes=4), logdir,
                           fake_env).run()
  rebuilt = metrics_rows(logdir)
  assert [row['episode'] for row in rebuilt] == [1, 2, 3, 4]  # No gap.
  for before, after in zip(rows, rebuilt[:3]):
    assert after['rebuilt'] and after['train_return'] == pytest.approx(
        before['train_return'])
  assert 'rebuilt' not in rebuilt[3]


def test_rows_past_the_checkpoint_are_set_aside_not_deleted(
    finished_run, fake_env, metrics_rows):
  config, logdir = finished_run
  path = os.path.join(logdir, rundir.METRICS_FILE)
  extra = json.dumps({'episode': 4, 'train_return': 1.0})  # No checkpoint 4.
  with open(path, 'a') as file:
    file.write(extra + '\n')
  components.build_trainer(config, logdir, fake_env).close()
  assert [row['episode'] for row in metrics_rows(logdir)] == [1, 2, 3]
  assert _discarded_lines(logdir) == [extra]


def test_fewer_total_episodes_than_done_is_refused_config_kept(
    finished_run, fake_env):
  config, logdir = finished_run
  stored = open(os.path.join(logdir, rundir.CONFIG_FILE)).read()
  with pytest.raises(rundir.RunDirError, match='holds 3 collected episodes, '
                     'more than --total_episodes=2'):
    components.build_trainer(config.replace(total_episodes=2), logdir, fake_env)
  assert open(os.path.join(logdir, rundir.CONFIG_FILE)).read() == stored


def test_a_config_that_fails_to_start_is_not_stored(tmp_path, tiny_config):
  def broken(config, task):
    raise ValueError('no such camera')
  logdir = str(tmp_path / 'run')
  with pytest.raises(ValueError, match='no such camera'):
    components.build_trainer(tiny_config, logdir, broken)
  assert not os.path.exists(os.path.join(logdir, rundir.CONFIG_FILE))


def test_corrupt_config_and_a_logdir_that_is_a_file_name_the_problem(tmp_path):
  (tmp_path / rundir.CONFIG_FILE).write_text('{"task": ')
  with pytest.raises(rundir.RunDirError, match='config.json is corrupt'):
    rundir.read_config(str(tmp_path))
  (tmp_path / 'plain').write_text('x')
  with pytest.raises(rundir.RunDirError, match='is a file, not a directory'):
    rundir.check_writable(str(tmp_path / 'plain'))


def test_a_multitask_run_is_finished_after_total_episodes_of_each_task(
    tmp_path, tiny_config):
  config = tiny_config.replace(task='cheetah_run,cartpole_swingup',
                               total_episodes=2)
  rundir.store_config(str(tmp_path), config)
  log = rundir.MetricsLog(str(tmp_path))
  for episode in (1, 2, 3):
    log.append({'episode': episode})
    assert not rundir.is_finished(str(tmp_path))
  log.append({'episode': 4})  # Two rounds of two tasks.
  assert rundir.is_finished(str(tmp_path))


def test_true_simulator_runs_count_as_finished(tmp_path, tiny_config):
  # Written before run kinds (issue 29, move 3): no spec.json, so the kind
  # is its stored config's planner.
  config = tiny_config.replace(planner='true_simulator')
  rundir.store_config(str(tmp_path), config)
  assert rundir.run_kind(str(tmp_path)) == rundir.TRUE_SIMULATOR
  assert not rundir.is_finished(str(tmp_path))
  rundir.MetricsLog(str(tmp_path)).append({'episode': 0, 'test_returns': [1.0]})
  assert rundir.is_finished(str(tmp_path))
  assert rundir.finished(rundir.read_config(str(tmp_path)),
                         rundir.read_metrics(str(tmp_path)).rows)


def test_the_spec_names_the_kind_of_run_and_finished_decides_by_it(
    tmp_path, tiny_config):
  logdir = str(tmp_path)
  assert rundir.run_kind(logdir) == rundir.TRAINING  # Nothing yet.
  assert rundir.run_kind(tiny_config) == rundir.TRAINING
  rundir.store_config(logdir, tiny_config)  # total_episodes 3.
  rundir.store_spec(logdir, (64, 64, 3), 1, kind=rundir.TRUE_SIMULATOR)
  assert rundir.run_kind(logdir) == rundir.TRUE_SIMULATOR  # The spec's.
  assert rundir.read_spec(logdir) == ((64, 64, 3), 1)
  assert not rundir.is_finished(logdir)
  rundir.MetricsLog(logdir).append({'episode': 0, 'test_returns': [1.0]})
  assert rundir.is_finished(logdir)  # Its one row, whatever the config.
  with pytest.raises(rundir.RunDirError, match='holds a true_simulator run, '
                     'not a training run'):
    rundir.store_spec(logdir, (64, 64, 3), 1)
  spec = os.path.join(logdir, rundir.SPEC_FILE)
  with open(spec, 'w') as file:
    json.dump({'frame_shape': [64, 64, 3], 'action_size': 1, 'kind': 'x'},
              file)
  with pytest.raises(rundir.RunDirError, match="unknown kind of run 'x'"):
    rundir.run_kind(logdir)


def test_a_training_run_from_before_run_kinds_resumes(finished_run, fake_env,
                                                      metrics_rows):
  config, logdir = finished_run
  spec = os.path.join(logdir, rundir.SPEC_FILE)
  with open(spec) as file:
    values = json.load(file)
  assert values['kind'] == rundir.TRAINING
  del values['kind']  # As the code before run kinds wrote it.
  with open(spec, 'w') as file:
    json.dump(values, file)
  assert rundir.run_kind(logdir) == rundir.TRAINING
  assert rundir.is_finished(logdir)
  components.build_trainer(config.replace(total_episodes=4), logdir,
                           fake_env).run()
  assert [row['episode'] for row in metrics_rows(logdir)] == [1, 2, 3, 4]
  with open(spec) as file:
    assert json.load(file)['kind'] == rundir.TRAINING  # Named now.


def test_the_spec_is_stored_so_checkpoint_readers_need_no_episode(
    tmp_path, tiny_config, fake_env):
  # Issue 29, 6: the run directory stores its observation and action spec;
  # a run made before spec.json existed is read from its episodes.
  from planet_tf import checkpoint
  logdir = str(tmp_path / 'run')
  config = tiny_config.replace(test_episodes=0)
  components.build_trainer(config, logdir, fake_env).run()
  assert rundir.read_spec(logdir) == ((64, 64, 3), 6)  # cheetah: 6 actions.
  episodes = os.path.join(logdir, rundir.EPISODES_DIR)
  shutil.move(episodes, str(tmp_path / 'aside'))
  _, world_model, _ = checkpoint.load_world_model(logdir)
  assert world_model.action_size == 6
  shutil.move(str(tmp_path / 'aside'), episodes)
  os.remove(os.path.join(logdir, rundir.SPEC_FILE))  # An older run.
  _, world_model, _ = checkpoint.load_world_model(logdir)
  assert world_model.action_size == 6
