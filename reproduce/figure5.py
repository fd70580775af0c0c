"""Figure 5: PlaNet vs random data collection vs random shooting, per task.

  python reproduce/figure5.py --seeds=5                 # run or resume, plot
  python reproduce/figure5.py --aggregate_only          # plot what exists
  python reproduce/figure5.py --budget=cpu --dry_run    # only the plan
  python reproduce/figure5.py --budget=cpu --parallel=2 # the CPU budget

Writes results/figure5[_<budget>].{png,pdf,json}.
"""

from reproduce import execute, sweep

VARIANTS = {'PlaNet': ('rssm',), 'random collection': ('random_collection',),
            'random shooting': ('random_shooting',)}


def main(argv) -> int:
  return sweep.run_main(argv, lambda options: execute.curve_figure(
        options, 'figure5', 'Figure 5: agent designs', VARIANTS))


if __name__ == '__main__':
  sweep.start(main)
