"""Table 1's 'CEM + true simulator': planning on the real simulator.

A separate program from training: CEM with the run's H, I, J and K evaluates
its candidates on copies of the task's physics state (`envs.DMControlEnv.plan`),
with the action repeat and the task's own reward. Nothing is learned. The
run directory gets its config and one metrics row (episode 0: no collected
data) holding the noise-free test returns.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
from absl import logging

from planet_tf import config as config_lib
from planet_tf import driver, rundir
from planet_tf.config import Config


def evaluate(config: Config, logdir: str) -> None:
  """Runs `config.test_episodes` test episodes planned on the simulator and
  writes their returns to `logdir` (nothing to do if they are there)."""
  config_lib.validate(config)
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
      for j in range(config.test_episodes):
        seed = driver.episode_seed(config, driver.Phase.TEST, 0, 0, j)
        plan_seeds = itertools.count(seed)
        plan = lambda _: env.plan(
            horizon=config.horizon, iterations=config.iterations,
            candidates=config.candidates, top_k=config.top_k,
            std_estimator=config.cem_std, seed=next(plan_seeds))
        episode = driver.run_episode(env, plan, seed)
        returns.append(float(episode['reward'].sum()))
        logging.info('true simulator: test episode %d/%d return %.1f',
                     j + 1, config.test_episodes, returns[-1])
    finally:
      env.close()
    metrics.append({'episode': 0, 'env_steps': 0, 'updates': 0,
                    'test_return': float(np.mean(returns)),
                    'test_returns': returns,
                    'test_seconds': time.time() - start})
