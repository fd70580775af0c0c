"""Where the target was at each test start of a reacher run, and the return.

  python reproduce/reacher_test_starts.py --logdir=<run dir> --out=<file>.json

reacher's test returns are bimodal (an episode reaches the target and stays,
or scores about 0); this asks which starts the agent solves. For every test
episode the run recorded (`random_on_test_starts.recorded_tests`), it resets
the task in this process with that episode's seed (`driver.test_seeds`) and
reads the target's distance from the arm's base (the arena's centre) and
from the fingertip, then groups the starts into four quartiles of the
target's distance with the mean and range of the run's returns in each.
Writes `<out>` (JSON, one row per start) and a markdown table beside it.
"""

from __future__ import annotations

import datetime
import os
import shlex
import sys
from typing import List

import numpy as np
from absl import app, flags

from planet_tf import config as config_lib
from planet_tf import driver, envs, rundir
from reproduce import common
from reproduce import random_on_test_starts as tested_starts

REACHER_TASKS = ('reacher_easy', 'reacher_hard')


def starts(logdir: str) -> List[dict]:
  """One row per recorded test episode of the run's reacher task: episode,
  index, return, the target's distance from the base and from the finger."""
  config, recorded = tested_starts.recorded_tests(logdir)
  rows = []
  for task, points in recorded.items():
    if task not in REACHER_TASKS:
      continue
    env = envs.DMControlEnv(task, config_lib.action_repeat(config, task),
                            config.episode_length, config.image_size,
                            config.camera_id)
    try:
      for episode, returns in sorted(points.items()):
        rows += _targets(env, config, task, episode, returns)
    finally:
      env.close()
  if not rows:
    raise tested_starts.NoTestPoints(
        f'{logdir} is not a run of {" or ".join(REACHER_TASKS)}.')
  return rows


def _targets(env: envs.DMControlEnv, config: config_lib.Config, task: str,
             episode: int, returns: List[float]) -> List[dict]:
  """The rows of the test point after `episode`: each start reset from its
  seed and its target's distances read."""
  rows = []
  seeds = driver.test_seeds(config, episode, config.tasks.index(task))
  for j, (seed, value) in enumerate(zip(seeds, returns)):
    env.reset(seed)
    target = env.geom_position('target')[:2]
    finger = env.geom_position('finger')[:2]
    rows.append(dict(task=task, episode=episode, index=j, seed=seed,
                     test_return=value,
                     target_from_base=float(np.linalg.norm(target)),
                     target_from_finger=float(np.linalg.norm(target - finger))))
  return rows


def quartiles(rows: List[dict]) -> List[dict]:
  """The starts in four groups by the target's distance from the base."""
  ordered = sorted(rows, key=lambda row: row['target_from_base'])
  groups = []
  for part in np.array_split(np.arange(len(ordered)), 4):
    members = [ordered[i] for i in part]
    if not members:
      continue
    values = [row['test_return'] for row in members]
    groups.append(dict(
        starts=len(members),
        target_from_base=(members[0]['target_from_base'],
                          members[-1]['target_from_base']),
        mean=float(np.mean(values)), min=min(values), max=max(values)))
  return groups


def markdown(payload: dict) -> str:
  """The quartile table, then every start."""
  lines = ['# Where the target was at each test start', '',
           f"Run `{payload['logdir']}`; generated {payload['generated']} by "
           f"`{payload['command']}`. Distances in the arena's units (the "
           "target's from the arm's base, the arena's centre).", '',
           '| target from the base | starts | test return: mean (min-max) |',
           '|---|---|---|']
  for group in payload['quartiles']:
    low, high = group['target_from_base']
    lines.append(f"| {low:.3f}-{high:.3f} | {group['starts']} | "
                 f"{group['mean']:.1f} ({group['min']:.1f}-{group['max']:.1f}) |")
  lines += ['', '| test after episode | episode | target from the base | '
            'target from the finger | test return |', '|---|---|---|---|---|']
  for row in payload['starts']:
    lines.append(f"| {row['episode']} | {row['index']} | "
                 f"{row['target_from_base']:.3f} | "
                 f"{row['target_from_finger']:.3f} | {row['test_return']:.1f} |")
  return '\n'.join(lines) + '\n'


def main(argv) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  values = flags.FLAGS
  try:
    rows = starts(values.logdir)
  except (tested_starts.NoTestPoints, rundir.RunDirError) as error:
    sys.exit(f'Error: {error}')
  payload = dict(
      logdir=values.logdir, generated=datetime.date.today().isoformat(),
      command=shlex.join(['python', 'reproduce/reacher_test_starts.py']
                         + sys.argv[1:]),
      quartiles=quartiles(rows), starts=rows)
  paths = common.write_json_and_table(values.out, payload, markdown(payload))
  print('wrote', *paths, flush=True)


if __name__ == '__main__':
  os.environ.setdefault('MUJOCO_GL', 'egl')
  flags.DEFINE_string('logdir', None, 'A reacher run directory (config.json, '
                      'metrics.jsonl with test returns).')
  flags.DEFINE_string('out', None, 'The JSON file; the .md goes beside it.')
  flags.mark_flags_as_required(['logdir', 'out'])
  app.run(main)
