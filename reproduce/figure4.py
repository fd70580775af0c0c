"""Figure 4: RSSM vs deterministic GRU (rnn) vs stochastic SSM, per task.

  python reproduce/figure4.py --seeds=5                 # run or resume, plot
  python reproduce/figure4.py --aggregate_only          # plot what exists
  python reproduce/figure4.py --budget=cpu --dry_run    # only the plan
  python reproduce/figure4.py --budget=cpu --parallel=2 # the CPU budget

Writes results/figure4[_<budget>].{png,pdf,json}.
"""

import sys

from absl import app, flags

from reproduce import execute, sweep

VARIANTS = {'PlaNet (RSSM)': ('rssm',), 'deterministic (GRU)': ('rnn',),
            'stochastic (SSM)': ('ssm',)}


def main(argv) -> int:
  options = sweep.SweepOptions.from_flags(flags.FLAGS, argv)
  try:
    return execute.curve_figure(
        options, 'figure4', 'Figure 4: model designs', VARIANTS)
  except sweep.SweepError as error:
    print(error, file=sys.stderr, flush=True)
    sys.exit(error.status)


if __name__ == '__main__':
  sweep.define_flags()
  flags.adopt_module_key_flags(sweep)
  app.run(main)
