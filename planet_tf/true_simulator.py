"""Table 1's 'CEM + true simulator': planning on the real simulator.

  python -m planet_tf.true_simulator --task=cheetah_run --logdir=runs/sim

A program of its own, with train's flags and presets (`planet_tf.cli`; the
planner is the true simulator's, `--preset=true_simulator`), its errors and
its run-directory guarantees (lock, config check, atomic writes). The
agent's own CEM (`planning.cem`, with the run's H, I, J, K and sigma refit)
scores its candidates by their true returns from copies of the task's
physics state (`envs.DMControlEnv.candidate_returns`, in the environment's
process), with the action repeat and the task's own reward. Nothing is
learned. The run directory gets its config, a spec.json of kind
`rundir.TRUE_SIMULATOR` and one metrics row (episode 0: no collected data)
holding the noise-free test returns; a rerun finds them and does nothing.
`python -m planet_tf.train --preset=true_simulator` runs the same.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable, Sequence, Tuple

import numpy as np
from absl import app, logging

from planet_tf import cli, driver, rundir
from planet_tf import config as config_lib
from planet_tf.config import Config

if TYPE_CHECKING:
  from planet_tf import planning

# TensorFlow (and `planning`, which imports it) is imported where it is
# used, so that `python -m planet_tf.true_simulator` sets up the device
# first, as `planet_tf.train` does.


def simulator_returns(env) -> 'planning.Evaluate':
  """A planner's `evaluate` that scores candidates (1, J, H, A) by their
  true returns in `env` (no model, no reward function: both unused)."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  def evaluate(model, reward_fn, state, actions: tf.Tensor) -> tf.Tensor:
    del model, reward_fn, state
    return tf.constant(env.candidate_returns(actions[0].numpy()))[None]
  return evaluate


def simulator_policy(env, config: Config) -> Callable[[np.ndarray], np.ndarray]:
  """Plans each action with `planning.cem` on the true simulator (eager:
  each iteration's candidates go to the environment process)."""
  # pylint: disable-next=import-outside-toplevel
  import tensorflow as tf
  from planet_tf import planning  # pylint: disable=import-outside-toplevel
  # CEM plans for a batch of beliefs; here one, with nothing in it.
  no_belief = {'none': tf.zeros([1, 0])}
  evaluate = simulator_returns(env)

  def act(frame: np.ndarray) -> np.ndarray:
    del frame  # The simulator's state, not the frame, is planned from.
    return planning.cem(
        None, None, no_belief, action_size=env.action_size,
        horizon=config.horizon, iterations=config.iterations,
        candidates=config.candidates, top_k=config.top_k,
        std_estimator=config.cem_std, evaluate=evaluate)[0].numpy()
  return act


def check_planner(config: Config) -> None:
  """Raises ValueError naming the fix unless `config` plans on the true
  simulator (`rundir.run_kind`)."""
  if rundir.run_kind(config) != rundir.TRUE_SIMULATOR:
    raise ValueError(
        f'--planner={config.planner}: planet_tf.true_simulator plans on the '
        'true simulator only: drop --planner, or train with python -m '
        'planet_tf.train.')


def evaluate(config: Config, logdir: str) -> None:
  """Runs `config.test_episodes` test episodes planned on the simulator and
  writes their returns to `logdir` (nothing to do if they are there)."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  config_lib.validate(config)
  check_planner(config)
  rundir.check_writable(logdir)
  with rundir.lock(logdir):
    rundir.check_config(logdir, config)
    rundir.store_config(logdir, config)
    metrics = rundir.MetricsLog(logdir)
    if metrics.rows:
      logging.info('True-simulator evaluation already in %s.', logdir)
      return
    env = driver.make_env(config, config.task)
    start, returns = time.time(), []
    try:
      rundir.store_spec(logdir, (config.image_size, config.image_size, 3),
                        env.action_size, kind=rundir.TRUE_SIMULATOR)
      for j in range(config.test_episodes):
        seed = driver.episode_seed(config, driver.Phase.TEST, 0, 0, j)
        tf.random.set_seed(seed)  # Each episode's candidates from its seed.
        episode = driver.run_episode(env, simulator_policy(env, config), seed)
        returns.append(float(episode['reward'].sum()))
        logging.info('true simulator: test episode %d/%d return %.1f',
                     j + 1, config.test_episodes, returns[-1])
    finally:
      env.close()
    metrics.append({'episode': 0, 'env_steps': 0, 'updates': 0,
                    'test_return': float(np.mean(returns)),
                    'test_returns': returns,
                    'test_seconds': time.time() - start})


def _load() -> Tuple[cli.RunFunction, Tuple[type, ...]]:
  return evaluate, ()


def main(argv: Sequence[str]) -> None:
  """Resolves the config from the flags as `planet_tf.train` does, with the
  true simulator's planner, then runs `evaluate` (or prints the config)."""
  cli.main(argv, cli.Program(load=_load, presets=('true_simulator',),
                             check=check_planner))


if __name__ == '__main__':
  cli.define_flags()
  app.run(main)
