"""Open-loop video prediction figure from a trained run's last checkpoint.

  python reproduce/openloop.py --task=cheetah_run --seed=1     # runs/paper/rssm/...
  python reproduce/openloop.py --logdir=runs/cpu/rssm/cheetah_run/seed1

Restores the world model, samples sequences from the run's replay, filters
`openloop_context` frames (config.json) and predicts the rest from the
actions alone (`WorldModel.openloop`). Rows: true frames, then the model's;
the red frame is the first predicted one. Writes
results/openloop_<task>[_<budget>].{png,pdf}.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import List, Optional

if __package__ in (None, ''):  # Run as a script: make `reproduce` importable.
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # pylint: disable=wrong-import-position

from reproduce import common, plotting  # pylint: disable=wrong-import-position


def load_world_model(logdir: str):
  """The run's config and its world model restored from the last checkpoint."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from planet_tf import training  # pylint: disable=import-outside-toplevel
  from planet_tf.config import Config  # pylint: disable=import-outside-toplevel
  from planet_tf.replay import Replay  # pylint: disable=import-outside-toplevel
  from planet_tf.world_model import WorldModel  # pylint: disable=import-outside-toplevel
  stored = common.read_config(logdir)
  checkpoint_dir = os.path.join(logdir, 'checkpoints')
  latest = tf.train.latest_checkpoint(checkpoint_dir)
  if stored is None or latest is None:
    raise ValueError(f'{logdir} holds no trained run (config.json and a '
                     'checkpoint); train it first, e.g. with '
                     'reproduce/table1.py or python -m planet_tf.train.')
  fields = {f.name for f in dataclasses.fields(Config)}
  config = Config.from_dict({k: v for k, v in stored.items() if k in fields})
  replay = Replay(os.path.join(logdir, 'episodes'))
  if not len(replay):
    raise ValueError(f'{logdir}/episodes holds no episodes.')
  world_model = WorldModel(config, replay.episodes[0]['action'].shape[-1])
  # The same object graph as training.Trainer's checkpoint: some weights are
  # reachable there only through the optimizer's list of variables.
  optimizer = training.make_optimizer(config)
  optimizer.build(world_model.trainable_variables)
  checkpoint = tf.train.Checkpoint(optimizer=optimizer, **world_model.layers)
  checkpoint.restore(latest).expect_partial().assert_existing_objects_matched()
  return config, world_model, replay, latest


def openloop_figure(logdir: str, stem: str, budget: str, sequences: int = 3,
                    seed: int = 0) -> List[str]:
  """Writes the open-loop figure of the run in `logdir` to `<stem>.{png,pdf}`."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  config, world_model, replay, latest = load_world_model(logdir)
  batch = replay.sample(sequences, config.chunk_length,
                        np.random.default_rng(seed))
  truth, model = world_model.openloop(batch['image'], batch['action'],
                                      config.openloop_context)
  episodes = common.read_metrics(logdir)
  title = (f'Open-loop prediction: {config.task}, {config.openloop_context} '
           f'context frames, then predicted from actions alone. Checkpoint '
           f'{os.path.basename(latest)} after {len(replay)} episodes '
           f"({len(episodes)} metrics rows).\n{logdir}\n"
           f'{common.budget_label(budget)}')
  return plotting.plot_openloop(truth.numpy(), model.numpy(),
                                config.openloop_context, title, stem)


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
  stored = common.read_config(logdir) or {}
  task = stored.get('task', FLAGS.task)
  stem = os.path.join(FLAGS.results_dir,
                      common.output_name(f'openloop_{task}', budget))
  print(f'Restoring {logdir} ...', flush=True)
  try:
    paths = openloop_figure(logdir, stem, budget, FLAGS.sequences)
  except ValueError as error:
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
