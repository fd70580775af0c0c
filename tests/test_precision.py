"""--mixed_precision: bfloat16 compute, float32 weights, states and losses."""

import keras
import numpy as np
import tensorflow as tf

from planet_tf import learner
from planet_tf.agent import Agent
from planet_tf.world_model import WorldModel


def _batch(config, action_size=6, seed=0):
  rng = np.random.default_rng(seed)
  shape = (config.batch_size, config.chunk_length)
  return (tf.constant(rng.integers(0, 256, shape + (64, 64, 3), dtype=np.uint8)),
          tf.constant(rng.uniform(-1, 1, shape + (action_size,)), tf.float32),
          tf.constant(rng.uniform(0, 1, shape), tf.float32))


def _sublayers(world_model):
  return [sub for layer in world_model.layers.values()
          for sub in layer._flatten_layers(include_self=False)
          if sub.weights]


def _copy_weights(source, target):
  target_weights = target.named_weights()
  for key, weight in source.named_weights().items():
    target_weights[key].assign(weight)


def test_mixed_precision_computes_in_bfloat16_with_float32_weights(tiny_config):
  mixed = WorldModel(tiny_config.replace(mixed_precision=True), 6)
  plain = WorldModel(tiny_config, 6)
  layers = _sublayers(mixed)
  assert len(layers) == len(_sublayers(plain)) > 10
  assert {layer.compute_dtype for layer in layers} == {'bfloat16'}
  assert {layer.compute_dtype for layer in _sublayers(plain)} == {'float32'}
  assert {w.dtype for w in mixed.named_weights().values()} == {'float32'}
  # The same weights under the same keys: checkpoints are interchangeable.
  assert ({k: tuple(w.shape) for k, w in mixed.named_weights().items()} ==
          {k: tuple(w.shape) for k, w in plain.named_weights().items()})

  images, actions, _ = _batch(tiny_config)
  x = tf.cast(images, tf.float32) / 255.0 - 0.5
  embed = mixed.encoder(x)
  post, prior = mixed.dynamics.observe(embed, actions)
  features = mixed.dynamics.features(post)
  outputs = [embed, features, mixed.decoder.mean(features),
             mixed.reward.mean(features), *post.values(), *prior.values()]
  assert {t.dtype for t in outputs} == {tf.float32}


def test_mixed_precision_loss_is_close_to_float32(tiny_config):
  """Same weights, same sampling noise: bfloat16's 8-bit mantissa moves
  each term by well under 1%. The KL is a small difference of log-densities
  (0.3 nats here), so its error is judged in nats: under 0.02, below 1% of
  the 3 free nats that clip it."""
  plain = WorldModel(tiny_config, 6)
  mixed = WorldModel(tiny_config.replace(mixed_precision=True), 6)
  _copy_weights(plain, mixed)
  batch = _batch(tiny_config)
  terms = []
  for world_model in (plain, mixed):
    tf.random.set_seed(3)  # Equal dequantisation and posterior noise.
    _, metrics = world_model.loss(*batch)
    terms.append(metrics)
  for key in ('image_nll', 'reward_nll', 'kl', 'loss'):
    assert terms[1][key].dtype == tf.float32
  for key in ('image_nll', 'reward_nll', 'loss'):
    np.testing.assert_allclose(terms[1][key], terms[0][key], rtol=1e-2,
                               err_msg=key)
  np.testing.assert_allclose(terms[1]['kl'], terms[0]['kl'], atol=0.02)


def test_mixed_precision_chunked_gradients_are_as_precise_as_plain(
    tiny_config):
  """bfloat16 gradients differ from float32 ones by several percent (8-bit
  mantissa), and by how much varies with the weights: per variable, the
  chunked and Keras' plain bfloat16 gradients each came out ahead in some of
  8 seeds. So the hand-written chunked backward passes are held to the same
  order of error as Keras' own over all variables (measured: 0.5x to 1.6x),
  and no variable may stray far; a wrong cast or a lost gradient gives an
  error near 1. (float32 chunking is exact: tests/test_chunking.py.)"""
  keras.utils.set_random_seed(0)
  models = [WorldModel(tiny_config.replace(backward_chunks=1), 6)]
  for chunks in (1, 3):
    models.append(WorldModel(tiny_config.replace(
        mixed_precision=True, backward_chunks=chunks), 6))
    _copy_weights(models[0], models[-1])
  batch = _batch(tiny_config)
  grads = []
  for world_model in models:
    loss_fn = learner.make_loss(world_model)  # Chunked where configured.
    tf.random.set_seed(3)
    with tf.GradientTape() as tape:
      loss, _ = loss_fn(*batch)
    grads.append(tape.gradient(loss, world_model.trainable_variables))
  exact = grads[0]
  squared = lambda gs: sum(float(tf.reduce_sum(tf.square(g))) for g in gs)
  global_error = lambda gs: np.sqrt(
      squared([g - e for g, e in zip(gs, exact)]) / squared(exact))
  plain_error, chunked_error = global_error(grads[1]), global_error(grads[2])
  assert 0.0 < chunked_error <= 2.0 * plain_error + 0.02
  checked = 0
  for reference, chunked in zip(exact, grads[2]):
    assert chunked.dtype == tf.float32
    norm = float(tf.norm(reference))
    if norm == 0.0:  # E.g. the prior's head while free nats clip the KL.
      continue
    assert float(tf.norm(chunked - reference)) / norm < 0.3
    checked += 1
  assert checked > 25


def test_mixed_precision_train_step_and_agent(tiny_config):
  # Without free nats, so that the prior's layers get a gradient too.
  config = tiny_config.replace(mixed_precision=True, free_nats=0.0)
  keras.utils.set_random_seed(0)
  world_model = WorldModel(config, 6)
  step = learner.make_train_step(
      world_model, learner.make_optimizer(config), config)
  before = [w.numpy() for w in world_model.trainable_variables]
  metrics = step(*_batch(config))
  assert bool(metrics['finite']) and np.isfinite(float(metrics['loss']))
  after = world_model.trainable_variables
  assert all(w.dtype == 'float32' for w in after)
  assert all(not np.array_equal(b, a.numpy()) for b, a in zip(before, after))

  agent = Agent(world_model, config)
  agent.reset()
  frame = np.random.default_rng(1).integers(0, 256, (64, 64, 3), np.uint8)
  for _ in range(2):
    action = agent.act(frame[None], explore=True)
    assert action.shape == (1, 6) and action.dtype == np.float32
    assert np.all(np.abs(action) <= 1.0)
