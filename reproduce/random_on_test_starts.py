"""The uniformly random policy from a run's own test starts: a paired floor.

  python reproduce/random_on_test_starts.py --logdir=<run dir> --out=<file>.json

A test episode's return depends on where it starts (where the target, the
pole or the body begin) as well as on the policy, and a test point has few
episodes. This runs the uniformly random policy from exactly the starts of
every test episode the run recorded in its metrics.jsonl (the trainer's
seeds, `driver.test_seeds`), in the environment the test used
(`driver.make_env` with the run's config.json), and sets the run's return
beside each: per test point the two means and on how many starts the agent
scored more than the random policy. Writes `<out>` (JSON) and a markdown
table beside it, atomically.

Seeding: the start is the test's; the random actions of test episode j at
test point e of task t draw from `numpy.random.SeedSequence([run seed,
crc32(t), e, j])`, so the result depends only on the run directory.
"""

from __future__ import annotations

import datetime
import os
import shlex
import sys
import zlib
from typing import Callable, Dict, List, Tuple

import numpy as np
from absl import app, flags

from planet_tf import config as config_lib
from planet_tf import driver, envs, rundir
from reproduce import aggregate, common

Log = Callable[[str], None]


def _print(line: str) -> None:
  print(line, flush=True)


class NoTestPoints(ValueError):
  """The run directory holds no config or no test point to compare with."""


def recorded_tests(logdir: str) -> Tuple[config_lib.Config,
                                         Dict[str, Dict[int, List[float]]]]:
  """The run's config, and task -> {episode: the run's test returns after
  that episode}, from metrics.jsonl (keys `test_returns`, or
  `test_returns/<task>` when the run had several tasks)."""
  values = rundir.read_config(logdir)
  if values is None:
    raise NoTestPoints(f'{logdir} holds no {rundir.CONFIG_FILE}: give the '
                       'directory of a run (it holds config.json and '
                       'metrics.jsonl).')
  config = config_lib.Config.from_dict(values)
  rows = rundir.read_metrics(logdir).rows
  tests = {}
  for task in config.tasks:
    key = 'test_returns' if len(config.tasks) == 1 else f'test_returns/{task}'
    tests[task] = aggregate.returns_by_episode(rows, key)
  if not any(tests.values()):
    raise NoTestPoints(f'{logdir}/{rundir.METRICS_FILE} holds no test '
                       'returns yet: the first test point comes after '
                       f'{config.test_every} episodes.')
  return config, tests


def action_rng(config: config_lib.Config, task: str, episode: int,
               j: int) -> np.random.Generator:
  """The random actions of test episode `j` of the point after `episode`."""
  return np.random.default_rng(np.random.SeedSequence(
      [config.seed, zlib.crc32(task.encode()), episode, j]))


def random_episodes(config: config_lib.Config, task: str, episode: int,
                    count: int) -> List[dict]:
  """The random policy's episodes from the first `count` test starts of the
  point after `episode`, run together as the trainer runs its test."""
  seeds = driver.test_seeds(config, episode, config.tasks.index(task))[:count]
  environments = [driver.make_env(config, task) for _ in seeds]
  try:
    rngs = [action_rng(config, task, episode, j) for j in range(len(seeds))]
    size = environments[0].action_size
    act = lambda frames: np.stack(
        [envs.random_action(size, rng) for rng in rngs])
    return driver.run_episodes(environments, act, seeds)
  finally:
    for env in environments:
      env.close()


def compare(logdir: str, command: str = '', log: Log = _print) -> dict:
  """Per task and test point: the run's returns, the random policy's from
  the same starts, their means and the starts the agent scored more on."""
  config, recorded = recorded_tests(logdir)
  tasks = {}
  for task, points in recorded.items():
    rows = []
    for episode, agent in sorted(points.items()):
      chance = [float(np.sum(e['reward'], dtype=np.float64)) for e in
                random_episodes(config, task, episode, len(agent))]
      rows.append(dict(
          episode=episode, agent=agent, random=chance,
          agent_mean=float(np.mean(agent)), random_mean=float(np.mean(chance)),
          agent_higher=sum(a > r for a, r in zip(agent, chance)),
          random_higher=sum(r > a for a, r in zip(agent, chance))))
      log(f'{task} test point at episode {episode}: agent '
          f"{rows[-1]['agent_mean']:.1f}, random {rows[-1]['random_mean']:.1f} "
          f"from the same {len(agent)} starts; agent higher on "
          f"{rows[-1]['agent_higher']}, random on {rows[-1]['random_higher']}")
    tasks[task] = rows
  return dict(logdir=logdir, run_seed=config.seed,
              generated=datetime.date.today().isoformat(), command=command,
              tasks=tasks)


def markdown(payload: dict) -> str:
  """The comparison as one markdown table per task."""
  lines = ['# The uniformly random policy from the run\'s own test starts', '',
           f"Run `{payload['logdir']}` (seed {payload['run_seed']}); "
           f"generated {payload['generated']} by `{payload['command']}`.", '']
  for task, rows in payload['tasks'].items():
    lines += [f'## {task}', '',
              '| test after episode | agent: mean (min-max) | random from the '
              'same starts: mean (min-max) | starts where the agent scored '
              'more | where random did |', '|---|---|---|---|---|']
    for row in rows:
      lines.append(
          f"| {row['episode']} | {row['agent_mean']:.1f} "
          f"({min(row['agent']):.1f}-{max(row['agent']):.1f}) | "
          f"{row['random_mean']:.1f} ({min(row['random']):.1f}-"
          f"{max(row['random']):.1f}) | {row['agent_higher']} of "
          f"{len(row['agent'])} | {row['random_higher']} |")
    lines.append('')
  return '\n'.join(lines)


def write(payload: dict, out: str) -> List[str]:
  """Writes `out` (JSON) and its markdown table, each atomically."""
  return common.write_json_and_table(out, payload, markdown(payload))


def define_flags() -> None:
  flags.DEFINE_string('logdir', None, 'The run directory (config.json and '
                      'metrics.jsonl with test returns).')
  flags.DEFINE_string('out', None, 'The JSON file; the .md goes beside it.')
  flags.mark_flags_as_required(['logdir', 'out'])


def main(argv) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  values = flags.FLAGS
  command = shlex.join(['python', 'reproduce/random_on_test_starts.py']
                       + sys.argv[1:])
  try:
    payload = compare(values.logdir, command)
  except (NoTestPoints, rundir.RunDirError) as error:
    sys.exit(f'Error: {error}')
  for path in write(payload, values.out):
    print('wrote', path, flush=True)


if __name__ == '__main__':
  os.environ.setdefault('MUJOCO_GL', 'egl')
  define_flags()
  app.run(main)
