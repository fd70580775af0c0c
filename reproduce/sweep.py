"""Flags and steps shared by the reproduce/ scripts.

Every script: build the runs of its experiment and check them all (flags,
overrides, each unfinished run's resolved config) before anything is
created; print the plan (runs, budget, where, what is finished, the hours);
launch the unfinished runs (unless --aggregate_only or --dry_run);
aggregate what the run directories hold; write results named with the
budget. Config overrides for ablations pass through
to every run, as `--config_overrides=key=value,...` or as `--key=value`
after a `--` separator.

Only a script's main() reads the flags (`SweepOptions.from_flags`) and
exits; the steps take the options and raise `SweepError`, so that a
sweep can be built and planned from Python.

Here: the shared flags, their options and `build`, which makes and checks
a `Sweep`. Its plan is reproduce/plan.py; launching it, aggregating and
writing results reproduce/execute.py.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from absl import app, flags

from planet_tf import env_checks, rundir
from planet_tf.config import Config
from reproduce import common, launcher
from reproduce.common import Run, SweepError


def define_flags(seeds: int = 5) -> None:
  """The flags every reproduce/ script shares."""
  flags.DEFINE_integer('seeds', seeds, 'Seeds per task and variant: 1..N.')
  flags.DEFINE_list('tasks', list(common.TASKS), 'Tasks to run and show.')
  flags.DEFINE_enum('budget', 'paper', list(common.BUDGETS),
                    "Named budget: 'paper' (the paper's config), 'first40' "
                    "(the paper's config cut at 40 episodes), 'cpu' or "
                    "'debug' (add that preset after the variant's). Written "
                    'into every results file and figure title.')
  flags.DEFINE_string('runs_dir', 'runs',
                      'Root of the run directories <budget>/<variant>/<task>/'
                      'seed<k>; must be shared storage for a Ray cluster.')
  flags.DEFINE_string('results_dir', 'results', 'Where results files go.')
  flags.DEFINE_bool('aggregate_only', False,
                    'Launch nothing: only aggregate the existing runs.')
  flags.DEFINE_bool('dry_run', False,
                    'Check every run\'s config, print the plan (runs, budget, '
                    'where they go, how many are finished, the hours) and '
                    'exit, creating nothing.')
  flags.DEFINE_enum('launcher', 'local', list(launcher.LAUNCHERS),
                    'local: processes on this machine (--parallel); ray: one '
                    'task per run on a Ray cluster (--ray_address).')
  flags.DEFINE_integer('parallel', 1, 'Local launcher: runs at a time '
                       '(at most as many as fit on the GPUs).')
  flags.DEFINE_enum('on_locked', 'skip', list(launcher.ON_LOCKED),
                    'Local launcher: a run whose directory another process '
                    'holds (an earlier sweep\'s run, a training run) is '
                    'skipped, named with its PID, or waited for.')
  flags.DEFINE_float('gpus_per_run', None, 'GPUs per run, a fraction allowed '
                     '(0.25: four runs share a GPU); default one per run '
                     'where `nvidia-smi -L` lists GPUs, else 0. Local: each '
                     'run gets its GPU(s) round-robin; Ray: requested.',
                     lower_bound=0.0)
  flags.DEFINE_string('ray_address', 'auto',
                      "Ray cluster address ('auto' joins the cluster of "
                      "`ray start`, 'ray://host:10001' a remote one, 'local' "
                      'starts one here).')
  flags.DEFINE_list('config_overrides', [],
                    'key=value config overrides for every run (ablations), '
                    'e.g. horizon=8,free_nats=2. Runs with overrides get '
                    'their own directories.')


def run_main(argv: Sequence[str], run: Callable[['SweepOptions'], int]) -> int:
  """A script's main(): its options from the flags, then `run(options)`;
  a SweepError is printed and exits with its status."""
  options = SweepOptions.from_flags(flags.FLAGS, argv)
  try:
    return run(options)
  except SweepError as error:
    print(error, file=sys.stderr, flush=True)
    sys.exit(error.status)


def start(main: Callable[[Sequence[str]], int],
          define: Callable[[], None] = lambda: None) -> None:
  """Defines the shared flags (and the script's own, `define`), then runs
  `main` under absl."""
  define_flags()
  flags.adopt_module_key_flags(sys.modules[__name__])
  define()
  app.run(main)


@dataclasses.dataclass(frozen=True)
class SweepOptions:
  """What the shared flags ask of a sweep (see `define_flags`).

  config_overrides: the --config_overrides items (key=value); extra_args:
  the arguments after `--` (each --key=value). Built once by a script's
  main() (`from_flags`), or directly from Python.
  """
  seeds: int = 5
  tasks: Tuple[str, ...] = common.TASKS
  budget: str = 'paper'
  runs_dir: str = 'runs'
  results_dir: str = 'results'
  aggregate_only: bool = False
  dry_run: bool = False
  launcher: str = 'local'
  parallel: int = 1
  on_locked: str = 'skip'
  gpus_per_run: Optional[float] = None
  ray_address: str = 'auto'
  config_overrides: Tuple[str, ...] = ()
  extra_args: Tuple[str, ...] = ()

  @classmethod
  def from_flags(cls, values: flags.FlagValues,
                 argv: Sequence[str]) -> 'SweepOptions':
    """The options of parsed flags `values` (the shared ones) and of the
    arguments absl left in `argv` (the program, then those after `--`)."""
    return cls(
        seeds=values.seeds, tasks=tuple(values.tasks), budget=values.budget,
        runs_dir=values.runs_dir, results_dir=values.results_dir,
        aggregate_only=values.aggregate_only, dry_run=values.dry_run,
        launcher=values.launcher, parallel=values.parallel,
        on_locked=values.on_locked, gpus_per_run=values.gpus_per_run,
        ray_address=values.ray_address,
        config_overrides=tuple(values.config_overrides),
        extra_args=tuple(argv[1:]))

  def overrides(self) -> Tuple[Tuple[Tuple[str, str], ...], List[str]]:
    """--config_overrides plus the `--key=value` after `--`: the valid ones
    as sorted pairs, and one line per problem of the others."""
    bad = [arg for arg in self.extra_args
           if not arg.startswith('--') or '=' not in arg]
    problems = [f"Unexpected argument '{arg}': pass config overrides as "
                '--key=value after --, or as --config_overrides.'
                for arg in bad]
    pairs, more = common.check_overrides(
        list(self.config_overrides)
        + [arg for arg in self.extra_args if arg not in bad])
    return pairs, problems + more

  def problems(self) -> List[str]:
    """One line per option out of range (the overrides' apart)."""
    problems = []
    if self.seeds < 1:
      problems.append(f'--seeds={self.seeds}: pass --seeds=N with N >= 1 '
                      '(seeds 1..N of each task and variant).')
    if self.parallel < 1:
      problems.append(f'--parallel={self.parallel}: pass --parallel=N with '
                      'N >= 1 (runs at a time).')
    for name, value, known in (('budget', self.budget, common.BUDGETS),
                               ('launcher', self.launcher, launcher.LAUNCHERS),
                               ('on_locked', self.on_locked,
                                launcher.ON_LOCKED)):
      if value not in known:
        problems.append(f"--{name}={value}: choose one of "
                        f"{', '.join(known)}.")
    return problems


def _note_other_tasks(task_list: Sequence[str]) -> None:
  unknown = [t for t in task_list if t not in common.TASKS]
  if unknown:
    print(f'Note: {unknown} are not among the paper tasks; no reference '
          'lines for them.', flush=True)


@dataclasses.dataclass
class Sweep:
  """What a script runs and shows.

  runs: the runs it launches; shown: the runs it aggregates (runs first);
  overrides: the config overrides of every run; configs: each unfinished
  run's resolved config (empty with --aggregate_only); options: what it
  was built from.
  """
  runs: List[Run]
  shown: List[Run]
  overrides: Tuple[Tuple[str, str], ...]
  configs: Dict[Run, Config]
  options: SweepOptions


def _config_problems(runs: Sequence[Run], runs_dir: str
                     ) -> Tuple[Dict[Run, Config], List[str]]:
  """The resolved configs of the unfinished runs, and every problem: among
  them each existing run (finished or not) whose stored config.json differs
  from what this sweep would run, with every difference."""
  todo, stored, problems = [], {}, []
  for run in runs:
    logdir = run.logdir(runs_dir)
    try:
      if not rundir.is_finished(logdir):
        todo.append(run)
      config = rundir.read_config(logdir)
    except rundir.RunDirError as error:
      problems.append(str(error))
      continue
    if config is not None:
      stored[run] = config
  configs, config_problems = common.resolve_configs(
      list(dict.fromkeys(todo + list(stored))))
  for run, config in stored.items():
    if run in configs:
      problems.extend(_stored_config_problem(run, config, configs[run],
                                             runs_dir))
  return ({run: configs[run] for run in todo if run in configs},
          problems + config_problems + _environment_problems(configs))


def _environment_problems(configs: Dict[Run, Config]) -> List[str]:
  """Suite task names and cameras the configs ask for that cannot be made
  (child processes, once per camera id; nothing for the paper's tasks at
  their default camera)."""
  by_camera: Dict[int, List[str]] = {}
  for config in configs.values():
    by_camera.setdefault(config.camera_id, []).extend(config.tasks)
  problems = []
  for camera_id, names in sorted(by_camera.items()):
    problems.extend(env_checks.task_problems(list(dict.fromkeys(names)), camera_id))
  return problems


def _stored_config_problem(run: Run, stored: dict, config: Config,
                           runs_dir: str) -> List[str]:
  """One line if the run directory of `run` holds another config."""
  changes = rundir.config_changes(stored, config)
  if not changes:
    return []
  details = ', '.join(f'{key}: {old!r} (stored) vs {new!r}'
                      for key, (old, new) in sorted(changes.items()))
  return [f'{run.logdir(runs_dir)} holds a run made with another '
          f'config ({details}): use another --runs_dir, or move it away.']


def build(options: SweepOptions, variants: Sequence[Tuple[str, ...]],
          run_tasks: Sequence[Optional[str]],
          compare: Sequence[Tuple[str, ...]] = (),
          compare_tasks: Sequence[Optional[str]] = ()) -> Sweep:
  """The runs of variants x run_tasks x seeds (launched) and of compare x
  compare_tasks (only shown), at the options' budget with their overrides.

  Checks everything first, each unfinished run's full config included
  (unless only aggregating), and on any problem raises SweepError listing
  every one; nothing is created.
  """
  extra, override_problems = options.overrides()
  problems = options.problems() + override_problems
  if options.budget not in common.BUDGETS:  # No runs to check without one.
    raise SweepError(problems)
  # At least one seed, so that a bad --seeds does not hide other problems.
  seeds = max(options.seeds, 1)
  runs = common.make_runs(variants, run_tasks, seeds, options.budget, extra)
  shown = runs + common.make_runs(compare, compare_tasks, seeds,
                                  options.budget, extra)
  configs = {}
  if not options.aggregate_only or options.dry_run:
    configs, more = _config_problems(runs, options.runs_dir)
    problems.extend(more)
  if problems:
    raise SweepError(problems)
  _note_other_tasks([t for t in list(run_tasks) + list(compare_tasks) if t])
  return Sweep(runs, shown, extra, configs, options)

