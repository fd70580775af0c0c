"""Command line: python -m planet_tf.train --task=cheetah_run --logdir=runs/x

Every config field is a flag of the same name; `--preset` names presets
applied left to right (e.g. `--preset=cpu`), explicit flags override them.
`--print_config` prints the resolved config and exits.
"""

from __future__ import annotations

import dataclasses
import sys

from absl import app, flags, logging

from planet_tf import config as config_lib
from planet_tf import rundir, runtime

_DEFINE = {int: flags.DEFINE_integer, float: flags.DEFINE_float,
           str: flags.DEFINE_string, bool: flags.DEFINE_bool}


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """One absl flag per config field (default None: the preset decides)."""
  for field in dataclasses.fields(config_lib.Config):
    _DEFINE[type(field.default)](
        field.name, None, f'Config value (default {field.default!r}).',
        flag_values=flag_values)
  flags.DEFINE_list('preset', ['paper'],
                    f"Presets applied in order: {', '.join(config_lib.PRESETS)}.",
                    flag_values=flag_values)
  flags.DEFINE_string('logdir', None, 'Run directory; rerun to resume.',
                      flag_values=flag_values)
  flags.DEFINE_bool('print_config', False, 'Print the resolved config and exit.',
                    flag_values=flag_values)


def config_from_flags(
    flag_values: flags.FlagValues = flags.FLAGS) -> config_lib.Config:
  """The validated config of parsed flags; raises ValueError naming problems."""
  overrides = {field.name: flag_values[field.name].value
               for field in dataclasses.fields(config_lib.Config)
               if flag_values[field.name].value is not None}
  return config_lib.resolve(flag_values.preset, overrides)


def main(argv) -> None:
  """Resolves the config from the flags, then trains (or prints it)."""
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  try:
    config = config_from_flags()
  except ValueError as error:
    sys.exit(f'Error: {error}')
  if flags.FLAGS.print_config:
    print(config.to_json())
    return
  if not flags.FLAGS.logdir:
    sys.exit('Error: pass --logdir=<run directory> (rerun with it to resume).')
  runtime.prepare_tensorflow()
  from planet_tf import training, true_simulator  # Import TensorFlow.
  logging.info('Config:\n%s', config.to_json())
  try:
    if config.planner == 'true_simulator':  # A separate program: no learning.
      true_simulator.evaluate(config, flags.FLAGS.logdir)
    else:
      training.train(config, flags.FLAGS.logdir)
  except (rundir.RunDirError, training.NonFiniteError) as error:
    sys.exit(f'Error: {error}')  # Run directory problems, the NaN limit.
  except OSError as error:  # A full disk, a directory made read-only.
    sys.exit(f'Error: {error}. Nothing partial was left: fix the cause and '
             'rerun the same command to resume from the last checkpoint.')


if __name__ == '__main__':
  define_flags()
  app.run(main)
