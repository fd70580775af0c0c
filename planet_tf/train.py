"""Command line: python -m planet_tf.train --task=cheetah_run --logdir=runs/x

Every config field is a flag of the same name; `--preset` names presets
applied left to right (`--preset=cpu,ssm` or `--preset=cpu --preset=ssm`),
explicit flags override them. `--print_config` prints the resolved config,
marking what differs from the paper's, and exits. The flags, their
resolution, the device and the one-line errors are `planet_tf.cli`'s,
shared with `python -m planet_tf.true_simulator` (Table 1's CEM on the real
simulator), which `--preset=true_simulator` here runs.
"""

from __future__ import annotations

from typing import Sequence, Tuple

from absl import app, logging

from planet_tf import cli, rundir
# The shared command line's flags, by the names their users know.
from planet_tf.cli import config_from_flags, define_flags  # noqa: F401
from planet_tf.config import Config


def _load() -> Tuple[cli.RunFunction, Tuple[type, ...]]:
  """Training (its modules import TensorFlow) and its NaN limit's error."""
  # pylint: disable-next=import-outside-toplevel
  from planet_tf import components, training, true_simulator

  def run(config: Config, logdir: str) -> None:
    if rundir.run_kind(config) == rundir.TRUE_SIMULATOR:  # Its own program.
      logging.info('--preset=true_simulator runs python -m '
                   'planet_tf.true_simulator (the same flags).')
      true_simulator.evaluate(config, logdir)
    else:
      components.train(config, logdir)
  return run, (training.NonFiniteError,)


def main(argv: Sequence[str]) -> None:
  """Resolves the config from the flags, then trains (or prints it)."""
  cli.main(argv, cli.Program(load=_load))


if __name__ == '__main__':
  define_flags()
  app.run(main)
