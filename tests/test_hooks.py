"""The training loop's observers (`planet_tf.hooks`), each alone, and the
composition root's seams: where hooks run in the commit protocol, and a
part swapped by passing one object (issue 29)."""

import logging
import os

import numpy as np
import tensorflow as tf

from planet_tf import components, hooks, rundir, training, video
from planet_tf.checkpoint import Checkpoints
from planet_tf.replay import Replay, recover_episodes
from planet_tf.world_model import WorldModel


def _episode(steps=10, seed=0):
  rng = np.random.default_rng(seed)
  episode = {'image': rng.integers(0, 256, (steps + 1, 64, 64, 3), np.uint8),
             'action': rng.uniform(-1, 1, (steps + 1, 6)).astype(np.float32),
             'reward': rng.uniform(0, 1, steps + 1).astype(np.float32)}
  episode['action'][0], episode['reward'][0] = 0, 0  # Index convention.
  return episode


def _events(logdir):
  """tag -> steps of the summaries in `logdir/tb`."""
  found = {}
  directory = os.path.join(logdir, rundir.TENSORBOARD_DIR)
  for name in os.listdir(directory):
    for event in tf.compat.v1.train.summary_iterator(
        os.path.join(directory, name)):
      for value in event.summary.value:
        found.setdefault(value.tag, []).append(event.step)
  return found


def _writer(logdir):
  return tf.summary.create_file_writer(
      os.path.join(logdir, rundir.TENSORBOARD_DIR))


def test_tensorboard_scalars_are_the_rows_numbers_at_its_env_step(tmp_path):
  logdir = str(tmp_path)
  hook = hooks.TensorBoardScalars(_writer(logdir))
  row = {'episode': 3, 'task': 'cheetah_run', 'env_steps': 120, 'loss': 2.5,
         'test_returns': [1.0]}
  hook.on_episode(training.EpisodeEnd(row, _episode()))
  assert _events(logdir) == {'env_steps': [120], 'loss': [120]}


def test_openloop_pictures_write_the_png_and_its_image(tmp_path, tiny_config):
  logdir = str(tmp_path)
  replay = Replay(str(tmp_path / 'episodes'))
  for index in range(2):
    replay.add(_episode(seed=index), index)
  hook = hooks.OpenLoopPictures(tiny_config, logdir,
                                WorldModel(tiny_config, 6), replay,
                                _writer(logdir))
  hook.on_test(training.TestPoint(rounds=3, env_steps=120, episodes={}))
  path = tmp_path / 'openloop' / 'episode_000003.png'
  picture = tf.io.decode_png(path.read_bytes()).numpy()
  assert picture.ndim == 3 and picture.std() > 0
  assert _events(logdir) == {'openloop': [120]}


def test_test_videos_show_the_first_tasks_first_episode(tmp_path):
  logdir = str(tmp_path)
  first, other = _episode(seed=1), _episode(seed=2)
  hooks.TestVideos(logdir, _writer(logdir)).on_test(training.TestPoint(
      rounds=6, env_steps=240, episodes={'a': [first, other], 'b': [other]}))
  name = os.path.basename(video.check_path(
      str(tmp_path / 'videos' / 'episode_000006.mp4')))
  assert os.listdir(tmp_path / 'videos') == [name]
  assert _events(logdir) == {'test_video': [240]}


def test_console_line_has_the_eta_once_a_planned_episode_was_timed(
    tmp_path, tiny_config, caplog):
  metrics = rundir.MetricsLog(str(tmp_path))
  hook = hooks.ConsoleLines(tiny_config.replace(test_episodes=0), metrics)
  rows = [{'episode': 1, 'task': 'cheetah_run', 'env_steps': 40,
           'train_return': 1.0, 'train_seconds': 0.0, 'collect_seconds': 1.0},
          {'episode': 2, 'task': 'cheetah_run', 'env_steps': 80,
           'train_return': 2.0, 'loss': 3.0, 'image_nll': 2.0,
           'reward_nll': 0.1, 'train_seconds': 4.0, 'collect_seconds': 6.0}]
  with caplog.at_level(logging.INFO):
    for row in rows:
      metrics.append(row)
      hook.on_episode(training.EpisodeEnd(row, _episode()))
  lines = [r.getMessage() for r in caplog.records if 'episode ' in
           r.getMessage()]
  assert lines[0].startswith('episode 1/3') and 'ETA' not in lines[0]
  assert lines[1].startswith('episode 2/3') and 'ETA' in lines[1]
  assert hook.eta(2) == 10.0  # One episode left at 4 + 6 seconds.


class _Recorder(training.Hook):
  """Records what the run directory holds when each hook call comes."""

  def __init__(self, logdir):
    self.logdir, self.calls = logdir, []

  def _state(self):
    checkpoints = Checkpoints(
        None, os.path.join(self.logdir, 'checkpoints'), self.logdir)
    return (len(rundir.read_metrics(self.logdir).rows),
            max(checkpoints.numbers(), default=0))

  def on_test(self, point):
    self.calls.append(('test', point.rounds, sorted(point.episodes),
                       self._state()))

  def on_episode(self, end):
    self.calls.append(('episode', end.row['episode'], self._state()))


def test_hooks_run_after_the_row_before_the_checkpoint(tmp_path, tiny_config,
                                                       fake_env):
  logdir = str(tmp_path / 'run')
  recorders = []

  def make_hooks(trainer):
    recorders.append(_Recorder(trainer.logdir))
    return recorders

  components.build_trainer(tiny_config, logdir, fake_env,
                           make_hooks=make_hooks).run()
  assert recorders[0].calls == [
      ('episode', 1, (1, 0)), ('episode', 2, (2, 1)),
      ('test', 3, ['cheetah_run'], (2, 2)), ('episode', 3, (3, 2))]
  # Only the hooks observe: without the default ones, no tb/ or pictures.
  assert not {'tb', 'openloop'} & set(os.listdir(logdir))


def test_a_replay_is_swapped_by_passing_one_factory(tmp_path, tiny_config,
                                                    fake_env):
  made = []

  class CountingReplay(Replay):
    def sample(self, *args, **kwargs):
      made[-1] += 1
      return super().sample(*args, **kwargs)

  def make_replay(config, logdir, episodes, action_size):
    made.append(0)
    directory = os.path.join(logdir, rundir.EPISODES_DIR)
    return CountingReplay(directory, recover_episodes(
        directory, logdir, limit=episodes))

  config = tiny_config.replace(test_episodes=0)
  trainer = components.build_trainer(config, str(tmp_path), fake_env,
                                     make_replay=make_replay)
  assert isinstance(trainer.replay, CountingReplay)
  trainer.run()
  assert made == [config.collect_interval]  # The one update round's batches.
