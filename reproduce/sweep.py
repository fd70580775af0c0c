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
exits; the steps here take the options and raise `SweepError`, so that a
sweep can be built and planned from Python.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from absl import flags

from planet_tf import config as config_lib
from planet_tf import devices, envs, progress, rundir
from planet_tf.config import Config
from reproduce import aggregate, common, estimates, launcher, plotting
from reproduce.common import Run, SweepError
from reproduce.outcomes import Interrupted, Outcome, summarize


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
    problems.extend(envs.task_problems(list(dict.fromkeys(names)), camera_id))
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


def has_gpu() -> bool:
  """Whether `nvidia-smi -L` lists an NVIDIA GPU (a /dev/nvidia* node
  alone, as in a container without the driver's tools, does not count)."""
  return bool(devices.nvidia_gpus())


def device_line(options: SweepOptions) -> str:
  """The sweep's start-up line: the GPUs its runs get, or the CPU."""
  share = options.gpus_per_run
  if options.launcher == 'ray':
    each = ('one GPU per run where it has GPUs' if share is None else
            f'{share:g} GPU per run')
    return f'device: as the Ray cluster assigns, {each}'
  gpus = devices.nvidia_gpus()
  if not gpus:
    return devices.device_line([])
  return (f"device: {len(gpus)} GPU(s) ({'; '.join(gpus)}), "
          f"{1.0 if share is None else share:g} per run")


def _shape(runs: Sequence[Run]) -> str:
  """'rssm, rnn x 6 tasks x 5 seeds'."""
  variants = list(dict.fromkeys(run.variant for run in runs))
  task_count = len(dict.fromkeys(run.task for run in runs))
  seeds = len(dict.fromkeys(run.seed for run in runs))
  tasks_text = ('all tasks in one agent' if runs[0].task is None else
                f"{task_count} task{'s' if task_count > 1 else ''}")
  return (f"{', '.join(variants)} x {tasks_text} x {seeds} "
          f"seed{'s' if seeds > 1 else ''}")


def _run_state(runs: Sequence[Run], runs_dir: str) -> Dict[Run, tuple]:
  """run -> (finished, episodes done, stored config or None, rows)."""
  state = {}
  for run in runs:
    logdir = run.logdir(runs_dir)
    rows = rundir.read_metrics(logdir).rows
    stored = rundir.read_config(logdir)
    done = max((row['episode'] for row in rows), default=0)
    state[run] = (rundir.finished(stored, rows), done, stored, rows)
  return state


def _where(runs: Sequence[Run], runs_dir: str, budget: str) -> str:
  """The run directories' pattern, e.g. runs/cpu/rssm/<task>/seed<k>."""
  variants = {run.variant for run in runs}
  run_tasks = {run.task or 'all_tasks' for run in runs}
  return os.path.join(
      os.path.abspath(runs_dir), budget,
      variants.pop() if len(variants) == 1 else '<variant>',
      run_tasks.pop() if len(run_tasks) == 1 else '<task>', 'seed<k>')


def _estimates(configs: Dict[Run, Config], state: Dict[Run, tuple],
               budget: str) -> Tuple[List[Tuple[float, float]], int, str]:
  """(low, high) seconds left per unfinished run with a figure, how many
  have none, and where the figures come from: the sweep's own metrics
  where they have them, else the reference figures of the budget."""
  measured = [(config, rows) for _, _, config, rows in state.values()
              if config is not None and rows]
  rates = estimates.measured_rates(measured,
                                   estimates.reference_rates(budget))
  left = [estimates.remaining_seconds(config.to_dict(), state[run][1], rates)
          for run, config in configs.items()]
  known = [seconds for seconds in left if seconds is not None]
  return known, len(left) - len(known), rates.source


@dataclasses.dataclass(frozen=True)
class Plan:
  """What a sweep will do, before it starts.

  runs: how many it launches, shaped as `shape` ('rssm, rnn x 6 tasks x 5
  seeds'); episodes: the episodes of an unfinished run (one value per
  kind); where: the run directories' pattern; finished, started: runs
  already finished, and started but not finished (to resume); to_run: the
  unfinished runs; estimate: (low, high) seconds of compute left, summed
  over the `estimated` unfinished runs that have a figure (None: no run
  has one), `no_figure` the others; source: where the figures come from;
  per_run_hours: the median hours of an unfinished run with a figure;
  budget, parallel_text: as the plan names them.
  """
  runs: int
  shape: str
  budget: str
  episodes: Tuple[int, ...]
  where: str
  finished: int
  started: int
  to_run: int
  estimate: Optional[Tuple[float, float]]
  estimated: int
  no_figure: int
  source: str
  per_run_hours: Optional[float]
  parallel_text: str

  @property
  def not_started(self) -> int:
    return self.runs - self.finished - self.started

  def text(self) -> str:
    """The plan as the sweep prints it."""
    lines = [
        f'Plan: {self.runs} runs ({self.shape}) at '
        f'{common.budget_label(self.budget)}'
        + (f", {' or '.join(f'{e:,}' for e in self.episodes)} episodes each."
           if self.episodes else '.'),
        f'  Run directories: {self.where} (output in seed<k>.log beside '
        'each).',
        f'  Already finished: {self.finished}. Started, to resume: '
        f'{self.started}. Not started: {self.not_started}.']
    if self.estimate is not None:
      lines.append(
          f'  Estimate: about {progress.format_duration(*self.estimate)} of '
          f'compute for the {self.estimated} unfinished runs '
          f'({self.parallel_text}), from {self.source}.')
    if self.no_figure:
      lines.append(f'  No time figure for {self.no_figure} run(s): the true '
                   'simulator has no reference; its first finished run gives '
                   'one.')
    if not self.to_run:
      lines.append('  Nothing left to run.')
    return '\n'.join(lines)


def plan(sweep: Sweep) -> Plan:
  """The plan of a sweep: its runs, budget, where they go, how many are
  finished or started, and the hours of compute left."""
  options = sweep.options
  runs, configs = sweep.runs, sweep.configs
  state = _run_state(runs, options.runs_dir)
  finished = sum(state[run][0] for run in runs)
  started = sum(not state[run][0] and (state[run][1] > 0 or
                                       state[run][2] is not None)
                for run in runs)
  episodes = sorted({config.total_episodes * len(config_lib.tasks(config))
                     for config in configs.values()})
  left, unknown, source = _estimates(configs, state, options.budget)
  return Plan(
      runs=len(runs), shape=_shape(runs), budget=options.budget,
      episodes=tuple(episodes),
      where=_where(runs, options.runs_dir, options.budget),
      finished=finished, started=started, to_run=len(configs),
      estimate=((sum(s[0] for s in left), sum(s[1] for s in left))
                if left else None),
      estimated=len(left), no_figure=unknown, source=source,
      per_run_hours=(float(np.median([sum(s) / 2 for s in left])) / 3600
                     if left else None),
      parallel_text=_parallel_text(options))


def _parallel_text(options: SweepOptions) -> str:
  if options.launcher == 'ray':
    return 'summed over runs; Ray spreads them over the cluster'
  if options.parallel == 1:
    return 'one run at a time'
  return (f'summed over runs; --parallel {options.parallel} shares this '
          "machine's cores between them")


def _warn_without_gpu(options: SweepOptions,
                      per_run_hours: Optional[float]) -> None:
  if (options.budget != 'paper' or options.launcher != 'local' or
      per_run_hours is None or has_gpu()):
    return
  print(f"Warning: no GPU found (nothing from `nvidia-smi -L`). The paper's budget takes about {per_run_hours:,.0f} hours per "
        "run on this project's 2-core CPU (10-20 hours on a GPU). Consider "
        '--budget=cpu, a GPU machine, or a Ray cluster (--launcher=ray).',
        flush=True)


class SweepInterrupted(SweepError):
  """The sweep received `signum` and stopped its runs; rerunning the same
  command resumes them. Exit status 128 + signum."""

  def __init__(self, signum: int):
    self.signum = signum
    self.status = 128 + signum
    super().__init__([f'{signal.Signals(signum).name}: interrupted: rerun the '
                      'same command to resume.'], checked=False)

  def message(self) -> str:
    return self.problems[0]


def launch(sweep: Sweep) -> Optional[List[Outcome]]:
  """Prints the plan, then runs the unfinished runs (none with
  --aggregate_only); prints a summary. None after a dry run: the plan
  printed, nothing started. Raises SweepError when the launcher cannot
  start, SweepInterrupted after SIGINT or SIGTERM once the runs stopped."""
  options = sweep.options
  if (options.aggregate_only and not options.dry_run) or not sweep.runs:
    return []
  planned = plan(sweep)
  print(planned.text(), flush=True)
  print(device_line(options), flush=True)
  _warn_without_gpu(options, planned.per_run_hours)
  if options.dry_run:
    print('Dry run: nothing was started or created.', flush=True)
    return None
  try:
    outcomes = launcher.launch(sweep.runs, options.runs_dir, options.launcher,
                               options.parallel, options.ray_address,
                               gpus_per_run=options.gpus_per_run,
                               on_locked=options.on_locked)
  except Interrupted as stop:
    print(summarize(stop.outcomes), flush=True)
    raise SweepInterrupted(stop.signum) from stop
  except (RuntimeError, ValueError) as error:
    raise SweepError([str(error)], checked=False) from error
  print(summarize(outcomes), flush=True)
  return outcomes


def exit_code(outcomes: Sequence[Outcome]) -> int:
  """1 if a run failed, else 0."""
  return 1 if any(not o.ok for o in outcomes) else 0


def load_groups(sweep: Sweep, script: str,
                launched: Sequence[Outcome],
                ) -> Dict[tuple, aggregate.Group]:
  """Reads the shown runs' metrics; warns about what it could not read;
  raises SweepError with a hint when there are none."""
  runs_dir = sweep.options.runs_dir
  groups = aggregate.load_groups(sweep.shown, runs_dir)
  for problem in aggregate.problems(groups):
    print(f'Warning: {problem}', flush=True)
  if not aggregate.has_metrics(groups):
    raise SweepError([common.find_metrics_hint(
        sweep.runs, runs_dir, script,
        launched=any(not o.skipped for o in launched))], checked=False)
  # Runs only shown (e.g. the true simulator's row) are listed once they
  # hold metrics: a sweep that did not ask for them does not announce them.
  launched_runs = set(sweep.runs)
  listed = {key: group for key, group in groups.items()
            if group.rows or any(run in launched_runs for run in group.runs)}
  print('Runs:\n' + describe_groups(listed), flush=True)
  return groups


def curves_by_task(groups: Dict[tuple, aggregate.Group],
                   labels: Dict[str, Run], task_list: Sequence[str],
                   key_for_task=None) -> Dict[str, Dict[str, object]]:
  """task -> label -> Curve (None when no metrics), for plotting.

  labels: label -> a Run giving the variant. Per-task runs use the key
  'test_returns'; a run for all tasks (task None) uses key_for_task(task).
  """
  result: Dict[str, Dict[str, object]] = {}
  for task in task_list:
    result[task] = {}
    for label, example in labels.items():
      group_task = example.task if example.task is None else task
      group = groups.get((example.variant, group_task))
      key = ('test_returns' if example.task is not None or not key_for_task
             else key_for_task(task))
      result[task][label] = (aggregate.curve(group.rows, key)
                             if group and group.rows else None)
  return result


def describe_groups(groups: Dict[tuple, aggregate.Group]) -> str:
  """One line per group: finished runs and the episodes reached."""
  lines = []
  for (variant, task), group in sorted(groups.items(), key=str):
    lines.append(f'  {variant}/{task or "all_tasks"}: {group.finished}/'
                 f'{len(group.runs)} runs finished, {len(group.rows)} with '
                 f'metrics, last episodes {group.total_episodes}')
  return '\n'.join(lines)


def figure_title(text: str, budget: str, seeds: int,
                 groups: Dict[tuple, aggregate.Group]) -> str:
  """The title: what is shown, how complete the sweep is, and the budget."""
  finished = sum(g.finished for g in groups.values())
  total = sum(len(g.runs) for g in groups.values())
  return (f'{text}. Median and 5-95 percentiles over seeds (1..{seeds}) x '
          f'test trajectories; {finished}/{total} runs finished.\n'
          f'{common.budget_label(budget)}')


def results_stem(options: SweepOptions, base: str) -> str:
  """`<results_dir>/<base>[_<budget>]`."""
  return os.path.join(options.results_dir,
                      common.output_name(base, options.budget))


def plot(options: SweepOptions, curves, title: str, base: str,
         task_list: Sequence[str]) -> List[str]:
  """Writes the figure `<results_dir>/<base>[_<budget>].{png,pdf}`."""
  paths = plotting.plot_curves(curves, title, results_stem(options, base),
                               plotting.references(task_list))
  print('Wrote ' + ', '.join(paths), flush=True)
  return paths


def write_json(options: SweepOptions, base: str, payload: dict) -> str:
  """Writes `<results_dir>/<base>[_<budget>].json`; returns its path."""
  path = results_stem(options, base) + '.json'
  common.write_atomic(path, json.dumps(payload, indent=2).encode())
  return path


def curves_payload(curves: Dict[str, Dict[str, object]], budget: str,
                   groups: Dict[tuple, aggregate.Group]) -> dict:
  """The numbers behind a figure, with the budget and the runs' state."""
  return dict(
      budget=budget, budget_label=common.budget_label(budget),
      statistic='median and 5th/95th percentiles (numpy, linear) of test '
                'returns pooled over seeds x test trajectories per episode',
      curves={task: {label: (c.to_dict() if c else None)
                     for label, c in per.items()}
              for task, per in curves.items()},
      runs={f'{v}/{t or "all_tasks"}': dict(finished=g.finished,
                                             total=len(g.runs),
                                             with_metrics=len(g.rows))
            for (v, t), g in groups.items()})


def curve_figure(options: SweepOptions, base: str, text: str,
                 variants: Dict[str, Tuple[str, ...]],
                 task_of: Callable[[str], Optional[str]] = lambda t: t,
                 key_for_task: Optional[Callable[[str], str]] = None,
                 compare: Optional[Dict[str, Tuple[str, ...]]] = None,
                 ) -> int:
  """Launch (unless --aggregate_only), aggregate and plot one figure;
  returns the exit status (0 after a dry run). Raises SweepError.

  variants: label -> presets of the runs to launch and plot. task_of maps a
  panel's task to the run's task (None: one run for all tasks). compare:
  label -> presets of per-task runs plotted if present, never launched.
  """
  task_list = list(options.tasks)
  run_tasks = list(dict.fromkeys(task_of(t) for t in task_list))
  sweep = build(options, list(variants.values()), run_tasks,
                list((compare or {}).values()), task_list)
  outcomes = launch(sweep)
  if outcomes is None:
    return 0
  groups = load_groups(sweep, f'reproduce/{base}.py', outcomes)
  labels = {label: Run(task_of(task_list[0]), 1, presets, options.budget,
                       sweep.overrides)
            for label, presets in variants.items()}
  for label, presets in (compare or {}).items():
    labels[label] = Run(task_list[0], 1, presets, options.budget,
                        sweep.overrides)
  curves = curves_by_task(groups, labels, task_list, key_for_task)
  plot(options, curves,
       figure_title(text, options.budget, options.seeds, groups), base,
       task_list)
  print('Wrote ' + write_json(options, base, curves_payload(
      curves, options.budget, groups)), flush=True)
  return exit_code(outcomes)
