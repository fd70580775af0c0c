"""How long a sweep's unfinished runs will take, for the plan it prints.

The figures are seconds per unit of work (`Rates`): measured in the
sweep's own metrics where it has them (`measured_rates`), else the
reference timings of reproduce/reference_timings.json scaled to the
budget's sizes (`reference_rates`). `remaining_seconds` turns them into
(low, high) seconds for one run. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from planet_tf import config as config_lib
from planet_tf import progress, rundir
from planet_tf.progress import agent_steps
from reproduce.common import REPO_ROOT

TIMINGS_FILE = os.path.join(REPO_ROOT, 'reproduce', 'reference_timings.json')


def reference_timings(path: str = TIMINGS_FILE) -> dict:
  """The measured reference timings (a data file: machine, date, seconds)
  that the plan estimates hours from before a sweep has metrics."""
  with open(path) as file:
    return json.load(file)


def _pair(values: Sequence[float]) -> Tuple[float, float]:
  return float(values[0]), float(values[-1])


@dataclasses.dataclass(frozen=True)
class Rates:
  """Seconds per unit of work, (low, high), so that one set serves any sizes.

  update: one update, per chunk step of its batch (B x L);
  plan: the planning of one collection step, per candidate step (J x I x H),
    the environment step apart;
  test: the same for one step of a test episode (a test point's episodes
    plan together);
  simulator: the same for CEM on the true simulator (None: no figure).
  """
  update: Tuple[float, float]
  plan: Tuple[float, float]
  test: Tuple[float, float]
  source: str
  simulator: Optional[Tuple[float, float]] = None


def env_step_seconds(task: str, timings: Optional[dict] = None) -> float:
  """One rendered environment step of `task` (a guess outside the six)."""
  steps = (timings or reference_timings())['env_step']
  return float(steps.get(task, steps['other_tasks']))


def _update_size(config: Mapping[str, object]) -> int:
  return int(config['batch_size']) * int(config['chunk_length'])


def _plan_size(config: Mapping[str, object]) -> int:
  return (int(config['candidates']) * int(config['iterations'])
          * int(config['horizon']))


def reference_rates(budget: str, timings: Optional[dict] = None) -> Rates:
  """The reference figures of `budget`, per unit of work: the paper-size
  timings for the paper's sizes, else the cpu budget's, scaled."""
  timings = timings or reference_timings()
  source = (f"reference figures measured on {timings['machine']}, "
            f"{timings['measured']}; a GPU is much faster")
  if budget in ('paper', 'first40'):  # The paper's sizes, per episode.
    paper = config_lib.resolve(('paper',)).to_dict()
    sizes = timings['paper_sizes']
    update = tuple(s / _update_size(paper) for s in _pair(sizes['update']))
    plan = tuple(s / _plan_size(paper) for s in _pair(sizes['agent_step']))
    return Rates(update, plan, plan, source)
  cpu_timings = timings['cpu_budget']
  task = cpu_timings['task']
  cpu = config_lib.resolve(('cpu',), dict(task=task)).to_dict()
  steps, env = agent_steps(cpu, task), env_step_seconds(task, timings)
  updates = int(cpu['collect_interval']) * _update_size(cpu)
  tests = int(cpu['test_episodes']) * steps
  return Rates(
      update=tuple(s / updates for s in _pair(cpu_timings['updates_per_episode'])),
      plan=tuple((s / steps - env) / _plan_size(cpu)
                 for s in _pair(cpu_timings['collect_per_episode'])),
      test=tuple((s / tests - env) / _plan_size(cpu)
                 for s in _pair(cpu_timings['test_point'])),
      source=source)


def _samples(config: Mapping[str, object], row: dict,
             timings: dict) -> Dict[str, float]:
  """What one metrics row measured, in the units of `Rates`."""
  tasks = config_lib.tasks(config)
  task = row.get('task') or tasks[0]
  found = {}
  if rundir.run_kind(config) == rundir.TRUE_SIMULATOR:
    if row.get('test_seconds') and config['test_episodes']:
      steps = config['test_episodes'] * agent_steps(config, task)
      step = row['test_seconds'] / steps - env_step_seconds(task, timings)
      found['simulator'] = max(step, 0.0) / _plan_size(config)
    return found
  if 'loss' in row and row.get('train_seconds'):
    found['update'] = (row['train_seconds'] / config['collect_interval']
                       / _update_size(config))
  round_ = (row['episode'] - 1) // len(tasks)
  if (round_ >= config['seed_episodes'] and row.get('collect_seconds') and
      config['collect_policy'] == 'planner'):
    step = (row['collect_seconds'] / agent_steps(config, task)
            - env_step_seconds(task, timings))
    found['plan'] = max(step, 0.0) / _plan_size(config)
  if row.get('test_seconds') and config['test_episodes']:
    steps = config['test_episodes'] * sum(agent_steps(config, t) for t in tasks)
    env = config['test_episodes'] * sum(
        agent_steps(config, t) * env_step_seconds(t, timings) for t in tasks)
    found['test'] = max(row['test_seconds'] - env, 0.0) / (
        steps * _plan_size(config))
  return found


def measured_rates(runs: Sequence[Tuple[Mapping[str, object], Sequence[dict]]],
                   fallback: Rates) -> Rates:
  """Median rates over the metrics rows of runs, as (config, rows) pairs;
  `fallback`'s where the runs measured nothing of a kind."""
  samples: Dict[str, List[float]] = {}
  timings = reference_timings()  # Read once, not once per row.
  for config, rows in runs:
    for row in rows:
      for kind, value in _samples(config, row, timings).items():
        samples.setdefault(kind, []).append(value)
  if not samples:
    return fallback
  median = lambda kind: ((float(np.median(samples[kind])),) * 2
                         if kind in samples else getattr(fallback, kind))
  count = sum(len(rows) for _, rows in runs)
  return Rates(median('update'), median('plan'), median('test'),
               f"measured in {count} episodes of this sweep's runs"
               + ('' if {'update', 'plan', 'test'} <= set(samples)
                  else f'; the rest {fallback.source}'),
               median('simulator'))


def remaining_seconds(config: Mapping[str, object], done: int,
                      rates: Rates) -> Optional[Tuple[float, float]]:
  """(low, high) seconds of compute left for an unfinished run of `config`
  with `done` episodes collected; None without a figure (true simulator)."""
  tasks = config_lib.tasks(config)
  timings = reference_timings()
  run_start = _pair(timings['run_start']['seconds'])
  steps = sum(agent_steps(config, t) for t in tasks)
  env = sum(agent_steps(config, t) * env_step_seconds(t, timings) for t in tasks)
  plan_size = _plan_size(config)
  if rundir.run_kind(config) == rundir.TRUE_SIMULATOR:
    if rates.simulator is None:
      return None
    return tuple(
        start + config['test_episodes'] * (env + steps * plan_size * rate)
        for start, rate in zip(run_start, rates.simulator))
  rounds, seeds = int(config['total_episodes']), int(config['seed_episodes'])
  done_rounds = done // len(tasks)
  seed_left = max(0, seeds - done_rounds)
  trained = max(0, rounds - max(done_rounds, seeds))
  planned = trained if config['collect_policy'] == 'planner' else 0
  _, tests = progress.remaining_work(config, done)  # As the runs count.
  return tuple(
      start
      + trained * config['collect_interval'] * _update_size(config) * update
      + (seed_left + trained) * env + planned * steps * plan_size * plan
      + tests * config['test_episodes'] * (env + steps * plan_size * test)
      for start, update, plan, test in zip(run_start, rates.update,
                                           rates.plan, rates.test))
