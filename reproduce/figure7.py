"""Figure 7: one agent trained on all six tasks (preset `multitask`).

  python reproduce/figure7.py --seeds=5
  python reproduce/figure7.py --aggregate_only

One run per seed, in <runs_dir>/<budget>/multitask/all_tasks/seed<k>; its
metrics rows carry per-task returns as `test_returns/<task>`. Where the
single-task PlaNet runs of Figure 4 exist (variant rssm, same budget), they
are drawn for comparison; they are never launched from here. Writes
results/figure7[_<budget>].{png,pdf,json}.
"""

from reproduce import execute, sweep

VARIANTS = {'PlaNet, one agent for all tasks': ('multitask',)}
COMPARE = {'PlaNet, one agent per task': ('rssm',)}


def task_key(task: str) -> str:
  """The metrics key of one task's test returns in the multitask run."""
  return f'test_returns/{task}'


def main(argv) -> int:
  return sweep.run_main(argv, lambda options: execute.curve_figure(
      options, 'figure7', 'Figure 7: one agent on all tasks', VARIANTS,
      task_of=lambda task: None, key_for_task=task_key, compare=COMPARE))


if __name__ == '__main__':
  sweep.start(main)
