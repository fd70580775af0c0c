"""Figure 4: RSSM vs deterministic GRU (rnn) vs stochastic SSM, per task.

  python reproduce/figure4.py --seeds=5                 # run or resume, plot
  python reproduce/figure4.py --aggregate_only          # plot what exists
  python reproduce/figure4.py --budget=cpu --dry_run    # only the plan
  python reproduce/figure4.py --budget=cpu --parallel=2 # the CPU budget

Writes results/figure4[_<budget>].{png,pdf,json}.
"""

from reproduce import execute, sweep

VARIANTS = {'PlaNet (RSSM)': ('rssm',), 'deterministic (GRU)': ('rnn',),
            'stochastic (SSM)': ('ssm',)}


def main(argv) -> int:
  return sweep.run_main(argv, lambda options: execute.curve_figure(
        options, 'figure4', 'Figure 4: model designs', VARIANTS))


if __name__ == '__main__':
  sweep.start(main)
