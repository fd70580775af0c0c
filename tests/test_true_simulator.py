"""`python -m planet_tf.true_simulator`: Table 1's CEM on the real simulator
as a program of its own (issue 29, move 3), with train's flags, errors and
run-directory guarantees, and a run directory of its own kind."""

import json
import os
import subprocess
import sys

from planet_tf import rundir, runtime
from reproduce.common import Run

# Tiny: one short cartpole_swingup episode, a few candidates.
FLAGS = ['--preset=debug', '--task=cartpole_swingup', '--episode_length=80',
         '--chunk_length=6', '--test_episodes=1', '--candidates=16',
         '--top_k=4', '--horizon=3', '--iterations=2']


def _run(module, *args):
  return subprocess.run([sys.executable, '-m', module, *args],
                        capture_output=True, text=True, timeout=300,
                        env=runtime.child_env())


def test_the_program_writes_its_row_and_its_kind(tmp_path, metrics_rows):
  logdir = str(tmp_path / 'sim')
  result = _run('planet_tf.true_simulator', f'--logdir={logdir}', *FLAGS)
  assert result.returncode == 0, result.stderr[-3000:]
  rows = metrics_rows(logdir)
  assert len(rows) == 1 and rows[0]['episode'] == 0
  assert rows[0]['updates'] == 0 and len(rows[0]['test_returns']) == 1
  with open(os.path.join(logdir, rundir.SPEC_FILE)) as file:
    assert json.load(file) == {'kind': 'true_simulator', 'action_size': 1,
                               'frame_shape': [64, 64, 3]}
  assert rundir.read_config(logdir)['planner'] == 'true_simulator'
  assert rundir.is_finished(logdir)
  assert not os.path.exists(os.path.join(logdir, rundir.CHECKPOINTS_DIR))
  # train's preset runs the same program: the same config, nothing redone.
  again = _run('planet_tf.train', f'--logdir={logdir}',
               '--preset=true_simulator', *FLAGS)
  assert again.returncode == 0, again.stderr[-3000:]
  assert 'python -m planet_tf.true_simulator' in again.stderr
  assert 'already in' in again.stderr
  assert metrics_rows(logdir) == rows


def test_bad_flags_and_run_directories_are_one_line(tmp_path):
  logdir = tmp_path / 'sim'
  result = _run('planet_tf.true_simulator', f'--logdir={logdir}', *FLAGS,
                '--planner=cem')
  assert result.returncode != 0 and 'Traceback' not in result.stderr
  assert result.stderr.strip().splitlines()[-1].startswith(
      'Error: --planner=cem: planet_tf.true_simulator plans on the true '
      'simulator only')
  assert not logdir.exists()  # Refused before anything was made.
  result = _run('planet_tf.true_simulator', *FLAGS)
  assert result.stderr.strip().splitlines()[-1] == (
      'Error: pass --logdir=<run directory> (rerun with it to resume).')
  logdir.mkdir()
  (logdir / rundir.CONFIG_FILE).write_text('{"task": ')
  result = _run('planet_tf.true_simulator', f'--logdir={logdir}', *FLAGS)
  assert result.returncode != 0 and 'Traceback' not in result.stderr
  assert result.stderr.strip().splitlines()[-1].startswith(
      f'Error: {logdir}/config.json is corrupt')


def test_the_sweep_launches_the_program_for_its_runs(tmp_path):
  simulator = Run('cheetah_run', 1, ('true_simulator',), 'cpu')
  assert simulator.command('runs', 'python')[:3] == [
      'python', '-m', 'planet_tf.true_simulator']
  assert '--preset=true_simulator,cpu' in simulator.command('runs')
  assert Run('cheetah_run', 1, ('rssm',), 'cpu').command('runs', 'python')[
      :3] == ['python', '-m', 'planet_tf.train']
