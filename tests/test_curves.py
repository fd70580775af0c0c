import json
import os
import subprocess
import sys

import pytest

from planet_tf import rundir
from reproduce import curves, plotting
from reproduce.aggregate import Curve

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RANDOM = {'cheetah_run': {'returns': [6.0, 13.0, 20.0], 'mean': 13.0,
                          'min': 6.0, 'max': 20.0, 'action_repeat': 4}}


def _rows(episodes):
  rows = []
  for episode in range(1, episodes + 1):
    row = {'episode': episode, 'task': 'x', 'train_return': 2.0 * episode,
           'env_steps': 1000 * episode}
    if episode % 10 == 0:
      row['test_returns'] = [episode + 1.0, episode + 5.0, episode + 3.0]
      row['test_return'] = episode + 3.0
    rows.append(row)
  return rows


def _write_run(logdir, rows, total=40, pid=None, extra_line=''):
  os.makedirs(logdir)
  rundir.write_atomic(os.path.join(logdir, 'config.json'),
                      json.dumps({'total_episodes': total}).encode())
  text = ''.join(json.dumps(row) + '\n' for row in rows) + extra_line
  rundir.write_atomic(os.path.join(logdir, 'metrics.jsonl'), text.encode())
  if pid is not None:  # The PID of a process that has ended: no lock held.
    rundir.write_atomic(os.path.join(logdir, '.lock'), str(pid).encode())


@pytest.fixture
def runs_dir(tmp_path):
  """cheetah finished, cartpole running, walker stopped, the rest not run."""
  root = tmp_path / 'runs' / 'cpu' / 'rssm'
  _write_run(str(root / 'cheetah_run' / 'seed1'), _rows(40),
             extra_line='{"episode": 41, "train_ret\n')  # Cut off: skipped.
  _write_run(str(root / 'cartpole_swingup' / 'seed1'), _rows(5))
  held = rundir.lock(str(root / 'cartpole_swingup' / 'seed1'))  # Running.
  _write_run(str(root / 'walker_walk' / 'seed1'), _rows(12), pid=2**22 + 7)
  random = tmp_path / 'random_policy.json'
  rundir.write_atomic(str(random), json.dumps({'tasks': RANDOM}).encode())
  yield tmp_path
  held.close()


def test_figure_and_its_numbers(runs_dir):
  out = str(runs_dir / 'results' / 'curves_cpu')
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'reproduce', 'curves.py'),
       f"--runs_dir={runs_dir / 'runs'}", '--budget=cpu', '--seed=1',
       f"--random={runs_dir / 'random_policy.json'}", f'--out={out}'],
      capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  for suffix in ('.png', '.pdf', '.json'):
    assert os.path.getsize(out + suffix) > 1000
  payload = json.loads(open(out + '.json').read())
  assert payload['budget'] == 'cpu' and payload['seed'] == 1
  assert "budget 'cpu': 40 episodes" in payload['title']
  assert "NOT the paper's budget" in payload['title']
  tasks = payload['tasks']
  assert list(tasks) == ['cartpole_swingup', 'reacher_easy', 'cheetah_run',
                         'finger_spin', 'cup_catch', 'walker_walk']
  cheetah = tasks['cheetah_run']
  assert cheetah['status'] == 'finished'
  assert cheetah['episode'] == list(range(1, 41))
  assert cheetah['train_return'] == [2.0 * e for e in range(1, 41)]
  assert cheetah['test_episode'] == [10, 20, 30, 40]
  assert cheetah['test_mean'] == [13.0, 23.0, 33.0, 43.0]
  assert cheetah['test_min'] == [11.0, 21.0, 31.0, 41.0]
  assert cheetah['test_max'] == [15.0, 25.0, 35.0, 45.0]
  assert cheetah['random']['mean'] == 13.0 and cheetah['random']['max'] == 20.0
  assert cheetah['paper_planet'] == 662.0
  assert tasks['cartpole_swingup']['status'] == 'running: 5/40 episodes'
  assert tasks['walker_walk']['status'].startswith('stopped at 12/40 episodes')
  assert tasks['walker_walk']['test_episode'] == [10]
  assert tasks['walker_walk']['random'] is None
  assert tasks['reacher_easy']['status'] == 'not run yet'
  assert tasks['reacher_easy']['episode'] == []
  assert tasks['reacher_easy']['total_episodes'] == 40
  assert 'cheetah_run: finished' in result.stdout
  assert not [f for f in os.listdir(runs_dir / 'results') if '.tmp' in f]


def test_the_grid_fits_the_tasks_without_empty_rows():
  assert curves.grid_shape(6) == (2, 3)  # Table 1's grid.
  assert curves.grid_shape(2) == (1, 2)
  assert curves.grid_shape(4) == (2, 3)
  assert curves.grid_shape(1) == (1, 1)
  with pytest.raises(ValueError, match='at least one task'):
    curves.grid_shape(0)


def test_run_status(tmp_path):
  logdir = str(tmp_path)
  assert curves.run_status(logdir, [], None) == 'not run yet'
  assert curves.run_status(logdir, _rows(40), 40) == 'finished'
  assert curves.run_status(logdir, _rows(3), 40).startswith('stopped at 3/40')
  rundir.write_atomic(os.path.join(logdir, '.lock'), str(os.getpid()).encode())
  # A lock file alone (its process gone, its PID reused) is not a run.
  assert curves.run_status(logdir, _rows(3), 40).startswith('stopped at 3/40')
  held = rundir.lock(logdir)
  assert curves.run_status(logdir, _rows(3), 40) == 'running: 3/40 episodes'
  held.close()



def test_figure4_panels_fit_the_data_with_distinct_styles_and_whole_episodes():
  def curve(values):
    return Curve([2, 4], values, values, values, [1, 1], [1, 1])

  same = curve([1.0, 4.0])
  figure = plotting.curves_figure(
      {'cheetah_run': {'a': same, 'b': same, 'c': curve([0.5, 2.0])}},
      'title', plotting.references(['cheetah_run']))
  axis = figure.axes[0]
  low, high = axis.get_ylim()
  assert -1 < low < 0.5 and 4 < high < 5, 'quoted 214 and 524 set no range'
  left, right = axis.get_xlim()
  ticks = [t for t in axis.get_xticks() if left <= t <= right]
  assert ticks and all(float(t).is_integer() for t in ticks)
  styles = [(line.get_linestyle(), line.get_marker(), line.get_color())
            for line in axis.get_lines()
            if line.get_label() in ('a', 'b', 'c')]
  assert len(styles) == 3 and len(set(styles)) == 3
  for part in (0, 1, 2):
    assert len({style[part] for style in styles}) == 3
  labels = [t.get_text() for t in axis.texts]
  assert 'D4PG 524 \u2191' in labels and 'A3C 214 \u2191' in labels
