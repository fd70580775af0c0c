"""Shared fixtures: a tiny but complete config that exercises the real code."""

import os

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


@pytest.fixture
def tiny_config():
  from planet_tf import config
  return config.resolve(['paper'], TINY)


@pytest.fixture(autouse=True)
def _seeded():
  """Every test starts from the same random state (Keras initialisers,
  NumPy, TensorFlow), whatever ran before it."""
  import keras
  keras.utils.set_random_seed(0)
