"""The uniformly random policy: a floor for every learning curve.

  python reproduce/random_policy.py                       # six tasks x 10 episodes
  python reproduce/random_policy.py --tasks=cheetah_run --episodes=3 --out=/tmp/r.json

Runs each task from pixels at the paper's action repeat (`tasks.PAPER_TASKS`)
with actions drawn uniformly from [-1, 1] at every agent step, in the same
environment the agent sees (`env_process.ProcessEnv`: 1000 environment steps, the
rewards of the repeats summed). Writes `<out>` (JSON, atomically) and a
markdown table beside it (`<out>` with `.md`).

Seeding: episode i of a task draws its two seeds from
`numpy.random.SeedSequence([seed, crc32(task name), i]).generate_state(2)`:
the first reseeds the environment's reset, the second seeds the
`numpy.random.default_rng` of its actions. So an episode depends only on
(--seed, task, i): not on the other tasks listed, their order, or --episodes.
"""

from __future__ import annotations

import datetime
import functools
import os
import shlex
import sys
import time
import zlib
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
from absl import app, flags

from planet_tf import driver, env_process, envs
from planet_tf.tasks import PAPER_TASKS
from reproduce import common

DEFAULT_SEED = 0
DEFAULT_OUT = os.path.join('results', 'random_policy.json')


def episode_seeds(seed: int, task: str, episode: int) -> Tuple[int, int]:
  """(environment reset seed, action RNG seed) of episode `episode` of `task`."""
  # crc32, not hash(): Python salts string hashes per process.
  sequence = np.random.SeedSequence([seed, zlib.crc32(task.encode()), episode])
  env_seed, action_seed = sequence.generate_state(2)
  return int(env_seed), int(action_seed)


def run_task(task: str, episodes: int, seed: int, episode_length: int = 1000,
             log: Callable[[str], None] = functools.partial(print, flush=True)
             ) -> Dict[str, object]:
  """Returns of `episodes` uniformly random episodes of a paper task, with
  their mean, min, max and the action repeat used."""
  repeat = PAPER_TASKS[task][2]
  returns = []
  with env_process.ProcessEnv(task, action_repeat=repeat,
                       episode_length=episode_length) as env:
    for index in range(episodes):
      start = time.time()
      env_seed, action_seed = episode_seeds(seed, task, index)
      rng = np.random.default_rng(action_seed)
      episode = driver.run_episode(
          env, lambda _: envs.random_action(env.action_size, rng), env_seed)
      returns.append(float(np.sum(episode['reward'], dtype=np.float64)))
      log(f'{task} episode {index + 1}/{episodes}: return {returns[-1]:.1f} '
          f'({len(episode["reward"]) - 1} agent steps, '
          f'{time.time() - start:.1f} s)')
  return dict(returns=returns, mean=float(np.mean(returns)),
              min=float(np.min(returns)), max=float(np.max(returns)),
              action_repeat=repeat)


def markdown(payload: dict) -> str:
  """The results as a short markdown table."""
  lines = [f"# Uniformly random policy: {payload['episodes_per_task']} "
           'episodes per task', '',
           f"Actions uniform in [-1, 1] at the paper's action repeat; "
           f"{payload['episode_length']} environment steps per episode; "
           f"base seed {payload['seed']}; generated {payload['generated']} by "
           f"`{payload['command']}`.", '',
           '| task | action repeat | mean return | min | max |',
           '|---|---|---|---|---|']
  for task, result in payload['tasks'].items():
    lines.append(f"| {task} | {result['action_repeat']} | {result['mean']:.1f} "
                 f"| {result['min']:.1f} | {result['max']:.1f} |")
  return '\n'.join(lines) + '\n'


def write(payload: dict, out: str) -> List[str]:
  """Writes `out` (JSON) and its markdown table, each atomically."""
  return common.write_json_and_table(out, payload, markdown(payload))


def measure(tasks: Sequence[str], episodes: int, seed: int,
            episode_length: int, command: str) -> dict:
  """Runs every task; returns the payload written to the JSON file."""
  return dict(
      episodes_per_task=episodes, seed=seed,
      generated=datetime.date.today().isoformat(), command=command,
      episode_length=episode_length,
      seeding='SeedSequence([seed, crc32(task), episode]).generate_state(2) '
              '-> (environment reset seed, action RNG seed)',
      tasks={task: run_task(task, episodes, seed, episode_length)
             for task in tasks})


def define_flags() -> None:
  flags.DEFINE_list('tasks', list(PAPER_TASKS), 'Paper tasks to run.')
  flags.DEFINE_integer('episodes', 10, 'Episodes per task.', lower_bound=1)
  flags.DEFINE_integer('seed', DEFAULT_SEED, 'Base seed of every episode.')
  flags.DEFINE_string('out', DEFAULT_OUT, 'The JSON file; the .md goes beside it.')
  flags.DEFINE_integer('episode_length', 1000, 'Environment steps per episode '
                       '(the paper: 1000; shorter only for tests).',
                       lower_bound=1)


def main(argv) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  values = flags.FLAGS
  try:
    common.paper_tasks_only(values.tasks)
  except common.SweepError as error:
    sys.exit(str(error))
  command = shlex.join(['python', 'reproduce/random_policy.py'] + sys.argv[1:])
  payload = measure(values.tasks, values.episodes, values.seed,
                    values.episode_length, command)
  for path in write(payload, values.out):
    print('wrote', path, flush=True)


if __name__ == '__main__':
  define_flags()
  app.run(main)
