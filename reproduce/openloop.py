"""Open-loop video prediction figure from a trained run's last checkpoint.

  python reproduce/openloop.py --task=cheetah_run --seed=1     # runs/paper/rssm/...
  python reproduce/openloop.py --logdir=runs/cpu/rssm/cheetah_run/seed1

Restores the world model, samples sequences from the run's replay, filters
`openloop_context` frames (config.json) and predicts the rest from the
actions alone (`WorldModel.openloop`). Drawn by `planet_tf.pictures`, as
the training-time summaries are: per sequence rows truth, model and
|error|, context frames framed in green. Writes
results/openloop_<task>[_<budget>].{png,pdf}.
"""

from __future__ import annotations

import os
import sys
from typing import List, Optional

from absl import app, flags

from planet_tf import pictures, rundir
from reproduce import common, plotting


def load_run(logdir: str):
  """The run's config, world model (newest checkpoint), replay and checkpoint."""
  from planet_tf import runtime  # pylint: disable=import-outside-toplevel
  runtime.configure_tensorflow(allow_cpu=True)  # Before any module importing it.
  from planet_tf import checkpoint  # pylint: disable=import-outside-toplevel
  from planet_tf.replay import Replay  # pylint: disable=import-outside-toplevel
  config, world_model, prefix = checkpoint.load_world_model(logdir)
  replay = Replay(os.path.join(logdir, rundir.EPISODES_DIR), read_only=True)
  return config, world_model, replay, prefix


def openloop_figure(logdir: str, stem: str, budget: str, sequences: int = 3,
                    seed: int = 0) -> List[str]:
  """Writes the open-loop figure of the run in `logdir` to `<stem>.{png,pdf}`."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  config, world_model, replay, latest = load_run(logdir)
  batch = replay.sample(sequences, config.chunk_length,
                        np.random.default_rng(seed))
  truth, model = world_model.openloop(batch['image'], batch['action'],
                                      config.openloop_context)
  episodes = rundir.read_metrics(logdir).rows
  title = (f'Open-loop prediction: {config.task}, {config.openloop_context} '
           f'context frames, then predicted from actions alone. Checkpoint '
           f'{os.path.basename(latest)} after {len(replay)} episodes '
           f"({len(episodes)} metrics rows).\n{logdir}\n"
           f'{common.budget_label(budget)}')
  figure = pictures.openloop_figure(truth.numpy(), model.numpy(),
                                   config.openloop_context, title)
  return plotting.save_figure(figure, stem)


def _logdir_and_budget(FLAGS) -> tuple:
  if FLAGS.logdir:
    spec = common.read_run_spec(FLAGS.logdir) or {}
    fallback = FLAGS.budget if FLAGS['budget'].present else 'unknown'
    return FLAGS.logdir, spec.get('budget', fallback), None
  run = common.Run(FLAGS.task, FLAGS.seed, tuple(FLAGS.preset), FLAGS.budget)
  return run.logdir(FLAGS.runs_dir), FLAGS.budget, run


def main(argv) -> Optional[int]:
  FLAGS = flags.FLAGS
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  logdir, budget, _ = _logdir_and_budget(FLAGS)
  try:
    stored = rundir.read_config(logdir) or {}
  except rundir.RunDirError as error:
    sys.exit(f'Error: {error}')
  task = stored.get('task', FLAGS.task)
  stem = os.path.join(FLAGS.results_dir,
                      common.output_name(f'openloop_{task}', budget))
  print(f'Restoring {logdir} ...', flush=True)
  try:
    paths = openloop_figure(logdir, stem, budget, FLAGS.sequences)
  except (ValueError, rundir.RunDirError) as error:  # No checkpoint, no run.
    sys.exit(f'Error: {error}')
  print('Wrote ' + ', '.join(paths), flush=True)
  return 0


def define_flags() -> None:
  flags.DEFINE_string('logdir', None, 'A run directory; overrides the run '
                      'named by --task, --seed, --preset, --budget.')
  flags.DEFINE_string('task', 'cheetah_run', 'Task of the run.')
  flags.DEFINE_integer('seed', 1, 'Seed of the run.')
  flags.DEFINE_list('preset', ['rssm'], 'Variant presets of the run.')
  flags.DEFINE_enum('budget', 'paper', list(common.BUDGETS), 'Budget of the run.')
  flags.DEFINE_string('runs_dir', 'runs', 'Root of the run directories.')
  flags.DEFINE_string('results_dir', 'results', 'Where the figure goes.')
  flags.DEFINE_integer('sequences', 3, 'Sequences to show.')


if __name__ == '__main__':
  os.environ.setdefault('MUJOCO_GL', 'egl')
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  define_flags()
  app.run(main)
