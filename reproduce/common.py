"""Run specs, budgets, run directories and the paper's reference numbers.

A sweep is a list of `Run`s. Each names a task, a seed, the presets of its
variant (e.g. `('rnn',)`), a budget and optional config overrides; from
these follow its run directory `<runs_dir>/<budget>/<variant>/<task>/seed<k>`
and the command that creates or resumes it (`planet_tf.train`, or
`planet_tf.true_simulator` for the true simulator's runs). Nothing here
imports TensorFlow. How long runs take: reproduce/estimates.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
from typing import Dict, List, Optional, Sequence, Tuple

from planet_tf import config as config_lib
from planet_tf import rundir
from planet_tf.config import Config
from planet_tf.tasks import PAPER_TASKS

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The paper's six tasks, in the column order of its Table 1.
TASKS: Tuple[str, ...] = tuple(PAPER_TASKS)


class SweepError(Exception):
  """Why a sweep (or a reproduce/ script) cannot go on, for the script's
  main() to print and exit with; the helpers raise it and exit nowhere.

  problems: one line each. checked: they were found by the checks made
  before anything is created, and the message lists every one under their
  count; else each line reads 'Error: <line>'. status: the exit status.
  """
  status = 1

  def __init__(self, problems: Sequence[str], checked: bool = True):
    self.problems = list(problems)
    self.checked = checked
    super().__init__(self.message())

  def message(self) -> str:
    """What the user reads on stderr."""
    if self.checked:
      return (f'Error: {len(self.problems)} problem(s); nothing was started '
              'or created:\n' + '\n'.join(f'  {p}' for p in self.problems))
    return '\n'.join(f'Error: {p}' for p in self.problems)


def paper_tasks_only(tasks: Sequence[str]) -> None:
  """Raises SweepError, one line naming any task that is not one of the
  paper's six (scripts whose numbers exist for those tasks only)."""
  unknown = [task for task in tasks if task not in TASKS]
  if unknown:
    raise SweepError([f"unknown task(s) {', '.join(unknown)}; use the "
                      f"paper's: {', '.join(TASKS)}."], checked=False)


TASK_TITLES: Dict[str, str] = {
    'cartpole_swingup': 'Cartpole Swing Up', 'reacher_easy': 'Reacher Easy',
    'cheetah_run': 'Cheetah Run', 'finger_spin': 'Finger Spin',
    'cup_catch': 'Cup Catch', 'walker_walk': 'Walker Walk'}

# Budgets: presets appended after the variant's presets, so that the
# budget's sizes win (e.g. random_shooting at budget cpu evaluates as many
# candidates as CEM does at budget cpu).
BUDGETS: Dict[str, Tuple[str, ...]] = {
    'paper': (),
    'cpu': ('cpu',),
    # The paper's configuration cut at its first 40 episodes (issue 26).
    'first40': ('first40',),
    'debug': ('debug',),
}


def _quoted(values: Sequence[float]) -> Dict[str, float]:
  return dict(zip(TASKS, values))


# Table 1 of the paper (Hafner et al. 2019), quoted verbatim. A3C and D4PG
# are Tassa et al. (2018)'s numbers as the paper reports them.
PAPER_TABLE1: Dict[str, Dict[str, object]] = {
    'A3C': dict(modality='proprioceptive', episodes='100,000',
                values=_quoted([558, 285, 214, 129, 105, 311])),
    'D4PG': dict(modality='pixels', episodes='100,000',
                 values=_quoted([862, 967, 524, 985, 980, 968])),
    'PlaNet': dict(modality='pixels', episodes='1,000',
                   values=_quoted([821, 832, 662, 700, 930, 951])),
    'CEM + true simulator': dict(
        modality='simulator state', episodes='0',
        values=_quoted([850, 964, 656, 825, 993, 994])),
}
# "Data efficiency gain PlaNet over D4PG (factor)", quoted; cheetah is "500+".
PAPER_DATA_EFFICIENCY: Dict[str, str] = dict(
    zip(TASKS, ['250', '40', '500+', '300', '100', '90']))

# Config keys a sweep sets itself; they cannot be overridden per sweep.
RESERVED_KEYS = ('task', 'seed', 'logdir', 'preset')


@dataclasses.dataclass(frozen=True)
class Run:
  """One training run of a sweep.

  task: a task name, or None for a run whose presets choose the tasks (the
    multitask agent); its directory is then named `all_tasks`.
  presets: the variant's presets, e.g. ('rssm',); the budget's come after.
  overrides: (key, value) config overrides as strings, passed as flags.
  """
  task: Optional[str]
  seed: int
  presets: Tuple[str, ...] = ('rssm',)
  budget: str = 'paper'
  overrides: Tuple[Tuple[str, str], ...] = ()

  @property
  def variant(self) -> str:
    """The directory name of the variant: presets, then overrides if any."""
    name = '+'.join(self.presets)
    if not self.overrides:
      return name
    text = ','.join(f'{k}={v}' for k, v in self.overrides)
    if len(text) <= 60 and all(c.isalnum() or c in '_=.,-' for c in text):
      return f'{name}@{text}'
    return f'{name}@cfg-{hashlib.sha1(text.encode()).hexdigest()[:10]}'

  def logdir(self, runs_dir: str) -> str:
    task = self.task or 'all_tasks'
    return os.path.join(runs_dir, self.budget, self.variant, task,
                        f'seed{self.seed}')

  def all_presets(self) -> Tuple[str, ...]:
    return tuple(self.presets) + BUDGETS[self.budget]

  @property
  def program(self) -> str:
    """The module that makes this run: `planet_tf.true_simulator` for a
    run of that kind (`rundir.run_kind` of its config), else
    `planet_tf.train`."""
    try:
      config = resolve_config(self)
    except ValueError:  # Train's command, whose process names the problem.
      return 'planet_tf.train'
    return ('planet_tf.true_simulator'
            if rundir.run_kind(config) == rundir.TRUE_SIMULATOR
            else 'planet_tf.train')

  def command(self, runs_dir: str, python: str = sys.executable) -> List[str]:
    """The command (`program`'s) that creates or resumes this run."""
    args = [python, '-m', self.program,
            f'--logdir={os.path.abspath(self.logdir(runs_dir))}',
            f"--preset={','.join(self.all_presets())}", f'--seed={self.seed}']
    if self.task:
      args.append(f'--task={self.task}')
    args.extend(f'--{key}={value}' for key, value in self.overrides)
    return args

  def to_dict(self) -> dict:
    return dict(task=self.task, seed=self.seed, presets=list(self.presets),
                budget=self.budget, overrides=dict(self.overrides))


def check_budget(budget: str) -> None:
  if budget not in BUDGETS:
    raise ValueError(f"Unknown --budget '{budget}'. Choose one of: "
                     f"{', '.join(BUDGETS)}.")


# absl's spellings of booleans, so that a value valid here is valid for the
# training process that parses it again.
_BOOLS = {'true': True, 't': True, '1': True, 'false': False, 'f': False,
          '0': False}
_EXAMPLES = {int: 'an integer, e.g. 12', float: 'a number, e.g. 0.5',
             bool: 'true or false', str: 'text'}


def parse_value(key: str, text: str, kind: type) -> object:
  """`text` as a value of the config field `key` of type `kind`; raises
  ValueError naming the key, the value and the type it takes."""
  try:
    if kind is bool:
      return _BOOLS[text.lower()]
    return kind(text)
  except (KeyError, ValueError):
    raise ValueError(f"Override {key}={text}: {key} takes "
                     f'{_EXAMPLES[kind]}.') from None


def check_overrides(items: Sequence[str]) -> Tuple[Tuple[Tuple[str, str], ...],
                                                  List[str]]:
  """Parses `key=value` strings (or `--key=value`): the valid ones as
  sorted pairs, and one line per problem of the others.

  Keys must be fields of planet_tf.config.Config and not set by the sweep,
  and values must parse as the field's type.
  """
  types = config_lib.field_types()
  pairs, problems = {}, []
  for item in items:
    text = item[2:] if item.startswith('--') else item
    key, sep, value = text.partition('=')
    if not sep or not key:
      problems.append(f"Override '{item}' is not of the form key=value.")
    elif key in RESERVED_KEYS:
      problems.append(f"Override '{key}' is set by the sweep itself; use "
                      '--tasks, --seeds or --runs_dir instead.')
    elif key not in types:
      problems.append(f"Override '{key}' is not a config field. Valid keys: "
                      f"{', '.join(sorted(types))}.")
    else:
      try:
        parse_value(key, value, types[key])
        pairs[key] = value
      except ValueError as error:
        problems.append(str(error))
  return tuple(sorted(pairs.items())), problems


def resolve_config(run: Run) -> Config:
  """The full config `run`'s training process will resolve (presets, then
  task, seed and overrides); raises ValueError listing every problem."""
  types = config_lib.field_types()
  values = {key: parse_value(key, text, types[key])
            for key, text in run.overrides}
  values['seed'] = run.seed
  if run.task:
    values['task'] = run.task
  return config_lib.resolve(run.all_presets(), values)


def resolve_configs(runs: Sequence[Run]) -> Tuple[Dict[Run, Config],
                                                  List[str]]:
  """Each run's resolved config, and the problems of those that do not
  resolve: one line each, without repeats, naming the fix.

  The seeds of one variant and task share one resolution: checking a task
  outside the paper's six starts a process that imports dm_control.
  """
  configs, problems, first = {}, [], {}
  for run in runs:
    key = dataclasses.replace(run, seed=1)
    if key not in first:
      try:
        first[key] = resolve_config(run)
      except ValueError as error:
        first[key] = None
        for line in str(error).splitlines():
          line = line.strip()
          if line and line != 'Invalid config:' and line not in problems:
            problems.append(line)
    if first[key] is not None:
      configs[run] = first[key].replace(seed=run.seed)
  return configs, problems


def make_runs(variants: Sequence[Tuple[str, ...]], tasks: Sequence[Optional[str]],
              seeds: int, budget: str,
              overrides: Tuple[Tuple[str, str], ...] = ()) -> List[Run]:
  """The cross product variants x tasks x seeds 1..N, one Run each."""
  check_budget(budget)
  return [Run(task, seed, tuple(presets), budget, overrides)
          for presets in variants for task in tasks
          for seed in range(1, seeds + 1)]


def output_name(base: str, budget: str) -> str:
  """`table1` at the paper budget, `table1_cpu` at budget cpu, and so on."""
  return base if budget == 'paper' else f'{base}_{budget}'


def budget_label(budget: str) -> str:
  """How a budget is named in every results file and figure title."""
  if budget == 'paper':
    return "budget 'paper' (the paper's configuration)"
  if budget == 'first40':
    return ("budget 'first40' (the paper's configuration cut at 40 episodes, "
            "35 of them planned; NOT the paper's budget of 1,000 episodes, "
            'not comparable with its numbers)')
  if budget not in BUDGETS:
    return (f"budget '{budget}' (not a named budget of reproduce/: see the "
            "run's config.json; NOT presented as the paper's)")
  presets = ','.join(BUDGETS[budget])
  return (f"budget '{budget}' (preset {presets}; NOT the paper's budget, "
          'not comparable with its numbers)')


def write_atomic(path: str, data: bytes) -> None:
  """Writes `path` atomically (planet_tf.rundir.write_atomic), creating its
  folder first."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  rundir.write_atomic(path, data)


def write_json_and_table(out: str, payload: dict, table: str) -> List[str]:
  """Writes `payload` to `out` (JSON) and `table` (markdown) beside it as
  `out` with `.md`, each atomically; returns both paths."""
  beside = os.path.splitext(out)[0] + '.md'
  write_atomic(out, (json.dumps(payload, indent=2) + '\n').encode())
  write_atomic(beside, table.encode())
  return [out, beside]


def write_run_spec(run: Run, runs_dir: str) -> None:
  """Stores the spec beside the run (`run.json`): budget, presets, command."""
  logdir = run.logdir(runs_dir)
  spec = dict(run.to_dict(), command=run.command(runs_dir, 'python'))
  write_atomic(os.path.join(logdir, 'run.json'),
               json.dumps(spec, indent=2).encode())


def read_run_spec(logdir: str) -> Optional[dict]:
  """The run.json the launcher stored beside a run, or None."""
  path = os.path.join(logdir, 'run.json')
  if not os.path.exists(path):
    return None
  with open(path) as file:
    return json.load(file)


def find_metrics_hint(runs: Sequence[Run], runs_dir: str, script: str,
                      launched: bool = False) -> str:
  """The error text for a sweep without metrics: where, and how to make them
  (or, after launching, which logs say why the runs made none)."""
  example = runs[0].logdir(runs_dir) if runs else runs_dir
  if launched:
    return (f'None of these runs wrote metrics under {runs_dir}; their logs '
            f'say why (e.g. {example}.log).')
  return (f'No metrics found for these runs under {runs_dir} (e.g. '
          f'{example}/metrics.jsonl). Create them by running '
          f'`python {script}` with the same --budget, --seeds and --tasks but '
          'without --aggregate_only.')
