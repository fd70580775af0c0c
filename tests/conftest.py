"""Shared fixtures: a tiny but complete config that exercises the real code,
a small fake environment for tests of the training loop, a deterministic
mock latent model for planner tests, and the metrics rows of a run.

Real DM Control stays in the environment, end-to-end, CLI and crash tests.
"""

import os
import types

import numpy as np
import pytest

os.environ.setdefault('MUJOCO_GL', 'egl')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# As the entry points do (planet_tf/runtime.py): oneDNN kernels on.
os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')

TINY = dict(
    task='cheetah_run', episode_length=40, deter_size=16, stoch_size=4,
    hidden_size=16, cnn_depth=4, embed_size=32, reward_units=16,
    batch_size=3, chunk_length=6, seed_episodes=2, collect_interval=2,
    total_episodes=3, candidates=16, top_k=4, horizon=3, iterations=2,
    test_every=3, test_episodes=1, openloop_context=2, warmup_steps=0)


@pytest.fixture(autouse=True, scope='session')
def _tensorflow_configured():
  """As every entry point: memory growth on each GPU (xdist workers share
  one) and TF32 off, so that equivalence tests hold on Ampere and newer."""
  from planet_tf import runtime
  runtime.configure_tensorflow(allow_cpu=True, allow_tf32=False)


@pytest.fixture(autouse=True)
def _seeded():
  """Every test starts from the same random state (Keras initialisers,
  NumPy, TensorFlow), whatever ran before it."""
  import keras
  keras.utils.set_random_seed(0)


@pytest.fixture(scope='session')
def tiny():
  """The tiny config's values (for CLI flags and overrides), read-only."""
  return types.MappingProxyType(TINY)


@pytest.fixture(scope='session')
def tiny_config():
  from planet_tf import config
  # Resolved for this device, as a run's composition root does.
  return config.for_device(config.resolve(['paper'], TINY))


class FakeEnv:
  """A small stand-in for a pixel task: a point moved by the actions, drawn
  as a bright square; reward for staying near the centre. Episodes are
  determined by the reset seed and the actions. No MuJoCo, no process."""

  def __init__(self, action_size: int, steps: int):
    self.action_size = action_size
    self.steps = steps
    self.closed = False

  def reset(self, seed):
    self.rng = np.random.default_rng(seed)
    self.position = self.rng.uniform(-1, 1, 2)
    self.t = 0
    return self._frame()

  def step(self, action):
    action = np.clip(np.asarray(action, np.float64), -1, 1)
    self.position = np.clip(self.position + 0.2 * action[:2], -1, 1)
    self.t += 1
    reward = float(1 - np.abs(self.position).mean())
    return self._frame(), reward, self.t >= self.steps

  def _frame(self):
    frame = np.zeros((64, 64, 3), np.uint8)
    row, col = ((self.position + 1) * 28).astype(int)
    frame[row:row + 8, col:col + 8] = 255
    return frame

  def close(self):
    self.closed = True


@pytest.fixture(scope='session')
def fake_env():
  """An environment factory for `components.build_trainer(make_env=...)`:
  a FakeEnv with the task's action size (cartpole 1, the others 6) and the
  config's number of agent steps per episode."""
  from planet_tf import progress
  sizes = {'cartpole_swingup': 1}
  return lambda config, task: FakeEnv(sizes.get(task, 6),
                                      progress.agent_steps(config, task))


@pytest.fixture
def metrics_rows():
  """Reads a run's metrics rows (through the project's one reader)."""
  from planet_tf import rundir
  return lambda logdir: rundir.read_metrics(str(logdir)).rows


@pytest.fixture
def point_mass():
  """A deterministic mock latent model (the state is a position moved by
  the actions) and a reward peaking at TARGET = (0.6, -0.4)."""
  import tensorflow as tf
  from planet_tf.models.base import LatentModel

  class PointMass(LatentModel):
    stochastic = False

    def __init__(self):
      super().__init__(action_size=2, embed_size=1)
      self.batches = []  # The batch size of every transition.

    @property
    def state_sizes(self):
      return {'pos': 2}

    def img_step(self, state, action):
      self.batches.append(action.shape[0])
      return {'pos': state['pos'] + action}

    def features(self, state):
      return state['pos']

  target = np.array([0.6, -0.4], np.float32)
  reward_fn = lambda features: -tf.reduce_sum(tf.square(features - target), -1)
  return PointMass, reward_fn


def _descendants(pid):
  """Every live descendant of `pid` (Linux /proc)."""
  parents = {}
  for name in os.listdir('/proc'):
    if name.isdigit():
      try:
        with open(f'/proc/{name}/stat') as file:
          parent = int(file.read().rsplit(')', 1)[1].split()[1])
      except (OSError, ValueError, IndexError):
        continue
      parents.setdefault(parent, []).append(int(name))
  found, todo = [], [pid]
  while todo:
    children = parents.get(todo.pop(), [])
    found.extend(children)
    todo.extend(children)
  return found


def _alive(pid):
  """Whether `pid` runs (a zombie does not)."""
  try:
    with open(f'/proc/{pid}/stat') as file:
      return file.read().rsplit(')', 1)[1].split()[0] != 'Z'
  except OSError:
    return False


@pytest.fixture
def processes():
  """Process-tree helpers over /proc: descendants(pid), alive(pid)."""
  return types.SimpleNamespace(descendants=_descendants, alive=_alive)
