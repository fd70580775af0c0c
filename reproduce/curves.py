"""Learning curves of one seed's PlaNet run on each of the paper's six tasks.

  python reproduce/curves.py --runs_dir=runs --budget=cpu --seed=1 --out=results/curves_cpu

Reads the runs `<runs_dir>/<budget>/rssm/<task>/seed<k>` (as `table1.py`
launches them) and writes `<out>.{png,pdf,json}`: one panel a task, in the
order of --tasks, up to three a row (the six tasks make Table 1's 2 x 3
grid), each panel with the train return of every collected episode (with
exploration noise), the test returns at each test point (mean, min-max),
the uniformly random policy's mean and min-max range (from
`reproduce/random_policy.py`'s JSON) as a grey band, and the paper's final
PlaNet return (Table 1, after 1,000 episodes) as a dashed line. A panel
whose run has not started or not finished says so. The JSON holds every
number plotted.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import textwrap
from typing import Dict, List, Optional, Tuple

from absl import app, flags

from planet_tf import config as config_lib
from planet_tf import rundir
from reproduce import common, plotting, run_curves

VARIANT = ('rssm',)
PAPER = common.PAPER_TABLE1['PlaNet']
RANDOM_COLOR, PAPER_COLOR, TEST_COLOR = '#7f7f7f', '#000000', '#1f77b4'


def holder_alive(logdir: str) -> bool:
  """Whether a process holds the run's lock now (`rundir.lock_holder`)."""
  return rundir.lock_holder(logdir) is not None


def run_status(logdir: str, rows: List[dict], total: Optional[int]) -> str:
  """'not run yet', 'running: k/N episodes', 'stopped at k/N episodes
  (rerun to resume)' or 'finished'."""
  if not rows or total is None:
    return 'not run yet'
  done = max(row['episode'] for row in rows)
  if done >= total:
    return 'finished'
  if holder_alive(logdir):
    return f'running: {done}/{total} episodes'
  return f'stopped at {done}/{total} episodes (rerun to resume)'


def task_numbers(logdir: str, task: str, random: Optional[dict],
                 budget_episodes: int) -> dict:
  """Everything one panel plots, from the run's metrics and config;
  `budget_episodes` stands in for the total before the run has a config."""
  stored = rundir.read_config(logdir)
  rows = sorted(rundir.read_metrics(logdir).rows, key=lambda r: r['episode'])
  total = stored['total_episodes'] if stored else None
  summary = run_curves.summarise(rows)
  summary['test_returns'] = [row['test_returns'] for row in rows
                             if row.get('test_returns')]
  return dict(
      logdir=logdir, status=run_status(logdir, rows, total),
      total_episodes=total or budget_episodes, **summary,
      random=({key: random[key] for key in ('mean', 'min', 'max', 'returns')}
              if random else None),
      paper_planet=float(PAPER['values'][task]))


def read_random(path: str) -> Dict[str, dict]:
  """task -> the random policy's result, or {} when the file is missing."""
  if not os.path.exists(path):
    return {}
  with open(path) as file:
    return json.load(file).get('tasks', {})


def budget_sizes(budget: str) -> config_lib.Config:
  """The config a sweep at `budget` runs (its episodes and tests)."""
  return config_lib.resolve(VARIANT + common.BUDGETS[budget])


def budget_line(budget: str) -> str:
  """The title's budget: episodes, tests, and whether it is the paper's."""
  if budget == 'paper':
    return "budget 'paper': the paper's configuration (1,000 episodes)"
  sizes = budget_sizes(budget)
  if budget == 'first40':
    return ("budget 'first40': the paper's configuration cut at 40 episodes "
            f'({sizes.test_episodes} test episodes every {sizes.test_every}); '
            "NOT the paper's budget (1,000 episodes)")
  return (f"budget '{budget}': {sizes.total_episodes} episodes per task, "
          f'{sizes.test_episodes} test episodes every {sizes.test_every}; '
          "NOT the paper's budget (1,000 episodes)")


def grid_shape(panels: int) -> Tuple[int, int]:
  """(rows, columns): up to 3 panels a row, so the six tasks make Table 1's
  2 x 3 grid and fewer tasks leave no empty panels beside them."""
  if panels < 1:
    raise ValueError('a figure needs at least one task')
  columns = min(panels, 3)
  return -(-panels // columns), columns


def plot(numbers: Dict[str, dict], title: str, stem: str) -> List[str]:
  """The grid of panels (`grid_shape`), saved as `<stem>.{png,pdf}`."""
  rows, columns = grid_shape(len(numbers))
  width = max(4.5 * columns, 9.0)  # 4.5 x 3.6 inches a panel.
  # Title lines wrapped to the figure's width (about 12 characters an inch).
  lines = [part for line in title.split('\n')
           for part in textwrap.wrap(line, int(width * 12))]
  figure = plotting.new_figure(figsize=(width, 3.6 * rows))
  axes = figure.subplots(rows, columns, squeeze=False)
  for axis, (task, values) in zip(axes.flat, numbers.items()):
    _panel(axis, task, values)
  for axis in list(axes.flat)[len(numbers):]:
    axis.axis('off')
  handles = {}
  for axis in axes.flat:
    for handle, label in zip(*axis.get_legend_handles_labels()):
      handles.setdefault(label, handle)
  # The figure grows below the panels by the legend's rows, counted from the
  # entries the panels drew, and above them by the title's lines.
  legend_columns = min(len(handles), 4 if columns == 3 else 2) or 1
  legend_inches = 0.25 * -(-len(handles) // legend_columns) + 0.15
  height = 3.6 * rows + legend_inches + 0.2 * len(lines) + 0.25
  figure.set_size_inches(width, height)
  figure.legend(list(handles.values()), list(handles), loc='lower center',
                ncol=legend_columns, frameon=False,
                fontsize=8, bbox_to_anchor=(0.5, 0.0))
  figure.suptitle('\n'.join(lines), fontsize=10)
  # tight_layout leaves room for the suptitle itself; the legend's is ours.
  figure.tight_layout(rect=(0, legend_inches / height, 1, 1))
  return plotting.save_figure(figure, stem)


def _panel(axis, task: str, values: dict) -> None:
  random = values['random']
  if random:
    axis.axhspan(random['min'], random['max'], color=RANDOM_COLOR, alpha=0.2,
                 lw=0, zorder=0)
    axis.axhline(random['mean'], color=RANDOM_COLOR, lw=1, zorder=1,
                 label=f"uniformly random policy: mean, min-max of "
                       f"{len(random['returns'])} episodes")
  axis.axhline(values['paper_planet'], color=PAPER_COLOR, linestyle='--',
               lw=1, label='PlaNet, paper, 1,000 episodes (Table 1)')
  axis.annotate(f"paper, 1,000 episodes: {values['paper_planet']:g}",
                (0.01, values['paper_planet']),
                xycoords=('axes fraction', 'data'), xytext=(0, 2),
                textcoords='offset points', va='bottom', fontsize=7,
                color=PAPER_COLOR)
  axis.plot(values['episode'], values['train_return'], color=TEST_COLOR,
            alpha=0.6, lw=0.9, marker='.', markersize=3,
            label='train return (exploration noise)')
  if values['test_episode']:
    means = values['test_mean']
    axis.errorbar(values['test_episode'], means,
                  yerr=[[m - lo for m, lo in zip(means, values['test_min'])],
                        [hi - m for m, hi in zip(means, values['test_max'])]],
                  marker='o', markersize=4, color=TEST_COLOR, capsize=3,
                  lw=1.5, label='test return: mean, min-max')
  axis.set_xlim(0, values['total_episodes'] + 1)
  # From 0 (DM Control's returns are not negative) to above the paper's line.
  measured = values['train_return'] + values['test_max']
  axis.set_ylim(min([0.0] + measured) - 10,
                1.06 * max([values['paper_planet']] + measured))
  if values['status'] != 'finished':
    axis.text(0.5, 0.6, values['status'], ha='center', va='center',
              transform=axis.transAxes, color='#555555', fontsize=9,
              bbox=dict(facecolor='white', edgecolor='#cccccc', alpha=0.9))
  axis.set_title(common.TASK_TITLES.get(task, task), fontsize=10)
  axis.set_xlabel('collected episodes', fontsize=8)
  axis.set_ylabel('return', fontsize=8)
  axis.tick_params(labelsize=7)
  plotting.integer_episodes(axis)
  axis.grid(alpha=0.3)


def define_flags() -> None:
  flags.DEFINE_string('runs_dir', 'runs', 'Root of the run directories.')
  flags.DEFINE_enum('budget', 'cpu', list(common.BUDGETS), 'Budget of the runs.')
  flags.DEFINE_integer('seed', 1, 'Seed of the runs.')
  flags.DEFINE_list('tasks', list(common.TASKS), 'Tasks, one panel each.')
  flags.DEFINE_string('random', os.path.join('results', 'random_policy.json'),
                      "The random policy's returns (reproduce/random_policy.py).")
  flags.DEFINE_string('out', None, 'Output stem: writes <out>.png/.pdf/.json '
                      '(default results/curves_<budget>).')


def main(argv) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  values = flags.FLAGS
  try:
    common.paper_tasks_only(values.tasks)
  except common.SweepError as error:
    sys.exit(str(error))
  out = values.out or os.path.join('results', f'curves_{values.budget}')
  random = read_random(values.random)
  if not random:
    print(f'Warning: {values.random} not found: no random-policy band '
          '(run reproduce/random_policy.py).', file=sys.stderr)
  numbers = {}
  for task in values.tasks:
    logdir = common.Run(task, values.seed, VARIANT, values.budget).logdir(
        values.runs_dir)
    numbers[task] = task_numbers(logdir, task, random.get(task),
                                 budget_sizes(values.budget).total_episodes)
    print(f"{task}: {numbers[task]['status']} ({logdir})", flush=True)
  title = (f'PlaNet (RSSM), seed {values.seed}: train and test returns per '
           f'collected episode\n{budget_line(values.budget)}')
  payload = dict(
      budget=values.budget, budget_label=common.budget_label(values.budget),
      seed=values.seed, title=title,
      generated=datetime.date.today().isoformat(),
      random_policy=values.random, tasks=numbers)
  paths = plot(numbers, title, out)
  common.write_atomic(out + '.json', json.dumps(payload, indent=2).encode())
  for path in paths + [out + '.json']:
    print('wrote', path, flush=True)


if __name__ == '__main__':
  define_flags()
  app.run(main)
