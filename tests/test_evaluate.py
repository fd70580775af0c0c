"""`python -m planet_tf.evaluate` and episode videos (issue 30): a tiny
trained run evaluated for two episodes, the returns replayed through the
driver, the JSON and the video checked, the run directory untouched; the
bad-input lines; the training loop's test-point video."""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest

from planet_tf import driver, progress, video
from planet_tf.driver import Phase


@pytest.fixture(scope='module')
def run(tmp_path_factory, tiny_config):
  """A tiny run trained for 3 episodes (real cheetah_run, a test at 3)."""
  from planet_tf import components
  logdir = str(tmp_path_factory.mktemp('run'))
  components.train(tiny_config, logdir)
  return logdir


def _digest(directory):
  """path -> sha256 of every file below `directory`."""
  found = {}
  for root, _, names in os.walk(directory):
    for name in names:
      path = os.path.join(root, name)
      with open(path, 'rb') as file:
        found[os.path.relpath(path, directory)] = hashlib.sha256(
            file.read()).hexdigest()
  return found


def _evaluate(*args):
  return subprocess.run([sys.executable, '-m', 'planet_tf.evaluate', *args],
                        capture_output=True, text=True, timeout=300)


def _first_frame(config, seed):
  env = driver.make_env(config, config.task)
  try:
    return env.reset(seed)
  finally:
    env.close()


def _downscale(frame):
  """A video frame's 256 x 256 block back to 64 x 64 (block means)."""
  return frame.reshape(64, video.SCALE, 64, video.SCALE, 3).mean((1, 3))


def _assert_same_frame(decoded, frame):
  """Equal up to the MP4 codec's error, and far from another frame."""
  error = np.abs(_downscale(decoded) - frame.astype(np.float64)).mean()
  assert error < 3.0, error


def test_evaluate_two_episodes_replays_through_the_driver(run, tmp_path,
                                                          tiny_config):
  before = _digest(run)
  movie, result_path = str(tmp_path / 'eval.mp4'), str(tmp_path / 'eval.json')
  still = str(tmp_path / 'strip.png')
  result = _evaluate(f'--logdir={run}', '--episodes=2', '--horizon=2',
                     f'--video={movie}', f'--json={result_path}',
                     f'--strip={still}')
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'planner differs from the run: horizon 3 -> 2' in result.stdout
  assert 'cheetah_run: mean ' in result.stdout
  assert _digest(run) == before, 'the run directory is untouched'

  stored = json.load(open(result_path))
  assert set(stored) == {'logdir', 'checkpoint', 'checkpoint_episodes',
                         'episodes', 'seed', 'overrides', 'tasks', 'video',
                         'strip'}
  assert stored['checkpoint_episodes'] == 3 and stored['episodes'] == 2
  assert stored['overrides'] == {'horizon': [3, 2]}
  scores = stored['tasks']['cheetah_run']
  assert set(scores) == {'returns', 'mean', 'std', 'min', 'max', 'seeds'}
  assert len(set(scores['returns'])) == 2  # Two distinct episodes.
  np.testing.assert_allclose(
      [scores['mean'], scores['std'], scores['min'], scores['max']],
      [np.mean(scores['returns']), np.std(scores['returns']),
       min(scores['returns']), max(scores['returns'])])

  # The same seeds replayed through the driver, with the same planner seed.
  import keras
  from planet_tf import checkpoint
  from planet_tf.agent import Agent
  config, world_model, _ = checkpoint.load_world_model(run)
  config = config.replace(horizon=2)
  seeds = [driver.episode_seed(config, Phase.EVALUATE, 0, 0, j)
           for j in range(2)]
  assert scores['seeds'] == seeds
  keras.utils.set_random_seed(driver.episode_seed(config, Phase.EVALUATE, 0, 0))
  agent = Agent(world_model, config)
  agent.reset(2)
  environments = [driver.make_env(config, config.task) for _ in seeds]
  try:
    episodes = driver.run_episodes(
        environments, lambda images: agent.act(images, explore=False), seeds)
  finally:
    for env in environments:
      env.close()
  assert scores['returns'] == [float(e['reward'].sum()) for e in episodes]

  frames = iio.imread(movie, index=None)
  steps = progress.agent_steps(config, config.task)
  size = 64 * video.SCALE
  assert frames.shape == (steps + 1, video.CAPTION + size,
                          2 * size + video.GAP, 3)
  _assert_same_frame(frames[0, video.CAPTION:, :size], episodes[0]['image'][0])
  _assert_same_frame(frames[0, video.CAPTION:, size + video.GAP:],
                     _first_frame(config, seeds[1]))
  far = np.abs(_downscale(frames[0, video.CAPTION:, :size]) -
               episodes[0]['image'][-1].astype(np.float64)).mean()
  assert far > 3.0  # The check above can tell frames apart.

  # The still: STRIP_FRAMES frames of the first episode, first and last
  # exact (PNG is lossless), the captions above them.
  image = iio.imread(still)
  count = video.STRIP_FRAMES
  assert image.shape == (video.CAPTION + size,
                         count * size + (count - 1) * video.GAP, 3)
  np.testing.assert_array_equal(image[video.CAPTION:, :size],
                                video.upscale(episodes[0]['image'][0]))
  np.testing.assert_array_equal(image[video.CAPTION:, -size:],
                                video.upscale(episodes[0]['image'][-1]))


def test_training_writes_a_video_of_the_first_test_episode(run, tiny_config):
  path = os.path.join(run, 'videos', 'episode_000003.mp4')
  frames = iio.imread(path, index=None)
  steps = progress.agent_steps(tiny_config, tiny_config.task)
  assert frames.shape == (steps + 1, video.CAPTION + 256, 256, 3)
  seed = driver.episode_seed(tiny_config, Phase.TEST, 3, 0, 0)
  _assert_same_frame(frames[0, video.CAPTION:], _first_frame(tiny_config, seed))
  assert not [n for n in os.listdir(os.path.dirname(path)) if n.endswith('.tmp')]


def test_video_model_puts_the_reconstruction_beside_each_frame(run, tmp_path):
  from planet_tf import evaluate
  result = evaluate.evaluate(run, episodes=1, video_path=str(tmp_path / 'm.gif'),
                             video_model=True, log=lambda _: None)
  frames = iio.imread(result['video'], index=None)
  assert frames.shape[1:] == (video.CAPTION + 256, 512, 3)
  assert frames[0, video.CAPTION:, 256:].std() > 0  # A picture, not black.


def test_bad_input_is_one_line(run, tmp_path):
  empty = tmp_path / 'empty'
  empty.mkdir()
  other = str(tmp_path / 'other')
  shutil.copytree(run, other)
  config = json.load(open(os.path.join(other, 'config.json')))
  config['model'] = 'rnn'
  with open(os.path.join(other, 'config.json'), 'w') as file:
    json.dump(config, file)
  cases = [
      ([f'--logdir={empty}'], 'holds no trained run'),
      ([f'--logdir={other}'], 'does not hold the model that'),
      ([f'--logdir={run}', '--checkpoint=7'], 'holds no checkpoint 7'),
      ([f'--logdir={run}', f'--video={tmp_path}/missing/x.mp4'],
       'does not exist; create it or pick another path'),
      ([f'--logdir={run}', f'--video={tmp_path}/x.avi'],
       'cannot encode .avi'),
      ([f'--logdir={run}', f'--strip={tmp_path}/x.jpg'], 'name a .png file'),
      ([f'--logdir={run}', f'--strip={tmp_path}/missing/x.png'],
       'does not exist; create it or pick another path'),
  ]
  for args, message in cases:
    result = _evaluate(*args)
    assert result.returncode != 0, args
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith('Error: ') and message in lines[-1], (
        args, result.stderr[-2000:])
    assert 'Traceback' not in result.stderr


def test_mp4_falls_back_to_gif_without_ffmpeg(tmp_path):
  assert video.check_path(str(tmp_path / 'a.mp4'), ffmpeg=False).endswith('a.gif')
  assert video.check_path(str(tmp_path / 'a.mp4'), ffmpeg=True).endswith('a.mp4')


@pytest.mark.parametrize('overrides', [
    dict(model='rnn'), dict(model='ssm'),
    dict(task='cheetah_run,cartpole_swingup', total_episodes=3)])
def test_every_model_and_multitask_runs_evaluate(tmp_path, tiny_config,
                                                 fake_env, overrides):
  from planet_tf import components, evaluate
  config = tiny_config.replace(**overrides)
  components.build_trainer(config, str(tmp_path), make_env=fake_env).run()
  result = evaluate.evaluate(str(tmp_path), episodes=2, make_env=fake_env,
                             video_path=str(tmp_path / 'v.mp4'),
                             log=lambda _: None)
  tasks = config.task.split(',')
  assert list(result['tasks']) == tasks  # Returns per task.
  assert all(len(result['tasks'][t]['returns']) == 2 for t in tasks)
  frames = iio.imread(result['video'], index=None)
  width = 2 * len(tasks) * 256 + (2 * len(tasks) - 1) * video.GAP
  assert frames.shape[2] == width
