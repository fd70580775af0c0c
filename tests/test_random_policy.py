import json
import os
import subprocess
import sys

import numpy as np
import pytest

from planet_tf import env_process
from reproduce import random_policy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TASK, LENGTH = 'cartpole_swingup', 40  # 5 agent steps at the paper's R=8.


def _run(out):
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'reproduce', 'random_policy.py'),
       f'--tasks={TASK}', '--episodes=2', f'--episode_length={LENGTH}',
       '--seed=3', f'--out={out}'],
      capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  return out, result.stdout, json.loads(open(out).read())


@pytest.fixture(scope='module')
def script_run(tmp_path_factory):
  """The script once (seed 3): the out path, its stdout and its JSON."""
  return _run(str(tmp_path_factory.mktemp('random') / 'random.json'))


def test_schema_progress_and_table(script_run):
  out, stdout, payload = script_run
  assert payload['episodes_per_task'] == 2 and payload['seed'] == 3
  assert payload['episode_length'] == LENGTH
  assert 'random_policy.py' in payload['command'] and payload['generated']
  assert list(payload['tasks']) == [TASK]
  result = payload['tasks'][TASK]
  assert set(result) == {'returns', 'mean', 'min', 'max', 'action_repeat'}
  assert len(result['returns']) == 2 and result['action_repeat'] == 8
  assert result['mean'] == pytest.approx(np.mean(result['returns']))
  assert (result['min'], result['max']) == (min(result['returns']),
                                            max(result['returns']))
  assert f'{TASK} episode 2/2: return' in stdout
  assert f'wrote {out}' in stdout
  table = open(out[:-len('.json')] + '.md').read()
  assert f"| {TASK} | 8 | {result['mean']:.1f} |" in table


def test_same_seed_same_returns_in_another_process(script_run):
  returns = script_run[2]['tasks'][TASK]['returns']
  again = random_policy.run_task(TASK, 2, 3, LENGTH, log=lambda _: None)
  assert again['returns'] == returns
  assert returns[0] != returns[1], 'episodes of a task have their own seeds'


def test_returns_are_sums_of_rewards_of_the_documented_episodes(script_run):
  """Replays each episode from the documented seeds, step by step."""
  returns = script_run[2]['tasks'][TASK]['returns']
  with env_process.ProcessEnv(TASK, action_repeat=8, episode_length=LENGTH) as env:
    for index, expected in enumerate(returns):
      env_seed, action_seed = random_policy.episode_seeds(3, TASK, index)
      rng = np.random.default_rng(action_seed)
      env.reset(env_seed)
      rewards, done = [], False
      while not done:
        _, reward, done = env.step(rng.uniform(-1, 1, env.action_size))
        rewards.append(reward)
      assert len(rewards) == 5
      assert expected == pytest.approx(sum(rewards), rel=1e-5)
      assert expected > 0


def test_episode_seeds_depend_on_seed_task_and_episode():
  seeds = {random_policy.episode_seeds(s, t, i) for s in (0, 1)
           for t in ('cheetah_run', 'walker_walk') for i in (0, 1)}
  assert len(seeds) == 8
  assert random_policy.episode_seeds(0, 'cheetah_run', 1) == (
      random_policy.episode_seeds(0, 'cheetah_run', 1))
