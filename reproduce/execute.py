"""A built sweep's last steps: print its plan, launch its unfinished runs,
aggregate what its run directories hold, and write the results files and
figures, named with the budget (`curve_figure` does all of them for one
figure). Each step raises `SweepError`; only a script's main() exits.
"""

from __future__ import annotations

import json
import os
import signal
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from reproduce import aggregate, common, launcher, plan, plotting
from reproduce.common import Run, SweepError
from reproduce.outcomes import Interrupted, Outcome, summarize
from reproduce.sweep import Sweep, SweepOptions, build


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
  planned = plan.plan(sweep)
  print(planned.text(), flush=True)
  print(plan.device_line(options), flush=True)
  plan.warn_without_gpu(options, planned.per_run_hours)
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
