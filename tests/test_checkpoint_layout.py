"""Checkpoints written by commit 56955ed (a long sweep's runs) still restore:
the debug model's checkpoint variables, names and shapes, are pinned."""

import json
import os

import tensorflow as tf

from planet_tf import config as config_lib
from planet_tf import learner
from planet_tf.checkpoint import training_checkpoint
from planet_tf.world_model import WorldModel

LAYOUT = os.path.join(os.path.dirname(__file__), 'checkpoint_layout_debug.json')
SUFFIX = '/.ATTRIBUTES/VARIABLE_VALUE'


def _written_layout(directory):
  """The weights and Adam state of a fresh debug-preset training
  checkpoint, as tf.train.list_variables reads them back."""
  c = config_lib.for_device(
      config_lib.resolve(['debug'], dict(task='cartpole_swingup')))
  world_model = WorldModel(c, 1)
  optimizer = learner.make_optimizer(c)
  optimizer.build(world_model.trainable_variables)
  counter = lambda: tf.Variable(0, dtype=tf.int64, trainable=False)
  checkpoint = training_checkpoint(world_model, optimizer, dict(
      episodes=counter(), env_steps=counter()))
  prefix = checkpoint.write(os.path.join(directory, 'ckpt-1'))
  return {name[:-len(SUFFIX)]: shape
          for name, shape in tf.train.list_variables(prefix)
          if name.startswith(('weights/', 'optimizer/'))}


def test_debug_model_checkpoint_variables_are_those_of_56955ed(tmp_path):
  expected = json.load(open(LAYOUT))['variables']
  written = _written_layout(str(tmp_path))
  assert sorted(set(expected) - set(written)) == []  # Names 56955ed wrote.
  assert sorted(set(written) - set(expected)) == []
  for name, shape in expected.items():
    assert written[name] == shape, name
  assert len(expected) == 115  # 38 weights, 2 x 38 Adam moments, iterations.
