"""Faults a long run meets (issue 27): a run is never changed or discarded
quietly. Each test fails without its fix."""

import glob
import os

import pytest

from planet_tf import components, rundir


def _finished_run(tmp_path, tiny_config, fake_env):
  logdir = str(tmp_path / 'run')
  config = tiny_config.replace(test_episodes=0)
  components.build_trainer(config, logdir, fake_env).run()  # Checkpoints 1..3.
  return logdir, config


def _listing(logdir):
  return sorted(os.path.relpath(path, logdir) for path in glob.glob(
      os.path.join(logdir, '**'), recursive=True)
      if os.path.isfile(path) and not path.endswith('.lock'))


def test_mismatched_checkpoint_is_refused_and_left_in_place(
    tmp_path, tiny_config, fake_env):
  logdir, config = _finished_run(tmp_path, tiny_config, fake_env)
  # An old run (no stored config with its checkpoints) lost config.json.
  os.remove(os.path.join(logdir, rundir.CONFIG_FILE))
  os.remove(os.path.join(logdir, rundir.CHECKPOINT_CONFIG))
  before = _listing(logdir)
  with pytest.raises(rundir.RunDirError, match='does not match this model'):
    components.build_trainer(config.replace(deter_size=20), logdir, fake_env)
  assert _listing(logdir) == before  # Nothing moved to discarded/.
  trainer = components.build_trainer(config, logdir, fake_env)
  assert int(trainer.episodes_done) == 3  # The newest checkpoint.
  trainer.close()


def test_lost_config_json_is_checked_against_the_checkpoint_copy(
    tmp_path, tiny_config, fake_env):
  logdir, config = _finished_run(tmp_path, tiny_config, fake_env)
  os.remove(os.path.join(logdir, rundir.CONFIG_FILE))
  with pytest.raises(rundir.RunDirError, match=r'batch_size: 3 -> 2.*'
                     r'horizon: 3 -> 2.*checkpoints'):
    components.build_trainer(config.replace(batch_size=2, horizon=2), logdir,
                             fake_env)
  assert rundir.read_config(logdir) is None  # Nothing claimed.
  trainer = components.build_trainer(config, logdir, fake_env)
  trainer.close()
  # Restored: the config as the run resolved it ('auto' knobs as numbers).
  assert rundir.read_config(logdir) == trainer.config.to_dict()


def test_episodes_without_any_checkpoint_are_refused_not_discarded(
    tmp_path, tiny_config, fake_env):
  logdir, config = _finished_run(tmp_path, tiny_config, fake_env)
  for path in glob.glob(os.path.join(logdir, 'checkpoints', 'ckpt-*')):
    os.remove(path)
  before = _listing(logdir)
  with pytest.raises(rundir.RunDirError,
                     match=r'no checkpoint.*Restore the checkpoints.*new '
                     r'--logdir'):
    components.build_trainer(config, logdir, fake_env)
  assert _listing(logdir) == before
  assert not os.path.exists(os.path.join(logdir, rundir.DISCARDED))


def test_repeated_task_and_negative_action_repeat_are_one_line_each(
    tiny_config):
  from planet_tf import config as config_lib
  with pytest.raises(ValueError, match='more than once') as error:
    config_lib.validate(tiny_config.replace(
        task='cartpole_swingup,cartpole_swingup'))
  assert str(error.value).count('\n') == 1
  with pytest.raises(ValueError) as error:
    config_lib.validate(tiny_config.replace(action_repeat=-1))
  assert str(error.value).count('\n') == 1 and 'frames' not in str(error.value)


def test_help_says_action_repeat_zero_is_the_papers_value():
  from absl import flags
  from planet_tf import train
  values = flags.FlagValues()
  train.define_flags(values)
  assert "paper's action repeat" in values['action_repeat'].help


# Environment faults: a real environment child killed or frozen.

def _random_policy(action_size):
  import numpy as np
  rng = np.random.default_rng(0)
  return lambda frame: rng.uniform(-1, 1, action_size).astype(np.float32)


def _faulty(env, signum, times):
  """make_act for run_episode: the policy signals the child at its first
  step, on the first `times` tries."""
  tries = []

  def make_act():
    tries.append(1)
    act = _random_policy(env.action_size)
    if len(tries) > times:
      return act

    def faulty(frame):
      os.kill(env._process.pid, signum)  # pylint: disable=protected-access
      return act(frame)
    return faulty
  return make_act


@pytest.mark.parametrize('signum', ['SIGKILL', 'SIGSTOP'])
def test_dead_or_frozen_environment_is_replaced_and_episode_redone(
    signum, caplog):
  import signal
  import numpy as np
  from planet_tf import driver, env_process
  env = env_process.ProcessEnv('cartpole_swingup', 8, episode_length=40, timeout=3)
  try:
    clean = driver.run_episode(env, None, 5,
                               make_act=lambda: _random_policy(1))
    with caplog.at_level('WARNING'):
      redone = driver.run_episode(
          env, None, 5, make_act=_faulty(env, getattr(signal, signum), 1))
    assert ('exit code -9' if signum == 'SIGKILL' else 'did not answer') in (
        caplog.text)
    for key in clean:  # Redone from its seed with a fresh policy.
      np.testing.assert_array_equal(clean[key], redone[key])
    with pytest.raises(driver.EnvFailedError, match='rerun the same command'):
      driver.run_episode(env, None, 5, make_act=_faulty(
          env, getattr(signal, signum), driver.ENV_RETRIES + 1))
  finally:
    env.close()


class _KillingAgent:
  """The default agent, which SIGKILLs the child process of the last test
  environment at its first test step (once), recording the first frames of
  every test try."""

  def __init__(self, world_model, config):
    from planet_tf.agent import Agent
    self._agent = Agent(world_model, config)
    self.victim = None  # () -> the PID to kill, set once the run is built.
    self.first_frames, self._new, self.killed = [], False, False

  def reset(self, batch_size=1):
    self._agent.reset(batch_size)
    self._new = True

  def act(self, images, explore):
    import signal
    if not explore:
      if self._new:
        self.first_frames.append(images.copy())
        self._new = False
      if not self.killed:
        self.killed = True
        os.kill(self.victim(), signal.SIGKILL)
    return self._agent.act(images, explore)


def test_environment_killed_at_a_test_point_is_replaced_and_test_redone(
    tmp_path, tiny_config, caplog, metrics_rows):
  import numpy as np
  config = tiny_config.replace(total_episodes=1, seed_episodes=1,
                               test_every=1, test_episodes=2)
  agents = []

  def make_agent(world_model, config):
    agents.append(_KillingAgent(world_model, config))
    return agents[-1]

  trainer = components.build_trainer(config, str(tmp_path),
                                     make_agent=make_agent)
  test_envs = lambda: trainer.environments.test(config.task)
  # pylint: disable-next=protected-access
  agents[0].victim = lambda: test_envs()[-1]._env._process.pid
  with caplog.at_level('WARNING'):
    trainer.run()
  assert 'exit code -9' in caplog.text and '(1 of 3)' in caplog.text
  (row,) = metrics_rows(tmp_path)
  assert len(row['test_returns']) == 2  # The test point was redone whole,
  first, redone = agents[0].first_frames
  np.testing.assert_array_equal(first, redone)  # from the same seeds.

# A sweep killed hard leaves no run behind.

def test_sweep_killed_with_sigkill_takes_its_runs_along(tmp_path, tiny,
                                                       processes):
  import signal
  import subprocess
  import sys
  import time
  from planet_tf import runtime
  from reproduce import common
  overrides = [f'--{key}={value}' for key, value in
               dict(tiny, total_episodes=50).items() if key != 'task']
  sweep = subprocess.Popen(
      [sys.executable, os.path.join(common.REPO_ROOT, 'reproduce',
                                    'table1.py'),
       '--budget=debug', '--seeds=1', '--tasks=cheetah_run',
       f'--runs_dir={tmp_path / "runs"}', '--', *overrides],
      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path,
      env=runtime.child_env())
  tree = []
  try:
    deadline = time.time() + 60
    while len(tree) < 2:  # planet_tf.train and its environment process.
      assert time.time() < deadline and sweep.poll() is None
      time.sleep(1)
      tree = processes.descendants(sweep.pid)
    time.sleep(2)
    tree = processes.descendants(sweep.pid)
    sweep.kill()
    sweep.wait(timeout=10)
    deadline = time.time() + 30
    while [pid for pid in tree if processes.alive(pid)] and time.time() < deadline:
      time.sleep(0.5)
    assert [pid for pid in tree if processes.alive(pid)] == []
  finally:
    for pid in [sweep.pid] + tree:  # Only what this test started.
      if processes.alive(pid):
        os.kill(pid, signal.SIGKILL)


def test_openloop_on_a_run_without_checkpoints_is_one_line(tmp_path):
  import subprocess
  import sys
  from planet_tf import runtime
  from reproduce import common
  result = subprocess.run(
      [sys.executable, os.path.join(common.REPO_ROOT, 'reproduce',
                                    'openloop.py'),
       f'--runs_dir={tmp_path}', f'--results_dir={tmp_path / "out"}'],
      capture_output=True, text=True, timeout=120, env=runtime.child_env())
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1].startswith('Error: ')
  assert 'Traceback' not in result.stderr, result.stderr


def test_sigterm_to_a_training_run_prints_how_to_resume(tmp_path, tiny):
  import signal
  import subprocess
  import sys
  import time
  from planet_tf import runtime
  logdir = tmp_path / 'run'
  process = subprocess.Popen(
      [sys.executable, '-m', 'planet_tf.train', f'--logdir={logdir}',
       *[f'--{key}={value}' for key, value in
         dict(tiny, total_episodes=50).items()]],
      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
      env=runtime.child_env())
  try:
    deadline = time.time() + 60
    while not (logdir / 'metrics.jsonl').exists():  # Training is under way.
      assert time.time() < deadline and process.poll() is None
      time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
  finally:
    if process.poll() is None:
      process.kill()
  assert process.returncode == 143
  assert stderr.strip().splitlines()[-1] == (
      'interrupted: rerun the same command to resume.')


def test_a_renderer_that_cannot_render_is_one_line_before_any_file(tmp_path):
  # Issue 27, 10: libEGL is installed but no EGL vendor can be loaded; the
  # pre-check renders one frame in a child and stops in one line.
  import subprocess
  import sys
  logdir = tmp_path / 'run'
  env = dict(os.environ, MUJOCO_GL='egl',
             __EGL_VENDOR_LIBRARY_FILENAMES='/nonexistent.json')
  result = subprocess.run(
      [sys.executable, '-m', 'planet_tf.train', '--preset=debug',
       f'--logdir={logdir}'], env=env, capture_output=True, text=True,
      timeout=120)
  assert result.returncode == 1
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('Error: MUJOCO_GL=egl cannot '
                                                 'render here'), lines
  assert 'MUJOCO_GL=osmesa' in lines[0] and not logdir.exists()


def test_a_sweep_skips_or_waits_for_a_run_another_process_holds(tmp_path):
  # Issue 27, 7: not '[1/1] FAILED' but the PID that holds the directory.
  import threading
  from reproduce import launcher, processes
  from reproduce.common import Run
  from reproduce.outcomes import summarize
  runs_dir = str(tmp_path / 'runs')
  run = Run('cheetah_run', 1, ('paper',), 'debug')
  os.makedirs(run.logdir(runs_dir))
  held = rundir.lock(run.logdir(runs_dir))  # As a running training process.
  lines = []
  outcomes = launcher.launch_local([run], runs_dir, log=lines.append)
  assert [o.held_by for o in outcomes] == [str(os.getpid())]
  assert any(f'in use by PID {os.getpid()}' in line for line in lines)
  summary = summarize(outcomes)
  assert '0 were already finished' in summary and '0 failed' in summary
  assert f'(PID {os.getpid()})' in summary
  # --on_locked=wait: the run waits until the holder lets go.
  threading.Timer(0.5, held.close).start()
  waited = launcher._wait_for_lock(run.logdir(runs_dir), processes.Children(),
                                   lines.append, poll_seconds=0.1)
  assert waited and rundir.lock_holder(run.logdir(runs_dir)) is None
  assert lines[-1].endswith('waiting for it to end.')


def test_a_batch_that_does_not_fit_in_memory_is_one_line(tmp_path):
  # Issue 27, 9: 200,000 x 25 frames (61 GB) cannot be allocated on any
  # machine this runs on; NumPy refuses at once (no pages are touched).
  import subprocess
  import sys
  result = subprocess.run(
      [sys.executable, '-m', 'planet_tf.train', '--preset=debug',
       '--task=cartpole_swingup', '--chunk_length=25', '--batch_size=200000',
       '--test_episodes=0', f"--logdir={tmp_path / 'run'}"],
      capture_output=True, text=True, timeout=120)
  assert result.returncode == 1
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith('Error: out of host memory for a batch of '
                         '--batch_size=200000 x --chunk_length=25'), last
  assert 'Traceback' not in result.stderr


def test_a_smaller_batch_is_accepted_until_the_first_update(
    tmp_path, tiny_config, fake_env):
  # Issue 27, 9: a run that ran out of memory at its first update holds no
  # trained value: a rerun with a smaller batch resumes it; after an update
  # the same change is refused.
  logdir = str(tmp_path / 'run')
  seeds_only = tiny_config.replace(total_episodes=tiny_config.seed_episodes,
                                   test_episodes=0)
  components.build_trainer(seeds_only, logdir, fake_env).run()  # No update made.
  smaller = seeds_only.replace(total_episodes=seeds_only.seed_episodes + 1,
                               batch_size=seeds_only.batch_size - 1)
  trainer = components.build_trainer(smaller, logdir, fake_env)
  assert int(trainer.episodes_done) == seeds_only.seed_episodes
  trainer.run()  # Its first updates, at the smaller batch.
  assert rundir.read_config(logdir)['batch_size'] == smaller.batch_size
  with pytest.raises(rundir.RunDirError, match=r'batch_size: 2 -> 1'):
    components.build_trainer(smaller.replace(batch_size=1), logdir, fake_env)
