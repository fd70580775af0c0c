"""reproduce/: aggregation numbers, files written, launchers on tiny runs."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from planet_tf import rundir, runtime
from reproduce import aggregate, common, launcher, plotting, ray_launcher
from reproduce.common import Run
from reproduce.outcomes import pending, run_name, summarize

ROOT = common.REPO_ROOT


def _rows(points, total):
  """Metrics rows for episodes 1..total; points: episode -> test returns."""
  rows = []
  for episode in range(1, total + 1):
    row = {'episode': episode, 'train_return': 0.0, 'env_steps': 1000 * episode}
    if episode in points:
      row['test_returns'] = list(points[episode])
      row['test_return'] = float(np.mean(points[episode]))
    rows.append(row)
  return rows


def _write_run(logdir, rows, total_episodes):
  os.makedirs(logdir, exist_ok=True)
  with open(os.path.join(logdir, 'config.json'), 'w') as file:
    json.dump({'total_episodes': total_episodes}, file)
  with open(os.path.join(logdir, 'metrics.jsonl'), 'w') as file:
    file.writelines(json.dumps(row) + '\n' for row in rows)


# Two seeds; at episode 10 they pool to 0..19, at 20 only seed 1 has tested.
SEED1 = {10: range(0, 10), 20: [100.0, 200.0]}
SEED2 = {10: range(10, 20)}


def test_curve_pools_seeds_and_trajectories_per_episode():
  curve = aggregate.curve([_rows(SEED1, 20), _rows(SEED2, 10)])
  assert curve.episodes == [10, 20]
  # 0..19: median 9.5; linear percentiles 0.05 * 19 and 0.95 * 19.
  np.testing.assert_allclose(curve.median, [9.5, 150.0])
  np.testing.assert_allclose(curve.low, [0.95, 105.0])
  np.testing.assert_allclose(curve.high, [18.05, 195.0])
  assert curve.trajectories == [20, 2] and curve.runs == [2, 1]
  assert aggregate.curve([_rows({}, 5)]) is None


def test_final_is_the_mean_over_each_runs_last_test_point():
  final = aggregate.final([_rows(SEED1, 20), _rows(SEED2, 10)])
  # Seed 1 ends at episode 20 (100, 200), seed 2 at 10 (10..19).
  assert final.mean == pytest.approx((300.0 + 145.0) / 12)
  assert (final.trajectories, final.runs, final.episodes) == (12, 2, [10, 20])


def test_run_directories_commands_and_overrides(tiny):
  overrides, problems = common.check_overrides(['horizon=8', '--free_nats=2'])
  assert overrides == (('free_nats', '2'), ('horizon', '8')) and not problems
  run = Run('cheetah_run', 2, ('rnn',), 'cpu', overrides)
  assert run.logdir('runs') == os.path.join(
      'runs', 'cpu', 'rnn@free_nats=2,horizon=8', 'cheetah_run', 'seed2')
  command = run.command('runs', 'python')
  assert command[:3] == ['python', '-m', 'planet_tf.train']
  assert '--preset=rnn,cpu' in command and '--task=cheetah_run' in command
  assert '--seed=2' in command and '--horizon=8' in command
  multitask = Run(None, 1, ('multitask',), 'paper')
  assert multitask.logdir('r') == os.path.join('r', 'paper', 'multitask',
                                               'all_tasks', 'seed1')
  assert not any(arg.startswith('--task') for arg in multitask.command('r'))
  _, problems = common.check_overrides(['horizonn=8', 'seed=3'])
  assert 'not a config field' in problems[0]
  assert 'set by the sweep' in problems[1]
  with pytest.raises(ValueError, match='budget'):
    common.make_runs([('rssm',)], ['cheetah_run'], 1, 'huge')
  long = Run('cheetah_run', 1, ('paper',), 'debug', common.check_overrides(
      [f'{k}={v}' for k, v in tiny.items() if k != 'task'])[0])
  assert len(long.variant) < 40 and long.variant.startswith('paper@cfg-')


def test_is_finished_compares_metrics_with_total_episodes(tmp_path):
  logdir = str(tmp_path / 'run')
  assert not rundir.is_finished(logdir)
  _write_run(logdir, _rows({}, 2), total_episodes=3)
  assert not rundir.is_finished(logdir)
  assert pending([Run('x', 1)], str(tmp_path)) == [Run('x', 1)]
  _write_run(logdir, _rows({}, 3), total_episodes=3)
  assert rundir.is_finished(logdir)


def test_launcher_refuses_unknown_presets_before_starting(tmp_path):
  runs = [Run('cheetah_run', 1, ('no_such_preset',), 'debug')]
  with pytest.raises(ValueError, match='no_such_preset are not defined'):
    launcher.launch(runs, str(tmp_path), 'local')
  assert not os.listdir(tmp_path)
  # A finished run needs no preset: it is skipped.
  _write_run(runs[0].logdir(str(tmp_path)), _rows({}, 1), total_episodes=1)
  assert launcher.launch(runs, str(tmp_path), 'local', log=print)[0].skipped


def _script(name, *args):
  """Runs reproduce/<name> as a user does, with the checkout importable as
  an installed one is (pyproject.toml; scripts/setup.sh installs it)."""
  command = [sys.executable, os.path.join(ROOT, 'reproduce', name), *args]
  return subprocess.run(command, capture_output=True, text=True, timeout=120,
                        cwd=ROOT, env=runtime.child_env())


def test_figure4_script_plots_and_writes_known_numbers(tmp_path):
  runs, results = tmp_path / 'runs', tmp_path / 'results'
  for seed, points in ((1, SEED1), (2, SEED2)):
    _write_run(str(runs / 'cpu' / 'rssm' / 'cheetah_run' / f'seed{seed}'),
               _rows(points, 20 if seed == 1 else 10), 20)
  result = _script('figure4.py', '--aggregate_only', '--budget=cpu',
                   '--seeds=2', '--tasks=cheetah_run,walker_walk',
                   f'--runs_dir={runs}', f'--results_dir={results}')
  assert result.returncode == 0, result.stderr[-3000:]
  assert sorted(os.listdir(results)) == [
      'figure4_cpu.json', 'figure4_cpu.pdf', 'figure4_cpu.png']
  data = json.loads((results / 'figure4_cpu.json').read_text())
  assert data['budget'] == 'cpu' and "NOT the paper's" in data['budget_label']
  rssm = data['curves']['cheetah_run']['PlaNet (RSSM)']
  np.testing.assert_allclose(rssm['median'], [9.5, 150.0])
  np.testing.assert_allclose(rssm['low'], [0.95, 105.0])
  np.testing.assert_allclose(rssm['high'], [18.05, 195.0])
  assert data['curves']['cheetah_run']['deterministic (GRU)'] is None
  assert data['curves']['walker_walk']['PlaNet (RSSM)'] is None
  assert data['runs']['rssm/cheetah_run'] == dict(finished=1, total=2,
                                                  with_metrics=2)
  assert (results / 'figure4_cpu.png').read_bytes()[:4] == b'\x89PNG'
  assert (results / 'figure4_cpu.pdf').read_bytes()[:4] == b'%PDF'


def test_table1_script_quotes_the_paper_and_labels_measured_rows(tmp_path):
  runs, results = tmp_path / 'runs', tmp_path / 'results'
  variant = 'rssm@horizon=8'  # Overrides pass through after `--`.
  for seed, points in ((1, SEED1), (2, SEED2)):
    _write_run(str(runs / 'cpu' / variant / 'cheetah_run' / f'seed{seed}'),
               _rows(points, 20), 20)
  result = _script('table1.py', '--aggregate_only', '--budget=cpu',
                   '--seeds=2', f'--runs_dir={runs}',
                   f'--results_dir={results}', '--', '--horizon=8')
  assert result.returncode == 0, result.stderr[-3000:]
  assert sorted(os.listdir(results)) == [
      'table1_cpu.csv', 'table1_cpu.json', 'table1_cpu.md']
  # Not asked for (no --true_simulator) and without metrics: not listed.
  listed = result.stdout.split('Runs:')[1].split('Wrote')[0]
  assert variant in listed and 'true_simulator' not in listed
  rows = list(csv.DictReader(open(results / 'table1_cpu.csv')))
  by_method = {row['method']: row for row in rows}
  assert by_method['D4PG']['source'] == 'quoted from the paper'
  assert by_method['D4PG']['cheetah_run'] == '524'
  assert by_method['PlaNet (paper)']['walker_walk'] == '951'
  measured = by_method["PlaNet (this run, budget 'cpu')"]
  assert measured['source'] == 'measured here' and measured['budget'] == 'cpu'
  assert float(measured['cheetah_run']) == pytest.approx(445.0 / 12)
  assert measured['walker_walk'] == ''
  assert by_method['Data efficiency gain PlaNet over D4PG (factor, paper)'][
      'cheetah_run'] == '500+'
  assert by_method['Data efficiency gain PlaNet over D4PG (factor, this run)'][
      'cheetah_run'] == 'n/a (needs D4PG curves)'
  assert not any('true simulator (this run' in m for m in by_method)
  markdown = (results / 'table1_cpu.md').read_text()
  assert "budget 'cpu'" in markdown.splitlines()[0]
  assert "NOT the paper's budget" in markdown and '| 37.1 |' in markdown
  table = json.loads((results / 'table1_cpu.json').read_text())
  assert table['budget'] == 'cpu'
  assert table['measured']['PlaNet']['cheetah_run']['trajectories'] == 12


def test_scripts_name_the_runs_dir_and_command_without_metrics(tmp_path):
  result = _script('table1.py', '--aggregate_only', f'--runs_dir={tmp_path}',
                   f'--results_dir={tmp_path}/results')
  assert result.returncode != 0
  assert str(tmp_path) in result.stderr and 'reproduce/table1.py' in result.stderr
  assert not os.path.exists(tmp_path / 'results')


def test_figure7_reads_per_task_keys_of_the_multitask_run(tmp_path):
  runs, results = tmp_path / 'runs', tmp_path / 'results'
  rows = _rows({}, 6)
  rows[5]['test_returns/cheetah_run'] = [1.0, 2.0, 3.0]
  rows[5]['test_returns/walker_walk'] = [10.0, 20.0, 30.0]
  _write_run(str(runs / 'paper' / 'multitask' / 'all_tasks' / 'seed1'), rows, 6)
  result = _script('figure7.py', '--aggregate_only', '--seeds=1',
                   '--tasks=cheetah_run,walker_walk', f'--runs_dir={runs}',
                   f'--results_dir={results}')
  assert result.returncode == 0, result.stderr[-3000:]
  data = json.loads((results / 'figure7.json').read_text())
  curves = data['curves']
  assert curves['cheetah_run']['PlaNet, one agent for all tasks']['median'] == [2.0]
  assert curves['walker_walk']['PlaNet, one agent for all tasks']['median'] == [20.0]
  assert curves['walker_walk']['PlaNet, one agent per task'] is None
  assert os.path.exists(results / 'figure7.png')


def test_plot_curves_handles_empty_panels(tmp_path):
  curve = aggregate.curve([_rows(SEED1, 20)])
  paths = plotting.plot_curves(
      {'cheetah_run': {'a': curve, 'b': None}, 'hopper_hop': {'a': None}},
      'title', str(tmp_path / 'fig'), plotting.references(['cheetah_run']))
  assert [os.path.getsize(p) > 1000 for p in paths] == [True, True]
  assert not [f for f in os.listdir(tmp_path) if '.tmp' in f]


def _tiny_runs(tiny, **changes):
  """Two runs (seeds 1, 2) of the tiny config at budget debug: 3 episodes
  each."""
  values = dict(tiny, **changes)
  overrides, _ = common.check_overrides(
      [f'{k}={v}' for k, v in values.items() if k != 'task'])
  return [Run('cheetah_run', seed, ('paper',), 'debug', overrides)
          for seed in (1, 2)]


@pytest.fixture(scope='module')
def local_sweep(tmp_path_factory, tiny):
  """Two tiny runs through the local launcher, two at a time."""
  runs_dir = str(tmp_path_factory.mktemp('runs'))
  messages = []
  outcomes = launcher.launch(_tiny_runs(tiny), runs_dir, 'local', parallel=2,
                             log=messages.append)
  return runs_dir, outcomes, messages


def test_local_launcher_runs_then_skips_finished_runs(local_sweep, tiny):
  runs_dir, outcomes, messages = local_sweep
  assert [o.ok and not o.skipped for o in outcomes] == [True, True], [
      open(o.logdir + '.log').read()[-2000:] for o in outcomes]
  for run in _tiny_runs(tiny):
    logdir = run.logdir(runs_dir)
    assert rundir.is_finished(logdir)
    assert common.read_run_spec(logdir)['budget'] == 'debug'
    assert 'episode 3/3' in open(logdir + '.log').read()
    assert rundir.read_config(logdir)['seed'] == run.seed
  assert 'to run here, 2 at a time' in messages[0]
  for run in _tiny_runs(tiny):  # One progress line per episode, from metrics.
    name = run_name(run)
    lines = [m for m in messages if m.startswith(f'{name}: ')]
    assert [line.split(' | ')[0] for line in lines] == [
        f'{name}: episode {episode}/3' for episode in (1, 2, 3)], messages
    assert 'train return' in lines[0] and 'test return' in lines[2]
    assert lines[2].endswith('| done')
  again = launcher.launch(_tiny_runs(tiny), runs_dir, 'local', parallel=2,
                          log=messages.append)
  assert [o.skipped for o in again] == [True, True]
  assert '2 were already finished' in summarize(again)


def test_openloop_figure_from_a_trained_checkpoint(local_sweep, tmp_path, tiny):
  import tensorflow as tf
  from reproduce import openloop
  logdir = _tiny_runs(tiny)[0].logdir(local_sweep[0])
  _, world_model, _, latest = openloop.load_run(logdir)
  stored = [tf.train.load_variable(latest, name)
            for name, shape in tf.train.list_variables(latest) if shape]
  restored = [any(s.shape == v.shape and np.array_equal(s, v) for s in stored)
              for v in world_model.trainable_variables]
  assert all(restored), 'every weight comes from the checkpoint'
  paths = openloop.openloop_figure(logdir, str(tmp_path / 'openloop'), 'debug',
                                   sequences=2)
  assert [os.path.basename(p) for p in paths] == ['openloop.png', 'openloop.pdf']


def test_ray_launcher_on_a_local_instance(tmp_path, tiny):
  # Collect-only runs (3 seed episodes, no updates, no tests) keep this short:
  # it checks the Ray plumbing; training via the launcher is tested above.
  ray = pytest.importorskip('ray')
  runs = _tiny_runs(tiny, seed_episodes=3, test_episodes=0)
  ray.init(num_cpus=2, num_gpus=0, include_dashboard=False,
           log_to_driver=False, runtime_env=ray_launcher.ray_runtime_env())
  try:
    messages = []
    outcomes = ray_launcher.launch_ray(runs, str(tmp_path), None,
                                       log=messages.append)
  finally:
    ray.shutdown()
  assert [o.ok for o in outcomes] == [True, True], [
      open(o.logdir + '.log').read()[-2000:] for o in outcomes]
  assert '0 GPU each' in messages[0]
  for run in runs:
    logdir = run.logdir(str(tmp_path))
    assert rundir.is_finished(logdir)
    assert 'ray worker' in open(logdir + '.log').read()
