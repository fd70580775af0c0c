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

_DEFINE = {int: flags.DEFINE_integer, float: flags.DEFINE_float,
           str: flags.DEFINE_string, bool: flags.DEFINE_bool}


def define_flags() -> None:
  """One absl flag per config field (default None: the preset decides)."""
  for field in dataclasses.fields(config_lib.Config):
    _DEFINE[type(field.default)](
        field.name, None, f'Config value (default {field.default!r}).')
  flags.DEFINE_list('preset', ['paper'],
                    f"Presets applied in order: {', '.join(config_lib.PRESETS)}.")
  flags.DEFINE_string('logdir', None, 'Run directory; rerun to resume.')
  flags.DEFINE_bool('print_config', False, 'Print the resolved config and exit.')


def config_from_flags() -> config_lib.Config:
  values = flags.FLAGS
  overrides = {field.name: values[field.name].value
               for field in dataclasses.fields(config_lib.Config)
               if values[field.name].value is not None}
  return config_lib.resolve(values.preset, overrides)


def main(argv) -> None:
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
  from planet_tf import training  # Imports TensorFlow.
  logging.info('Config:\n%s', config.to_json())
  try:
    training.train(config, flags.FLAGS.logdir)
  except ValueError as error:
    sys.exit(f'Error: {error}')


if __name__ == '__main__':
  define_flags()
  app.run(main)
