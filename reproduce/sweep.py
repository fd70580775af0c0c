"""Flags and steps shared by the reproduce/ scripts.

Every script: build the runs of its experiment and check them all (flags,
overrides, each unfinished run's resolved config) before anything is
created; print the plan (runs, budget, where, what is finished, the hours);
launch the unfinished runs (unless --aggregate_only or --dry_run);
aggregate what the run directories hold; write results named with the
budget. Config overrides for ablations pass through
to every run, as `--config_overrides=key=value,...` or as `--key=value`
after a `--` separator.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from absl import flags

from planet_tf import config as config_lib
from planet_tf import devices, progress, rundir
from planet_tf.config import Config
from reproduce import aggregate, common, launcher, plotting
from reproduce.common import Run


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


def overrides(argv: Sequence[str]) -> Tuple[Tuple[Tuple[str, str], ...],
                                            List[str]]:
  """--config_overrides plus any `--key=value` left after `--` in argv: the
  valid ones as sorted pairs, and one line per problem of the others."""
  extra = list(argv[1:])
  bad = [arg for arg in extra if not arg.startswith('--') or '=' not in arg]
  problems = [f"Unexpected argument '{arg}': pass config overrides as "
              '--key=value after --, or as --config_overrides.' for arg in bad]
  pairs, more = common.check_overrides(
      list(flags.FLAGS.config_overrides) + [a for a in extra if a not in bad])
  return pairs, problems + more


def tasks() -> List[str]:
  """The --tasks list."""
  return list(flags.FLAGS.tasks)


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
  run's resolved config (empty with --aggregate_only).
  """
  runs: List[Run]
  shown: List[Run]
  overrides: Tuple[Tuple[str, str], ...]
  configs: Dict[Run, Config]


def _flag_problems() -> List[str]:
  FLAGS = flags.FLAGS
  problems = []
  if FLAGS.seeds < 1:
    problems.append(f'--seeds={FLAGS.seeds}: pass --seeds=N with N >= 1 '
                    '(seeds 1..N of each task and variant).')
  if FLAGS.parallel < 1:
    problems.append(f'--parallel={FLAGS.parallel}: pass --parallel=N with '
                    'N >= 1 (runs at a time).')
  return problems


def _config_problems(runs: Sequence[Run]) -> Tuple[Dict[Run, Config],
                                                    List[str]]:
  """The resolved configs of the unfinished runs, and every problem: among
  them each existing run (finished or not) whose stored config.json differs
  from what this sweep would run, with every difference."""
  todo, stored, problems = [], {}, []
  for run in runs:
    logdir = run.logdir(flags.FLAGS.runs_dir)
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
      problems.extend(_stored_config_problem(run, config, configs[run]))
  return ({run: configs[run] for run in todo if run in configs},
          problems + config_problems)


def _stored_config_problem(run: Run, stored: dict, config: Config) -> List[str]:
  """One line if the run directory of `run` holds another config."""
  changes = rundir.config_changes(stored, config)
  if not changes:
    return []
  details = ', '.join(f'{key}: {old!r} (stored) vs {new!r}'
                      for key, (old, new) in sorted(changes.items()))
  return [f'{run.logdir(flags.FLAGS.runs_dir)} holds a run made with another '
          f'config ({details}): use another --runs_dir, or move it away.']


def build(argv: Sequence[str], variants: Sequence[Tuple[str, ...]],
          run_tasks: Sequence[Optional[str]],
          compare: Sequence[Tuple[str, ...]] = (),
          compare_tasks: Sequence[Optional[str]] = ()) -> Sweep:
  """The runs of variants x run_tasks x seeds (launched) and of compare x
  compare_tasks (only shown), at --budget with the config overrides.

  Checks everything first, each unfinished run's full config included
  (unless only aggregating), and on any problem prints one line per problem
  and exits without creating anything.
  """
  FLAGS = flags.FLAGS
  extra, override_problems = overrides(argv)
  problems = _flag_problems() + override_problems
  # At least one seed, so that a bad --seeds does not hide other problems.
  seeds = max(FLAGS.seeds, 1)
  runs = common.make_runs(variants, run_tasks, seeds, FLAGS.budget, extra)
  shown = runs + common.make_runs(compare, compare_tasks, seeds, FLAGS.budget,
                                  extra)
  configs = {}
  if not FLAGS.aggregate_only or FLAGS.dry_run:
    configs, more = _config_problems(runs)
    problems.extend(more)
  if problems:
    fail_all(problems)
  _note_other_tasks([t for t in run_tasks + list(compare_tasks) if t])
  return Sweep(runs, shown, extra, configs)


def has_gpu() -> bool:
  """Whether `nvidia-smi -L` lists an NVIDIA GPU (a /dev/nvidia* node
  alone, as in a container without the driver's tools, does not count)."""
  return bool(devices.nvidia_gpus())


def device_line() -> str:
  """The sweep's start-up line: the GPUs its runs get, or the CPU."""
  share = flags.FLAGS.gpus_per_run
  if flags.FLAGS.launcher == 'ray':
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
  rates = common.measured_rates(measured, common.reference_rates(budget))
  left = [common.remaining_seconds(config.to_dict(), state[run][1], rates)
          for run, config in configs.items()]
  known = [seconds for seconds in left if seconds is not None]
  return known, len(left) - len(known), rates.source


def plan_text(runs: Sequence[Run], configs: Dict[Run, Config], runs_dir: str,
              budget: str, parallel_text: str) -> Tuple[str, Optional[float]]:
  """The plan of a sweep: runs, budget, where they go, how many are
  finished or started, and the hours of compute left. Also returns the
  median hours of an unfinished run (None without a figure)."""
  state = _run_state(runs, runs_dir)
  finished = sum(state[run][0] for run in runs)
  started = sum(not state[run][0] and (state[run][1] > 0 or
                                       state[run][2] is not None)
                for run in runs)
  episodes = sorted({config.total_episodes * len(config_lib.tasks(config))
                     for config in configs.values()})
  lines = [
      f'Plan: {len(runs)} runs ({_shape(runs)}) at '
      f'{common.budget_label(budget)}'
      + (f", {' or '.join(f'{e:,}' for e in episodes)} episodes each."
         if episodes else '.'),
      f'  Run directories: {_where(runs, runs_dir, budget)} (output in '
      'seed<k>.log beside each).',
      f'  Already finished: {finished}. Started, to resume: {started}. '
      f'Not started: {len(runs) - finished - started}.']
  left, unknown, source = _estimates(configs, state, budget)
  if left:
    total = (sum(s[0] for s in left), sum(s[1] for s in left))
    lines.append(f'  Estimate: about {progress.format_duration(*total)} of '
                 f'compute for the {len(left)} unfinished runs '
                 f'({parallel_text}), from {source}.')
  if unknown:
    lines.append(f'  No time figure for {unknown} run(s): the true simulator '
                 'has no reference; its first finished run gives one.')
  if not configs:
    lines.append('  Nothing left to run.')
  per_run = (float(np.median([sum(s) / 2 for s in left])) / 3600 if left
             else None)
  return '\n'.join(lines), per_run


def _parallel_text() -> str:
  FLAGS = flags.FLAGS
  if FLAGS.launcher == 'ray':
    return 'summed over runs; Ray spreads them over the cluster'
  if FLAGS.parallel == 1:
    return 'one run at a time'
  return (f'summed over runs; --parallel {FLAGS.parallel} shares this '
          "machine's cores between them")


def _warn_without_gpu(per_run_hours: Optional[float]) -> None:
  FLAGS = flags.FLAGS
  if (FLAGS.budget != 'paper' or FLAGS.launcher != 'local' or
      per_run_hours is None or has_gpu()):
    return
  print(f"Warning: no GPU found (nothing from `nvidia-smi -L`). The paper's budget takes about {per_run_hours:,.0f} hours per "
        "run on this project's 2-core CPU (10-20 hours on a GPU). Consider "
        '--budget=cpu, a GPU machine, or a Ray cluster (--launcher=ray).',
        flush=True)


def launch(sweep: Sweep) -> List[launcher.Outcome]:
  """Prints the plan, then runs the unfinished runs (unless --aggregate_only;
  with --dry_run exits after the plan). Prints a summary; after SIGINT or
  SIGTERM, once the runs stopped, exits asking to rerun the command."""
  FLAGS = flags.FLAGS
  if (FLAGS.aggregate_only and not FLAGS.dry_run) or not sweep.runs:
    return []
  text, per_run_hours = plan_text(sweep.runs, sweep.configs, FLAGS.runs_dir,
                                  FLAGS.budget, _parallel_text())
  print(text, flush=True)
  print(device_line(), flush=True)
  _warn_without_gpu(per_run_hours)
  if FLAGS.dry_run:
    print('Dry run: nothing was started or created.', flush=True)
    sys.exit(0)
  try:
    outcomes = launcher.launch(sweep.runs, FLAGS.runs_dir, FLAGS.launcher,
                               FLAGS.parallel, FLAGS.ray_address,
                               gpus_per_run=FLAGS.gpus_per_run,
                               on_locked=FLAGS.on_locked)
  except launcher.Interrupted as stop:
    print(launcher.summarize(stop.outcomes), flush=True)
    print(f'{signal.Signals(stop.signum).name}: interrupted: rerun the same '
          'command to resume.', file=sys.stderr, flush=True)
    sys.exit(128 + stop.signum)
  except (RuntimeError, ValueError) as error:
    fail(str(error))
  print(launcher.summarize(outcomes), flush=True)
  return outcomes


def exit_code(outcomes: Sequence[launcher.Outcome]) -> int:
  return 1 if any(not o.ok for o in outcomes) else 0


def load_groups(sweep: Sweep, script: str,
                launched: Sequence[launcher.Outcome],
                ) -> Dict[tuple, aggregate.Group]:
  """Reads the shown runs' metrics; warns about what it could not read;
  exits with a hint when there are none."""
  groups = aggregate.load_groups(sweep.shown, flags.FLAGS.runs_dir)
  for problem in aggregate.problems(groups):
    print(f'Warning: {problem}', flush=True)
  if not aggregate.has_metrics(groups):
    fail(common.find_metrics_hint(sweep.runs, flags.FLAGS.runs_dir, script,
                                  launched=any(not o.skipped for o in launched)))
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


def fail(message: str) -> None:
  sys.exit(f'Error: {message}')


def fail_all(problems: Sequence[str]) -> None:
  """Exits listing every problem, one per line; nothing was started."""
  sys.exit(f'Error: {len(problems)} problem(s); nothing was started or '
           'created:\n' + '\n'.join(f'  {p}' for p in problems))


def results_stem(base: str) -> str:
  FLAGS = flags.FLAGS
  return os.path.join(FLAGS.results_dir,
                      common.output_name(base, FLAGS.budget))


def plot(curves, title: str, base: str, task_list: Sequence[str]) -> List[str]:
  """Writes the figure `<results_dir>/<base>[_<budget>].{png,pdf}`."""
  paths = plotting.plot_curves(curves, title, results_stem(base),
                               plotting.references(task_list))
  print('Wrote ' + ', '.join(paths), flush=True)
  return paths


def write_json(base: str, payload: dict) -> str:
  """Writes `<results_dir>/<base>[_<budget>].json`; returns its path."""
  path = results_stem(base) + '.json'
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


def curve_figure_main(argv: Sequence[str], base: str, text: str,
                      variants: Dict[str, Tuple[str, ...]],
                      task_of: Callable[[str], Optional[str]] = lambda t: t,
                      key_for_task: Optional[Callable[[str], str]] = None,
                      compare: Optional[Dict[str, Tuple[str, ...]]] = None,
                      ) -> int:
  """Launch (unless --aggregate_only), aggregate and plot one figure.

  variants: label -> presets of the runs to launch and plot. task_of maps a
  panel's task to the run's task (None: one run for all tasks). compare:
  label -> presets of per-task runs plotted if present, never launched.
  """
  FLAGS = flags.FLAGS
  task_list = tasks()
  run_tasks = list(dict.fromkeys(task_of(t) for t in task_list))
  sweep = build(argv, list(variants.values()), run_tasks,
                list((compare or {}).values()), task_list)
  outcomes = launch(sweep)
  groups = load_groups(sweep, f'reproduce/{base}.py', outcomes)
  labels = {label: Run(task_of(task_list[0]), 1, presets, FLAGS.budget,
                       sweep.overrides)
            for label, presets in variants.items()}
  for label, presets in (compare or {}).items():
    labels[label] = Run(task_list[0], 1, presets, FLAGS.budget,
                        sweep.overrides)
  curves = curves_by_task(groups, labels, task_list, key_for_task)
  plot(curves, figure_title(text, FLAGS.budget, FLAGS.seeds, groups), base,
       task_list)
  print('Wrote ' + write_json(base, curves_payload(curves, FLAGS.budget,
                                                   groups)), flush=True)
  return exit_code(outcomes)
