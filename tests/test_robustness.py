"""Crash safety and bad input: kills, corrupt files, NaN losses, locks,
full disks, determinism (issue 3)."""

import glob
import logging
import os
import resource
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from planet_tf import components, learner, replay, rundir, training
from planet_tf.checkpoint import Checkpoints
from planet_tf.world_model import WorldModel


def _rows(logdir):
  return rundir.read_metrics(logdir).rows


@pytest.fixture
def run_fake(fake_env):
  """Trains (or resumes) a run on the fake environment."""
  return lambda config, logdir: components.build_trainer(
      config, logdir, fake_env).run()


def _episode_files(logdir):
  return sorted(os.listdir(os.path.join(logdir, 'episodes')))


def _partial_files(logdir):
  """Temporary files outside `discarded/` (none may survive a run)."""
  found = []
  for directory, names, files in os.walk(logdir):
    if rundir.DISCARDED in names:
      names.remove(rundir.DISCARDED)
    found += [os.path.join(directory, n) for n in files + names
              if n.endswith(('.tmp', '_temp')) or '.tempstate' in n]
  return found


def _checkpoint_counters(logdir):
  prefix = os.path.join(logdir, 'checkpoints', f'ckpt-{max(_numbers(logdir))}')
  reader = tf.train.load_checkpoint(prefix)
  value = lambda name: int(reader.get_tensor(f'{name}/.ATTRIBUTES/VARIABLE_VALUE'))
  return value('episodes'), value('env_steps'), value('skipped_updates')


def _numbers(logdir):
  return Checkpoints(None, os.path.join(logdir, 'checkpoints'),
                            logdir).numbers()


def _assert_consistent(logdir, episodes, config):
  """Files, rows and checkpoint counters agree after `episodes` episodes."""
  steps = config.episode_length // 4  # cheetah: action repeat 4.
  assert _episode_files(logdir) == [f'{i:06d}-{steps}.npz' for i in range(episodes)]
  for name in _episode_files(logdir):
    replay.load_episode(os.path.join(logdir, 'episodes', name))  # Not truncated.
  rows = _rows(logdir)
  assert [r['episode'] for r in rows] == list(range(1, episodes + 1))
  for r in rows:
    trained = max(0, r['episode'] - config.seed_episodes)
    assert r['updates'] == trained * config.collect_interval, r
    assert r['env_steps'] == r['episode'] * config.episode_length
  assert max(_numbers(logdir)) == episodes
  assert _checkpoint_counters(logdir) == (
      episodes, episodes * config.episode_length, 0)
  assert not _partial_files(logdir)
  for path in glob.glob(os.path.join(logdir, 'discarded', 'episodes', '*')):
    replay.load_episode(path)  # Moved aside whole, never lost or truncated.


# Crashes: SIGKILL at several points of a CLI run, then the same command.

@pytest.fixture
def kill_values(tiny):
  """The tiny config of the CLI runs that these tests kill."""
  return dict(tiny, total_episodes=4, test_episodes=0)


def _command(logdir, values):
  return [sys.executable, '-m', 'planet_tf.train', f'--logdir={logdir}'] + [
      f'--{key}={value}' for key, value in values.items()]


def _writing(logdir):
  """True while an episode or checkpoint file is being written."""
  for sub in ('episodes', 'checkpoints'):
    directory = os.path.join(logdir, sub)
    if os.path.isdir(directory) and any(
        n.endswith(('.tmp', '_temp')) or '.tempstate' in n
        for n in os.listdir(directory)):
      return True
  return False


def _row_count(logdir):
  path = os.path.join(logdir, 'metrics.jsonl')
  return open(path).read().count('\n') if os.path.exists(path) else 0


def _kill_when(logdir, values, condition, delay=0.0, timeout=90.0):
  """Runs the CLI, SIGKILLs it `delay` seconds after `condition(logdir)`
  holds (polled every millisecond); returns whether the condition was met
  before the run ended."""
  process = subprocess.Popen(_command(logdir, values), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
  deadline = time.time() + timeout
  try:
    while process.poll() is None and time.time() < deadline:
      if condition(logdir):
        time.sleep(delay)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        return True
      time.sleep(0.001)
    return False
  finally:
    if process.poll() is None:
      process.kill()
      process.wait()


def _finish(logdir, values):
  result = subprocess.run(_command(logdir, values), capture_output=True, text=True,
                          timeout=240)
  assert result.returncode == 0, result.stderr[-3000:]
  return result.stderr


def test_sigkill_during_collection_and_updates_then_rerun(tmp_path, tiny_config,
                                                          kill_values):
  logdir = str(tmp_path / 'run')
  # Right after the first episode file appears: before its row or checkpoint.
  assert _kill_when(logdir, kill_values, lambda d: os.path.isdir(os.path.join(d, 'episodes'))
                    and _episode_files(d))
  # During the first updates (tracing and running the train step).
  assert _kill_when(logdir, kill_values, lambda d: _row_count(d) >= 2,
                    delay=1.0)
  log = _finish(logdir, kill_values)
  assert 'Restored checkpoint' in log
  _assert_consistent(logdir, 4, tiny_config.replace(**kill_values))


def test_sigkill_while_writing_files_then_rerun(tmp_path, tiny_config,
                                                kill_values):
  logdir = str(tmp_path / 'run')
  # While an episode or checkpoint file is being written, as early as seen,
  # then again once training has begun. Polling can miss the short writes:
  # a miss lets the run end early, so at least one hit is required.
  hits = [_kill_when(logdir, kill_values, _writing),
          _kill_when(logdir, kill_values,
                     lambda d: _row_count(d) >= 3 and _writing(d))]
  assert any(hits), hits
  _finish(logdir, kill_values)
  _assert_consistent(logdir, 4, tiny_config.replace(**kill_values))


# Corrupt files.

def test_corrupt_episode_and_checkpoint_are_moved_aside(tmp_path, tiny_config,
                                                         caplog, fake_env):
  logdir = str(tmp_path / 'run')
  tiny_config = tiny_config.replace(test_episodes=0)
  # 3 episodes, checkpoints 1..3.
  components.build_trainer(tiny_config, logdir, fake_env).run()
  episode = os.path.join(logdir, 'episodes', '000001-10.npz')
  with open(episode, 'r+b') as file:
    file.truncate(500)
  data = glob.glob(os.path.join(logdir, 'checkpoints', 'ckpt-3.data*'))[0]
  with open(data, 'r+b') as file:
    file.truncate(1000)
  with caplog.at_level(logging.WARNING):
    trainer = components.build_trainer(
        tiny_config.replace(total_episodes=4), logdir, fake_env)
  messages = caplog.text
  assert 'Corrupt checkpoint' in messages and 'ckpt-3' in messages
  assert 'Corrupt episode file' in messages and '000001-10.npz' in messages
  # Fell back to checkpoint 2: episode 2 (index 2) is beyond it, 1 is corrupt.
  assert int(trainer.episodes_done) == 2 and len(trainer.replay) == 1
  trainer.run()
  assert _episode_files(logdir) == ['000000-10.npz', '000002-10.npz',
                                    '000003-10.npz']
  assert sorted(os.listdir(os.path.join(logdir, 'discarded', 'episodes'))) == [
      '000001-10.npz', '000002-10.npz']
  assert os.listdir(os.path.join(logdir, 'discarded', 'checkpoints'))
  assert [r['episode'] for r in _rows(logdir)] == [1, 2, 3, 4]
  assert max(_numbers(logdir)) == 4


def test_unreadable_only_checkpoint_refuses_with_its_name(tmp_path, tiny_config,
                                                          run_fake, fake_env):
  logdir = str(tmp_path / 'run')
  run_fake(tiny_config.replace(total_episodes=2), logdir)
  for number in _numbers(logdir):
    with open(os.path.join(logdir, 'checkpoints', f'ckpt-{number}.index'),
              'r+b') as file:
      file.truncate(40)
  with pytest.raises(rundir.RunDirError, match=r'No checkpoint .* reads back'
                     r'(.|\n)*ckpt-1'):
    components.build_trainer(tiny_config, logdir, fake_env)


# Non-finite losses.

def _batch(rewards_nan=False):
  rng = np.random.default_rng(0)
  rewards = rng.uniform(0, 1, (3, 6)).astype(np.float32)
  if rewards_nan:
    rewards[0, 3] = np.nan
  return (rng.integers(0, 256, (3, 6, 64, 64, 3)).astype(np.uint8),
          rng.uniform(-1, 1, (3, 6, 6)).astype(np.float32), rewards)


def test_train_step_skips_nonfinite_updates(tiny_config):
  wm = WorldModel(tiny_config, action_size=6)
  optimizer = learner.make_optimizer(tiny_config)
  step = learner.make_train_step(wm, optimizer, tiny_config)
  before = [v.numpy().copy() for v in wm.trainable_variables]
  metrics = step(*_batch(rewards_nan=True))
  assert not bool(metrics['finite']) and not np.isfinite(float(metrics['loss']))
  assert int(optimizer.iterations) == 0
  assert all(np.array_equal(b, v.numpy())
             for b, v in zip(before, wm.trainable_variables))
  assert all(not np.any(v.numpy()) for v in optimizer.variables
             if 'momentum' in v.path or 'velocity' in v.path)
  assert bool(step(*_batch())['finite']) and int(optimizer.iterations) == 1


def test_nonfinite_limit_stops_the_run_keeping_the_last_checkpoint(
    tmp_path, tiny_config, run_fake):
  logdir = str(tmp_path / 'run')
  config = tiny_config.replace(max_nonfinite_updates=1, test_episodes=0)
  run_fake(config.replace(total_episodes=2), logdir)  # Seed episodes.
  for index in range(2):  # NaN rewards make every loss NaN.
    path = glob.glob(os.path.join(logdir, 'episodes', f'{index:06d}-*'))[0]
    episode = replay.load_episode(path)
    episode['reward'][1:] = np.nan
    replay.save_episode(os.path.join(logdir, 'episodes'), index, episode)
  with pytest.raises(training.NonFiniteError,
                     match=r'2 updates had a non-finite loss.*'
                     r'--max_nonfinite_updates=1.*checkpoint \(episode 2\)'):
    run_fake(config, logdir)
  assert _numbers(logdir)[-1] == 2 and len(_rows(logdir)) == 2
  assert _checkpoint_counters(logdir) == (2, 80, 0)
  assert len(_episode_files(logdir)) == 2


# Locks, unwritable directories, full disks.

def test_second_process_on_a_run_directory_is_refused(tmp_path, tiny_config,
                                                       fake_env):
  logdir = str(tmp_path / 'run')
  os.makedirs(logdir)
  held = rundir.lock(logdir)
  try:
    with pytest.raises(rundir.RunDirError,
                       match=f'Another process \\(PID {os.getpid()}\\)'):
      components.build_trainer(tiny_config, logdir, fake_env)
  finally:
    held.close()
  rundir.lock(logdir).close()  # Released: a later process gets it.


def test_unwritable_run_directory_is_a_clear_error(tmp_path, tiny_config):
  (tmp_path / 'file').write_text('not a directory')
  with pytest.raises(rundir.RunDirError, match='Cannot write to the run '
                     'directory .*file/run'):
    components.build_trainer(tiny_config, str(tmp_path / 'file' / 'run'))


def test_failed_atomic_write_leaves_nothing(tmp_path):
  path = str(tmp_path / 'out.bin')

  def write(file):
    file.write(b'half')
    raise OSError(28, 'No space left on device')

  with pytest.raises(OSError, match='No space left'):
    rundir.write_file_atomic(path, write)
  assert os.listdir(tmp_path) == []


def _limit_file_size(limit):
  def apply():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill.
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
  return apply


@pytest.mark.parametrize('limit,what', [(10_000, 'episode'),
                                        (200_000, 'checkpoint')])
def test_full_disk_is_a_clear_error_without_partial_files(tmp_path, limit, what,
                                                          kill_values):
  """Files over `limit` bytes fail to write, as on a full disk: an episode
  file (26 kB) or a checkpoint (430 kB) of the tiny config."""
  logdir = str(tmp_path / 'run')
  result = subprocess.run(_command(logdir, kill_values), capture_output=True,
                          text=True, timeout=120, preexec_fn=_limit_file_size(limit))
  assert result.returncode != 0
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith('Error:') and 'File too large' in last, last
  assert 'rerun the same command' in last
  assert not _partial_files(logdir)
  checkpoints = os.path.join(logdir, 'checkpoints')
  assert not os.path.isdir(checkpoints) or set(os.listdir(checkpoints)) <= {
      'config.json'}  # No checkpoint file; the config kept beside them.
  if what == 'episode':
    assert _episode_files(logdir) == []


# Determinism.

def test_same_seed_gives_same_first_losses_and_episode(tmp_path, tiny_config,
                                                       run_fake):
  config = tiny_config.replace(total_episodes=3, test_episodes=0)
  runs = []
  for name in ('a', 'b'):
    run_fake(config, str(tmp_path / name))
    episode = replay.load_episode(str(tmp_path / name / 'episodes' / '000002-10.npz'))
    runs.append((_rows(str(tmp_path / name))[2], episode))
  (row_a, episode_a), (row_b, episode_b) = runs
  for key in ('loss', 'image_nll', 'reward_nll', 'kl', 'grad_norm'):
    assert row_a[key] == row_b[key], key
  for key in replay.KEYS:
    np.testing.assert_array_equal(episode_a[key], episode_b[key])


def test_checkpoints_keep_three_and_remove_orphans_of_a_kill(tmp_path):
  variable = tf.Variable(0)
  store = Checkpoints(tf.train.Checkpoint(v=variable),
                             str(tmp_path / 'checkpoints'), str(tmp_path))
  (tmp_path / 'checkpoints' / 'ckpt-1.data-00000-of-00001').write_bytes(b'x')
  for number in range(2, 6):
    variable.assign(number)
    store.save(number)
  assert store.numbers() == [3, 4, 5]
  assert len(os.listdir(tmp_path / 'checkpoints')) == 6  # Index + data each.
  variable.assign(0)
  assert store.restore_latest() == 5 and int(variable) == 5
