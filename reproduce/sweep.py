"""Flags and steps shared by the reproduce/ scripts.

Every script: build the runs of its experiment, launch the unfinished ones
(unless --aggregate_only), aggregate what the run directories hold, write
results named with the budget. Config overrides for ablations pass through
to every run, as `--config_overrides=key=value,...` or as `--key=value`
after a `--` separator.
"""

from __future__ import annotations

import os
import sys
import json
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from absl import flags

from reproduce import aggregate, common, launcher, plotting
from reproduce.common import Run


def define_flags(seeds: int = 5) -> None:
  """The flags every reproduce/ script shares."""
  flags.DEFINE_integer('seeds', seeds, 'Seeds per task and variant: 1..N.')
  flags.DEFINE_list('tasks', list(common.TASKS), 'Tasks to run and show.')
  flags.DEFINE_enum('budget', 'paper', list(common.BUDGETS),
                    "Named budget: 'paper' (the paper's config), 'cpu' or "
                    "'debug' (add that preset after the variant's). Written "
                    'into every results file and figure title.')
  flags.DEFINE_string('runs_dir', 'runs',
                      'Root of the run directories <budget>/<variant>/<task>/'
                      'seed<k>; must be shared storage for a Ray cluster.')
  flags.DEFINE_string('results_dir', 'results', 'Where results files go.')
  flags.DEFINE_bool('aggregate_only', False,
                    'Launch nothing: only aggregate the existing runs.')
  flags.DEFINE_enum('launcher', 'local', list(launcher.LAUNCHERS),
                    'local: processes on this machine (--parallel); ray: one '
                    'task per run on a Ray cluster (--ray_address).')
  flags.DEFINE_integer('parallel', 1, 'Local launcher: runs at a time.')
  flags.DEFINE_string('ray_address', 'auto',
                      "Ray cluster address ('auto' joins the cluster of "
                      "`ray start`, 'ray://host:10001' a remote one, 'local' "
                      'starts one here).')
  flags.DEFINE_list('config_overrides', [],
                    'key=value config overrides for every run (ablations), '
                    'e.g. horizon=8,free_nats=2. Runs with overrides get '
                    'their own directories.')


def overrides(argv: Sequence[str]) -> Tuple[Tuple[str, str], ...]:
  """--config_overrides plus any `--key=value` left after `--` in argv."""
  extra = [arg for arg in argv[1:]]
  bad = [arg for arg in extra if not arg.startswith('--') or '=' not in arg]
  if bad:
    raise ValueError(f'Unexpected arguments {bad}: pass config overrides as '
                     '--key=value after --, or as --config_overrides.')
  return common.parse_overrides(list(flags.FLAGS.config_overrides) + extra)


def tasks() -> List[str]:
  unknown = [t for t in flags.FLAGS.tasks if t not in common.TASKS]
  if unknown:
    print(f'Note: {unknown} are not among the paper tasks; no reference '
          'lines for them.', flush=True)
  return list(flags.FLAGS.tasks)


def launch(runs: Sequence[Run]) -> List[launcher.Outcome]:
  """Runs the unfinished runs unless --aggregate_only; prints a summary."""
  if flags.FLAGS.aggregate_only or not runs:
    return []
  FLAGS = flags.FLAGS
  print(f'Launching {len(runs)} runs with the {FLAGS.launcher} launcher at '
        f'{common.budget_label(FLAGS.budget)} into {FLAGS.runs_dir}.',
        flush=True)
  try:
    outcomes = launcher.launch(runs, FLAGS.runs_dir, FLAGS.launcher,
                               FLAGS.parallel, FLAGS.ray_address)
  except (RuntimeError, ValueError) as error:
    fail(str(error))
  print(launcher.summarize(outcomes), flush=True)
  return outcomes


def exit_code(outcomes: Sequence[launcher.Outcome]) -> int:
  return 1 if any(not o.ok for o in outcomes) else 0


def warn(groups: Dict[tuple, aggregate.Group]) -> None:
  """Prints what could not be read in the groups' run directories."""
  for problem in aggregate.problems(groups):
    print(f'Warning: {problem}', flush=True)


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
  try:
    extra = overrides(argv)
    task_list = tasks()
    run_tasks = list(dict.fromkeys(task_of(t) for t in task_list))
    runs = common.make_runs(list(variants.values()), run_tasks, FLAGS.seeds,
                            FLAGS.budget, extra)
    shown = runs + common.make_runs(list((compare or {}).values()), task_list,
                                    FLAGS.seeds, FLAGS.budget, extra)
  except ValueError as error:
    fail(str(error))
  outcomes = launch(runs)
  groups = aggregate.load_groups(shown, FLAGS.runs_dir)
  warn(groups)
  if not aggregate.has_metrics(groups):
    fail(common.find_metrics_hint(runs, FLAGS.runs_dir, f'reproduce/{base}.py'))
  print('Runs:\n' + describe_groups(groups), flush=True)
  labels = {label: Run(task_of(task_list[0]), 1, presets, FLAGS.budget, extra)
            for label, presets in variants.items()}
  for label, presets in (compare or {}).items():
    labels[label] = Run(task_list[0], 1, presets, FLAGS.budget, extra)
  curves = curves_by_task(groups, labels, task_list, key_for_task)
  plot(curves, figure_title(text, FLAGS.budget, FLAGS.seeds, groups), base,
       task_list)
  print('Wrote ' + write_json(base, curves_payload(curves, FLAGS.budget,
                                                   groups)), flush=True)
  return exit_code(outcomes)
