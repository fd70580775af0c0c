"""The composition root of a training run: `build_trainer` makes every part
`training.Trainer` runs on, restores them from the run directory, and adds
the hooks; `train` runs it (the CLI's entry, `planet_tf.train`).

Each part comes from a factory argument with the paper's default, so that
swapping one is passing one object:

    build_trainer(config, logdir, make_replay=MyReplay)
    build_trainer(config, logdir, make_agent=lambda wm, config: MyAgent(wm))
    build_trainer(config, logdir, make_hooks=lambda trainer:
                  hooks.default_hooks(trainer) + [MyHook()])

The order of construction is part of a run's reproducibility (the seed is
set before the first weight is made) and of its guarantees: the run
directory is locked and its config checked before anything is made, and
the config is stored only once the run started (environments made,
checkpoint restored, episode count within the budget).
"""

from __future__ import annotations

import contextlib
import os
from typing import Callable, List

import keras
from absl import logging

from planet_tf import config as config_lib
from planet_tf import driver, hooks, rundir, training
from planet_tf.agent import Agent
from planet_tf.checkpoint import Checkpoints, training_checkpoint
from planet_tf.config import Config
from planet_tf.learner import make_optimizer, make_train_step
from planet_tf.replay import Replay, recover_episodes
from planet_tf.world_model import WorldModel

# (config, task) -> an environment of that task (`env_process.ProcessEnv` interface).
EnvFactory = Callable[[Config, str], object]
# (config, logdir, episodes counted, action size) -> the run's replay.
ReplayFactory = Callable[[Config, str, int, int], Replay]


def load_replay(config: Config, logdir: str, episodes: int,
                action_size: int) -> Replay:
  """The episode files of `logdir` that the checkpoint counts (`episodes`);
  the others, and files of another frame or action size, are set aside
  first (`replay.recover_episodes`)."""
  size = config.image_size
  directory = os.path.join(logdir, rundir.EPISODES_DIR)
  return Replay(directory, recover_episodes(
      directory, logdir, limit=episodes, spec=((size, size, 3), action_size)))


def build_trainer(
    config: Config, logdir: str, make_env: EnvFactory = driver.make_env,
    make_world_model: Callable[[Config, int], object] = WorldModel,
    make_agent: Callable[[object, Config], object] = Agent,
    make_replay: ReplayFactory = load_replay,
    make_hooks: Callable[[training.Trainer], List[training.Hook]] = (
        hooks.default_hooks)) -> training.Trainer:
  """Validates, locks `logdir`, makes the parts and restores its latest good
  checkpoint. `make_env` defaults to DM Control in child processes; tests
  pass small fakes.

  Raises ValueError for a bad config, rundir.RunDirError if `logdir` is
  unwritable, locked by another process, holds another config, more
  episodes than `total_episodes` or unreadable checkpoints.
  """
  config_lib.validate(config)
  rundir.check_writable(logdir)
  config = config_lib.for_device(config)  # 'auto' knobs resolved.
  with contextlib.ExitStack() as cleanup:  # Undone if anything fails.
    cleanup.callback(rundir.lock(logdir).close)
    # Sizes may differ until the first update (checked again on restore).
    rundir.check_config(logdir, config, allow=rundir.UNTRAINED_CHANGES)
    for path in rundir.remove_partial_files(logdir):
      logging.info('Removed %s, left by an interrupted write.', path)
    # Seeds TensorFlow, NumPy and Python's `random`, which Keras 3 draws
    # unseeded initialisers from (`tf.random.set_seed` alone is not enough).
    keras.utils.set_random_seed(config.seed)
    environments = driver.Environments(config, make_env)
    cleanup.callback(environments.close)
    world_model = make_world_model(config, environments.action_size)
    optimizer = make_optimizer(config)
    train_step = make_train_step(world_model, optimizer, config)
    agent = make_agent(world_model, config)
    counters = training.Counters.zeros()
    checkpoints = Checkpoints(
        training_checkpoint(world_model, optimizer, counters.as_dict()),
        os.path.join(logdir, rundir.CHECKPOINTS_DIR), logdir, keep=3)
    metrics = rundir.MetricsLog(logdir)
    replay = training.resume(
        config, logdir, checkpoints, counters, optimizer,
        lambda episodes: make_replay(config, logdir, episodes,
                                     environments.action_size), metrics)
    if int(optimizer.iterations):  # Trained: no size may change now.
      rundir.check_config(logdir, config)
    rundir.store_config(logdir, config)
    rundir.store_spec(logdir, (config.image_size, config.image_size, 3),
                      environments.action_size)
    trainer = training.Trainer(
        config=config, logdir=logdir, environments=environments,
        world_model=world_model, optimizer=optimizer, train_step=train_step,
        agent=agent, replay=replay, checkpoints=checkpoints, metrics=metrics,
        counters=counters)
    trainer.hooks.extend(make_hooks(trainer))
    trainer.closer = cleanup.pop_all().close  # The trainer owns them now.
  return trainer


def train(config: Config, logdir: str) -> None:
  """Trains (or resumes) a PlaNet agent in `logdir`."""
  build_trainer(config, logdir).run()
