"""Scores a trained run again: python -m planet_tf.evaluate --logdir=RUN

Loads the run's newest checkpoint (or `--checkpoint=N`) read-only: no lock,
nothing written into the run directory unless a `--video` or `--json` path
points there. Plays `--episodes` noise-free episodes of every task of the
run, batched as test points are (`driver.run_episodes`), from seeds of the
`evaluate` phase (`driver.Phase.EVALUATE`), so they never repeat a training
or test episode; `--seed` picks another set. Prints the mean, std, min and
max of the returns per task. Planner flags apply to this evaluation only;
the output names those that differ from the run's config. `--video=PATH`
writes the episodes side by side (`planet_tf.video`); `--video_model` adds
the model's reconstruction beside each frame; `--strip=PATH.png` writes
a still of it: frames spread over the first episode of each task, a row per
task. Errors are one line.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Dict, List, Optional

import numpy as np
from absl import app, flags

from planet_tf import config as config_lib
from planet_tf import driver, env_checks, envs, rundir, runtime, video
from planet_tf.config import Config
from planet_tf.driver import Phase

PLANNER_FLAGS = ('candidates', 'horizon', 'iterations', 'planner')


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """The evaluation's flags."""
  flags.DEFINE_string('logdir', None, 'The run directory to evaluate.',
                      flag_values=flag_values)
  flags.DEFINE_integer('checkpoint', None, 'Checkpoint number (episodes); '
                       'default the newest.', flag_values=flag_values)
  flags.DEFINE_integer('episodes', 10, 'Episodes per task.',
                       flag_values=flag_values)
  flags.DEFINE_integer('seed', 0, 'Which set of evaluation seeds.',
                       flag_values=flag_values)
  flags.DEFINE_integer('candidates', None, "Planner J (default: the run's).",
                       flag_values=flag_values)
  flags.DEFINE_integer('horizon', None, "Planner H (default: the run's).",
                       flag_values=flag_values)
  flags.DEFINE_integer('iterations', None, "CEM iterations I (default: the "
                       "run's).", flag_values=flag_values)
  flags.DEFINE_enum('planner', None, ['cem', 'random_shooting'],
                    "Planner (default: the run's).", flag_values=flag_values)
  flags.DEFINE_string('video', None, 'Write the episodes as one video '
                      '(.mp4, or .gif).', flag_values=flag_values)
  flags.DEFINE_bool('video_model', False, "Put the model's reconstruction "
                    'beside each frame of the video.', flag_values=flag_values)
  flags.DEFINE_string('strip', None, 'Write a still (.png) of frames spread '
                      'over the first episode of each task.',
                      flag_values=flag_values)
  flags.DEFINE_string('json', None, 'Write the returns as JSON to this path.',
                      flag_values=flag_values)


def evaluation_config(config: Config, overrides: Dict[str, object]) -> Config:
  """The run's config with the planner overrides; random shooting is one
  iteration, as its preset says. Raises ValueError for an invalid result."""
  values = {k: v for k, v in overrides.items() if v is not None}
  if values.get('planner') == 'random_shooting':
    values.setdefault('iterations', 1)
  if 'candidates' in values:  # Keep K <= J as the run had it, at most J.
    values['top_k'] = min(config.top_k, values['candidates'])
  evaluated = config.replace(**values)
  config_lib.validate(evaluated)
  return evaluated


def differences(run: Config, evaluated: Config) -> Dict[str, list]:
  """key -> [run's value, evaluation's value] where they differ."""
  ours, theirs = evaluated.to_dict(), run.to_dict()
  return {key: [theirs[key], value] for key, value in sorted(ours.items())
          if theirs[key] != value}


def seeds(config: Config, seed: int, task_index: int, count: int) -> List[int]:
  """The environment seeds of evaluation episodes: phase EVALUATE."""
  return [driver.episode_seed(config, Phase.EVALUATE, seed, task_index, j)
          for j in range(count)]


def planner_seed(config: Config, seed: int, task_index: int) -> int:
  """The TensorFlow / NumPy seed a task's evaluation starts from."""
  return driver.episode_seed(config, Phase.EVALUATE, seed, task_index)


def play(world_model, config: Config, environments: List[object],
         episode_seeds: List[int], tf_seed: int, reconstruct: bool = False):
  """Noise-free planned episodes of `environments`, one batch; returns
  (episodes, reconstructions or None). A fresh agent from `tf_seed`, so the
  planner's random numbers repeat for the same seed."""
  # TensorFlow's modules: imported once `runtime` has prepared it.
  # pylint: disable=import-outside-toplevel
  import keras
  from planet_tf.agent import Agent
  from planet_tf.preprocess import postprocess
  keras.utils.set_random_seed(tf_seed)
  agent = Agent(world_model, config)
  agent.reset(len(environments))
  models: List[np.ndarray] = []

  def act(images: np.ndarray) -> np.ndarray:
    actions = agent.act(images, explore=False)
    if reconstruct:  # The decoder's mean of the belief that saw `images`.
      features = world_model.dynamics.features(agent.belief)
      models.append(postprocess(world_model.decoder.mean(features),
                                config.bit_depth).numpy())
    return actions

  episodes = driver.run_episodes(environments, act, episode_seeds)
  if not reconstruct:
    return episodes, None
  # The last frame is never observed: a black frame beside it.
  models.append(np.zeros_like(models[-1]))
  stacked = np.stack(models, 1)  # (N, T + 1, 64, 64, 3)
  return episodes, [stacked[i, :len(episode['image'])]
                    for i, episode in enumerate(episodes)]


def statistics(returns: List[float]) -> Dict[str, object]:
  """The returns with their mean, (population) std, min and max."""
  values = np.asarray(returns, np.float64)
  return {'returns': [float(v) for v in values], 'mean': float(values.mean()),
          'std': float(values.std()), 'min': float(values.min()),
          'max': float(values.max())}


def evaluate(logdir: str, checkpoint: Optional[int] = None, episodes: int = 10,
             seed: int = 0, overrides: Optional[Dict[str, object]] = None,
             video_path: Optional[str] = None, video_model: bool = False,
             strip_path: Optional[str] = None, make_env=driver.make_env,
             log=print) -> dict:
  """Evaluates the run in `logdir`; returns the JSON-ready result.

  Raises rundir.RunDirError, ValueError or video.VideoError naming the
  problem (all before any episode for bad input).
  """
  if episodes <= 0:
    raise ValueError(f'--episodes must be positive, got {episodes}.')
  if video_path:
    video_path = video.check_path(video_path)
  if strip_path:
    strip_path = video.check_image_path(strip_path)
  # pylint: disable-next=import-outside-toplevel
  from planet_tf import checkpoint as checkpoint_lib  # Imports TensorFlow.
  run_config, world_model, prefix = checkpoint_lib.load_world_model(
      logdir, checkpoint)
  config = evaluation_config(run_config, overrides or {})
  changed = differences(run_config, config)
  log(f'Evaluating {prefix}: {episodes} episode(s) per task, seed {seed}; '
      + ('planner differs from the run: ' + ', '.join(
          f'{k} {a} -> {b}' for k, (a, b) in changed.items())
         if changed else "the run's planner."))
  result = {'logdir': logdir, 'checkpoint': prefix,
            'checkpoint_episodes': int(prefix.rsplit('-', 1)[1]),
            'episodes': episodes, 'seed': seed, 'overrides': changed,
            'tasks': {}}
  panels, firsts = [], []
  for task_index, task in enumerate(config.tasks):
    environments = [envs.PaddedActions(make_env(config, task),
                                       world_model.action_size)
                    for _ in range(episodes)]
    try:
      task_seeds = seeds(config, seed, task_index, episodes)
      played, models = play(world_model, config, environments, task_seeds,
                            planner_seed(config, seed, task_index),
                            reconstruct=video_model)
    finally:
      for env in environments:
        env.close()
    stats = statistics([float(e['reward'].sum()) for e in played])
    result['tasks'][task] = dict(stats, seeds=task_seeds)
    log(f"{task}: mean {stats['mean']:.1f}, std {stats['std']:.1f}, min "
        f"{stats['min']:.1f}, max {stats['max']:.1f} over {episodes} "
        f"episode(s): {', '.join(f'{r:.1f}' for r in stats['returns'])}")
    if video_path or strip_path:
      several = len(config.tasks) > 1
      task_panels = [video.episode_panel(
          e['image'], e['reward'], f'{task} {j + 1}' if several else f'{j + 1}',
          None if models is None else models[j]) for j, e in enumerate(played)]
      panels += task_panels
      firsts.append(video.frame_strip(task_panels[0]))
  if strip_path:
    result['strip'] = video.write_image(strip_path, np.concatenate(firsts, 0))
    log(f"Wrote {result['strip']}")
  if video_path:
    written = video.write(video_path, video.side_by_side(panels))
    result['video'] = written
    log(f'Wrote {written}')
  return result


def main(argv) -> None:
  """Evaluates `--logdir`; one line on any bad input."""
  FLAGS = flags.FLAGS
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  if not FLAGS.logdir:
    sys.exit('Error: pass --logdir=<run directory> to evaluate.')
  if not os.path.isdir(FLAGS.logdir):
    sys.exit(f'Error: --logdir={FLAGS.logdir} is not a directory.')
  try:
    env_checks.check_rendering()
    if FLAGS.json:
      _check_writable(FLAGS.json)
    runtime.import_tensorflow_quietly()
    result = evaluate(
        FLAGS.logdir, FLAGS.checkpoint, FLAGS.episodes, FLAGS.seed,
        {key: FLAGS[key].value for key in PLANNER_FLAGS},
        FLAGS.video, FLAGS.video_model, FLAGS.strip)
    if FLAGS.json:
      rundir.write_atomic(FLAGS.json,
                          (json.dumps(result, indent=2) + '\n').encode())
      print(f'Wrote {FLAGS.json}')
  except (rundir.RunDirError, ValueError, OSError) as error:
    sys.exit('Error: ' + ' '.join(str(error).split()))
  except KeyboardInterrupt:
    sys.exit('interrupted.')


def _check_writable(path: str) -> None:
  directory = os.path.dirname(os.path.abspath(path))
  if not os.path.isdir(directory) or not os.access(directory, os.W_OK) or (
      os.path.isdir(path)):
    raise ValueError(f'--json={path}: cannot write there; pick another path.')


if __name__ == '__main__':
  define_flags()
  app.run(main)
