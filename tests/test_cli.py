"""What a user of `python -m planet_tf.train` sees: one-line errors that name
the fix, a quiet start, the presets they asked for (issue 16)."""

import os
import signal
import subprocess
import sys
import time

import pytest

from planet_tf import config as config_lib
from planet_tf import progress, rundir


def _cli(*args, env=None, timeout=180):
  return subprocess.run([sys.executable, '-m', 'planet_tf.train', *args],
                        capture_output=True, text=True, timeout=timeout,
                        env=env)


def _last_line(result):
  return result.stderr.strip().splitlines()[-1]


def test_repeated_presets_apply_in_order_and_print_config_marks_changes():
  result = _cli('--preset=cpu', '--preset=ssm', '--horizon=7', '--print_config')
  assert result.returncode == 0, result.stderr
  lines = result.stdout.splitlines()
  assert lines[0].startswith('# presets cpu,ssm')
  assert "* model = 'ssm'   (paper: 'rssm')" in lines
  assert '* candidates = 300   (paper: 1000)' in lines
  assert '* horizon = 7   (paper: 12)' in lines
  assert '  learning_rate = 0.001' in lines  # Unchanged: not marked.


@pytest.mark.parametrize('backend,message', [
    ('bogus', "MUJOCO_GL='bogus' is not a MuJoCo rendering backend"),
    ('glfw', 'MUJOCO_GL=glfw needs a display'),
])
def test_unusable_rendering_backend_is_one_line(tmp_path, backend, message):
  env = dict(os.environ, MUJOCO_GL=backend)
  env.pop('DISPLAY', None)
  result = _cli('--preset=debug', f'--logdir={tmp_path}', env=env)
  assert result.returncode != 0
  assert _last_line(result).startswith(f'Error: {message}')
  assert 'Traceback' not in result.stderr and not os.listdir(tmp_path)


def test_camera_out_of_range_fails_before_any_work(tmp_path):
  result = _cli('--preset=debug', '--camera_id=7', f'--logdir={tmp_path}')
  assert result.returncode != 0 and 'Traceback' not in result.stderr
  assert '--camera_id=7 does not exist: cheetah_run has 2 camera(s)' in result.stderr
  assert not os.listdir(tmp_path)


def test_corrupt_config_json_is_one_line_naming_the_file(tmp_path):
  (tmp_path / rundir.CONFIG_FILE).write_text('{"task": "cheetah_run", ')
  result = _cli('--preset=debug', f'--logdir={tmp_path}')
  assert result.returncode != 0 and 'Traceback' not in result.stderr
  assert _last_line(result).startswith(
      f'Error: {tmp_path}/config.json is corrupt')


def test_ctrl_c_says_how_to_resume(tmp_path, tiny):
  flags = [f'--{key}={value}' for key, value in tiny.items()]
  # SIGINT as at a terminal: a shell's background jobs (CI may be one)
  # inherit it ignored, and Python then leaves it so.
  process = subprocess.Popen(
      [sys.executable, '-m', 'planet_tf.train', f'--logdir={tmp_path}'] + flags,
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
      start_new_session=True,
      preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
  deadline = time.time() + 120
  while time.time() < deadline and not (tmp_path / 'episodes').exists():
    time.sleep(0.2)
  os.killpg(process.pid, signal.SIGINT)  # As a terminal's Ctrl-C does.
  _, stderr = process.communicate(timeout=120)
  assert process.returncode != 0
  assert stderr.strip().splitlines()[-1] == (
      'interrupted: rerun the same command to resume.')
  assert 'Traceback' not in stderr


def test_start_prints_no_tensorflow_notices_and_one_config_line(tmp_path, tiny):
  values = dict(tiny, total_episodes=2, seed_episodes=2, test_episodes=0)
  flags = [f'--{key}={value}' for key, value in values.items()]
  result = _cli(f'--logdir={tmp_path}', *flags)
  assert result.returncode == 0, result.stderr
  for notice in ('oneDNN custom operations', 'cuInit', 'cuda drivers',
                 'Sharding callback', 'settotalmass', '"batch_size"'):
    assert notice not in result.stderr, notice
  assert f'Config in {tmp_path}/config.json (differs from the paper in:' in (
      result.stderr)
  assert 'episode 2/2' in result.stderr


def test_eta_from_the_planned_episodes_and_the_test_points():
  rows = [{'episode': 1, 'train_seconds': 0.0, 'collect_seconds': 5.0},
          {'episode': 2, 'loss': 1.0, 'train_seconds': 10.0,
           'collect_seconds': 20.0},
          {'episode': 3, 'loss': 1.0, 'train_seconds': 12.0,
           'collect_seconds': 18.0, 'test_seconds': 40.0}]
  assert progress.eta_seconds(rows[:1], 5, 1) is None  # Seed episodes only.
  # 4 episodes at the median 30 s, 2 test points at 40 s.
  assert progress.eta_seconds(rows, 4, 2) == 4 * 30 + 2 * 40
  assert progress.eta_seconds(rows[:2], 4, 2, default_test=25) == 4 * 30 + 50
  row = dict(rows[2], env_steps=3000, train_return=1.5, image_nll=0.5,
             reward_nll=0.25, test_return=7.0)
  line = progress.episode_line(row, 40, several_tasks=False, eta=2 * 3600)
  assert line == ('episode 3/40 | env steps 3000 | train return 1.5 | loss 1.0 '
                  '(image 0.5, reward 0.25) | test return 7.0 | train 12s, '
                  'collect 18s, test 40s | ETA 2.0 h')


def test_one_duration_format_for_etas_and_plan_estimates():
  assert [progress.format_duration(s) for s in (40, 2100, 8640, 4.5e6)] == [
      '40 s', '35 min', '2.4 h', '1,250 h']
  assert progress.format_duration(2400, 4500) == '40-75 min'
  assert progress.format_duration(6120, 9000) == '1.7-2.5 h'
  assert progress.format_duration(7200, 7210) == '2.0 h'


def test_one_count_of_agent_steps_for_configs_and_stored_configs():
  cpu = config_lib.resolve(('cpu',), dict(task='cheetah_run'))
  assert progress.agent_steps(cpu, 'cheetah_run') == 250  # 1000 / R=4.
  assert progress.agent_steps(cpu.to_dict(), 'cartpole_swingup') == 125
  assert progress.agent_steps(cpu.replace(action_repeat=3), 'hopper_hop') == 334
  with pytest.raises(ValueError, match='pass --action_repeat'):
    progress.agent_steps(cpu.to_dict(), 'hopper_hop')


def test_a_runs_eta_from_its_config_and_rows():
  config = dict(task='cheetah_run', total_episodes=4, seed_episodes=1,
                test_every=2, test_episodes=1)
  rows = [{'episode': 1, 'collect_seconds': 5.0},
          {'episode': 2, 'loss': 1.0, 'train_seconds': 10.0,
           'collect_seconds': 20.0}]
  assert progress.remaining_work(config, 2) == (2, 1)
  assert progress.run_eta(config, rows[:1]) is None  # No planned episode.
  # 2 episodes of 30 s, one test point of 1.5 x 20 s.
  assert progress.run_eta(config, rows) == 2 * 30 + 30
  assert progress.run_eta(config, rows + [{'episode': 4}]) == 0
  line = progress.episode_line(dict(rows[1], train_return=2.0), 4, False,
                               eta=0.0, brief=True)
  assert line == 'episode 2/4 | train return 2.0 | done'


def test_plain_progress_lines_at_most_once_a_minute(caplog):
  clock = iter([0.0, 30.0, 61.0, 62.0, 125.0])
  with caplog.at_level('INFO'):
    phases = progress.Progress(terminal=False, clock=lambda: next(clock))
    with phases.phase('collect', 4) as tick:
      for _ in range(4):
        tick()
  shown = [r.getMessage() for r in caplog.records]
  assert shown == ['  collect 2/4 (61 s)', '  collect 4/4 (125 s)']
