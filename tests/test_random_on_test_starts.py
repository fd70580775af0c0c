"""`reproduce/random_on_test_starts.py`: the random policy from a run's own
test starts. A tiny real run (reacher_easy, two test episodes at episode 3)
is the input; the random episodes must start where the trainer's test
episodes started (its test-point video), and the table must pair them.
`reproduce/reacher_test_starts.py` reads the same starts' targets."""

import json
import os
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest

from planet_tf import video
from reproduce import random_on_test_starts as paired

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(tiny_config):
  # reacher_easy: the target's place differs from start to start.
  return tiny_config.replace(task='reacher_easy', test_episodes=2)


@pytest.fixture(scope='module')
def run(tmp_path_factory, tiny_config):
  """A tiny run trained for 3 episodes with a test of 2 episodes at 3."""
  from planet_tf import components
  logdir = str(tmp_path_factory.mktemp('run'))
  components.train(_config(tiny_config), logdir)
  return logdir


def _script(*args):
  return subprocess.run(
      [sys.executable, os.path.join(ROOT, 'reproduce', 'random_on_test_starts.py'),
       *args], capture_output=True, text=True, timeout=300)


def test_random_episodes_start_where_the_test_started(run, tiny_config):
  config = _config(tiny_config)
  episodes = paired.random_episodes(config, config.task, 3, 2)
  # The trainer's video of its first test episode at episode 3.
  frames = iio.imread(os.path.join(run, 'videos', 'episode_000003.mp4'),
                      index=None)
  first = frames[0, video.CAPTION:].reshape(
      64, video.SCALE, 64, video.SCALE, 3).mean((1, 3))
  error = lambda frame: np.abs(first - frame.astype(np.float64)).mean()
  assert error(episodes[0]['image'][0]) < 3.0
  # The other start differs: the check can tell starts apart.
  assert error(episodes[1]['image'][0]) > 3.0


def test_the_table_pairs_each_start(run, tmp_path):
  out = str(tmp_path / 'paired.json')
  result = _script(f'--logdir={run}', f'--out={out}')
  assert result.returncode == 0, result.stderr[-3000:]
  payload = json.load(open(out))
  recorded = [json.loads(line) for line in open(os.path.join(run, 'metrics.jsonl'))]
  [row] = payload['tasks']['reacher_easy']
  assert row['episode'] == 3
  assert row['agent'] == recorded[-1]['test_returns']
  assert len(row['random']) == 2
  assert row['random_mean'] == pytest.approx(np.mean(row['random']))
  assert row['agent_higher'] == sum(
      a > r for a, r in zip(row['agent'], row['random']))
  assert row['random_higher'] == sum(
      r > a for a, r in zip(row['agent'], row['random']))
  assert 'reacher_easy test point at episode 3: agent' in result.stdout
  table = open(out[:-len('.json')] + '.md').read()
  assert f"| 3 | {row['agent_mean']:.1f} (" in table
  # Same run directory, same random episodes.
  again = paired.compare(run, log=lambda _: None)
  assert again['tasks']['reacher_easy'][0]['random'] == row['random']


def test_a_directory_without_tests_is_one_line(run, tmp_path):
  empty = str(tmp_path / 'empty')
  os.makedirs(empty)
  result = _script(f'--logdir={empty}', f'--out={tmp_path}/x.json')
  assert result.returncode != 0
  assert 'holds no config.json' in result.stderr
  untested = str(tmp_path / 'untested')
  os.makedirs(untested)
  with open(os.path.join(run, 'config.json')) as file:
    config = file.read()
  with open(os.path.join(untested, 'config.json'), 'w') as file:
    file.write(config)
  result = _script(f'--logdir={untested}', f'--out={tmp_path}/x.json')
  assert 'holds no test returns yet' in result.stderr
  assert not os.path.exists(tmp_path / 'x.json')


def test_reacher_starts_read_the_target_of_each_test_start(run, tmp_path):
  out = str(tmp_path / 'starts.json')
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'reproduce', 'reacher_test_starts.py'),
       f'--logdir={run}', f'--out={out}'], capture_output=True, text=True,
      timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  payload = json.load(open(out))
  recorded = [json.loads(line) for line in open(os.path.join(run, 'metrics.jsonl'))]
  rows = payload['starts']
  assert [row['test_return'] for row in rows] == recorded[-1]['test_returns']
  # dm_control's reacher places the target 0.05-0.20 from the arm's base.
  assert all(0.05 <= row['target_from_base'] <= 0.20 for row in rows)
  assert rows[0]['target_from_base'] != rows[1]['target_from_base']
  assert '| target from the base | starts |' in open(out[:-5] + '.md').read()


def test_reacher_quartiles_group_by_the_targets_distance():
  from reproduce import reacher_test_starts
  rows = [dict(target_from_base=d, test_return=r) for d, r in
          [(0.19, 0.0), (0.06, 900.0), (0.12, 10.0), (0.07, 700.0),
           (0.15, 0.0), (0.10, 50.0), (0.17, 20.0), (0.09, 30.0)]]
  groups = reacher_test_starts.quartiles(rows)
  assert [g['starts'] for g in groups] == [2, 2, 2, 2]
  assert groups[0]['target_from_base'] == (0.06, 0.07)
  assert groups[0]['mean'] == 800.0 and groups[-1]['max'] == 20.0
