"""The command line of the programs that make a run directory:
`planet_tf.train` and `planet_tf.true_simulator`.

Every config field is a flag of the same name; `--preset` names presets
applied left to right (`--preset=cpu,ssm` or `--preset=cpu --preset=ssm`),
explicit flags override them. `--print_config` prints the resolved config,
marking what differs from the paper's, and exits. `main` is both programs'
`main`: it resolves the config, checks what needs environments, the run
directory and the device, then runs the `Program`; every error is one line
naming the fix. Nothing here imports TensorFlow before the device is set up.
"""

from __future__ import annotations

import dataclasses
import logging as std_logging
import signal
import sys
from typing import Callable, List, Sequence, Tuple

from absl import app, flags, logging

from planet_tf import config as config_lib
from planet_tf import driver, env_checks, env_process, rundir, runtime

_DEFINE = {int: flags.DEFINE_integer, float: flags.DEFINE_float,
           str: flags.DEFINE_string, bool: flags.DEFINE_bool}


# Fields whose default needs a word of explanation in --help.
_HELP = {'action_repeat': "Config value (default 0: the paper's action repeat "
                          'of the task, App. A).'}


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """One absl flag per config field (default None: the preset decides)."""
  for field in dataclasses.fields(config_lib.Config):
    _DEFINE[type(field.default)](
        field.name, None, _HELP.get(
            field.name, f'Config value (default {field.default!r}).'),
        flag_values=flag_values)
  flags.DEFINE_multi_string(
      'preset', ['paper'], 'Presets applied in order (comma-separated, or '
      f"the flag repeated): {', '.join(config_lib.PRESETS)}.",
      flag_values=flag_values)
  flags.DEFINE_string('logdir', None, 'Run directory; rerun to resume.',
                      flag_values=flag_values)
  define_device_flags(flag_values)
  flags.DEFINE_bool('print_config', False, 'Print the resolved config, marking '
                    "the values that differ from the paper's, and exit.",
                    flag_values=flag_values)


def define_device_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """--allow_cpu and --allow_tf32 (`runtime.configure_tensorflow`)."""
  flags.DEFINE_bool('allow_cpu', False, 'Train on the CPU even where the '
                    'NVIDIA driver lists a GPU that TensorFlow cannot use.',
                    flag_values=flag_values)
  flags.DEFINE_bool('allow_tf32', False, 'Let matmuls and convolutions use '
                    'TF32 on Ampere and newer GPUs (faster; off: float32 as '
                    "on the paper's V100).", flag_values=flag_values)


def presets_from_flags(flag_values: flags.FlagValues = flags.FLAGS,
                       last: Sequence[str] = ()) -> List[str]:
  """The presets in order, from every --preset given (each may be a list),
  then those of `last` not named already (a program's own)."""
  names = [name.strip() for value in flag_values.preset
           for name in value.split(',') if name.strip()]
  return names + [name for name in last if name not in names]


def config_from_flags(flag_values: flags.FlagValues = flags.FLAGS,
                      last: Sequence[str] = ()) -> config_lib.Config:
  """The validated config of parsed flags (presets `last` after --preset's,
  explicit flags over both); raises ValueError naming problems."""
  overrides = {field.name: flag_values[field.name].value
               for field in dataclasses.fields(config_lib.Config)
               if flag_values[field.name].value is not None}
  return config_lib.resolve(presets_from_flags(flag_values, last), overrides)


def describe(config: config_lib.Config, presets: List[str]) -> str:
  """Every value, one per line, a '*' and the paper's value where they differ."""
  paper = config_lib.Config().to_dict()
  lines = [f"# presets {','.join(presets)}; * marks a value that differs from "
           "the paper's"]
  for key, value in sorted(config.to_dict().items()):
    differs = value != paper[key]
    lines.append(f"{'*' if differs else ' '} {key} = {value!r}"
                 + (f'   (paper: {paper[key]!r})' if differs else ''))
  return '\n'.join(lines)


def _changed_summary(config: config_lib.Config) -> str:
  paper = config_lib.for_device(config_lib.Config()).to_dict()  # Same device.
  changed = [f'{k}={v}' for k, v in sorted(config.to_dict().items())
             if v != paper[k]]
  return ', '.join(changed) if changed else "none: the paper's configuration"


class _QuietTensorFlowInfo(std_logging.Filter):
  """Drops INFO records logged from TensorFlow's modules."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    return (record.levelno > std_logging.INFO or
            '/tensorflow/' not in record.pathname.replace('\\', '/'))


# (config resolved for the device, run directory) -> None.
RunFunction = Callable[[config_lib.Config, str], None]


def _accept(config: config_lib.Config) -> None:
  del config


@dataclasses.dataclass(frozen=True)
class Program:
  """What one program adds to the shared command line.

  load: called once TensorFlow is set up for the device; returns the
    function that makes the run, and the errors of its own to show as one
    line (`Error: <message>`), beside the run directory's, the config's and
    the environments'.
  presets: applied after --preset's (the program's own values).
  check: raises ValueError naming the fix for a config the program does
    not run; called before anything is created.
  """
  load: Callable[[], Tuple[RunFunction, Tuple[type, ...]]]
  presets: Tuple[str, ...] = ()
  check: Callable[[config_lib.Config], None] = _accept


def main(argv: Sequence[str], program: Program) -> None:
  """Resolves the config from the flags, then runs `program` in --logdir
  (or prints the config)."""
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  try:
    config = config_from_flags(last=program.presets)  # Pure: the values alone.
    program.check(config)
    env_checks.check_environments(config.tasks, config.camera_id)
  except ValueError as error:
    sys.exit(f'Error: {error}')
  if flags.FLAGS.print_config:
    print(describe(config, presets_from_flags(last=program.presets)))
    return
  if not flags.FLAGS.logdir:
    sys.exit('Error: pass --logdir=<run directory> (rerun with it to resume).')
  logdir = flags.FLAGS.logdir
  # A scheduler's or a sweep's SIGTERM stops like Ctrl-C, saying how to go on.
  signal.signal(signal.SIGTERM, _terminated)
  try:  # A GPU the CUDA build cannot use stops before the run directory exists.
    device = runtime.configure_tensorflow(flags.FLAGS.allow_cpu,
                                          flags.FLAGS.allow_tf32)
  except runtime.DeviceError as error:
    sys.exit(f'Error: {error}')
  try:  # Before anything is built or announced (the run checks it again).
    rundir.check_writable(logdir)
  except rundir.RunDirError as error:
    sys.exit(f'Error: {error}')
  logging.info('%s', device)
  # TensorFlow logs an INFO line per checkpoint written through absl, the
  # logger our progress lines use: keep its warnings, drop its INFO.
  std_logging.getLogger('absl').addFilter(_QuietTensorFlowInfo())
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  run, own_errors = program.load()
  errors = (rundir.RunDirError, ValueError, driver.EnvFailedError) + tuple(
      own_errors)
  config = config_lib.for_device(config)  # config.json holds the values.
  logging.info('Config in %s (differs from the paper in: %s).',
               f'{logdir}/{rundir.CONFIG_FILE}', _changed_summary(config))
  try:
    run(config, logdir)
  except errors as error:  # Run directory problems, the NaN limit.
    sys.exit(f'Error: {error}')
  except env_process.EnvDiedError as error:  # Starting one (episodes are redone).
    sys.exit(f'Error: {error} Rerun the same command to resume from the '
             'last checkpoint.')
  except MemoryError:  # Host memory (a batch NumPy could not allocate).
    sys.exit(_out_of_memory(config, 'host memory'))
  except tf.errors.ResourceExhaustedError:  # TensorFlow's device.
    sys.exit(_out_of_memory(config, "the device's memory"))
  except _Terminated:
    print(_INTERRUPTED, file=sys.stderr)
    sys.exit(128 + signal.SIGTERM)
  except OSError as error:  # A full disk, a directory made read-only.
    sys.exit(f'Error: {error}. Nothing partial was left: fix the cause and '
             'rerun the same command to resume from the last checkpoint.')
  except KeyboardInterrupt:
    sys.exit(_INTERRUPTED)


_INTERRUPTED = 'interrupted: rerun the same command to resume.'


def _out_of_memory(config, where: str) -> str:
  """One line: what did not fit, the flags that size it, how to go on."""
  frames = config.batch_size * config.chunk_length
  return (f'Error: out of {where} for a batch of --batch_size='
          f'{config.batch_size} x --chunk_length={config.chunk_length} = '
          f'{frames:,} frames (or --candidates={config.candidates} in '
          'planning): lower --batch_size (or --chunk_length, --candidates). '
          'A run that stopped before its first update holds nothing '
          'trained: rerun it in the same --logdir with the smaller size. '
          'After updates a changed size is another config: start a new '
          '--logdir, or rerun this one unchanged where more memory is free.')


class _Terminated(BaseException):
  """SIGTERM arrived; unwinds like KeyboardInterrupt (files, processes)."""


def _terminated(signum, frame) -> None:
  del signum, frame
  raise _Terminated()
