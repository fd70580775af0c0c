"""The chunked backward passes give the plain values and gradients."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from planet_tf import chunking
from planet_tf import config as config_lib
from planet_tf import learner
from planet_tf.chunking import chunked_sum, conv_relu_stack
from planet_tf.networks import Decoder, Encoder
from planet_tf.world_model import WorldModel


def _assert_close_lists(expected, actual, rtol=1e-4):
  assert len(expected) == len(actual)
  for e, a in zip(expected, actual):
    scale = float(tf.reduce_max(tf.abs(e))) + 1e-6
    np.testing.assert_allclose(a / scale, e / scale, atol=rtol)


def _decoder_case(rows):
  decoder = Decoder(4, 32)
  decoder.build((None, 10))
  weight = tf.Variable(tf.random.stateless_normal([10, 10], seed=[0, 1]))
  features = tf.random.stateless_normal([rows, 10], seed=[0, 2])
  images = tf.random.stateless_uniform([rows, 64, 64, 3], seed=[0, 3]) - 0.5
  nll = lambda f, x: -tf.reduce_sum(decoder(f).log_prob(x))
  variables = [weight] + decoder.trainable_variables

  def loss_and_grads(chunks, features, images):
    with tf.GradientTape() as tape:
      inputs = tf.tanh(features @ weight)  # A path from a variable upstream.
      loss = chunked_sum(nll, inputs, images, decoder.trainable_variables,
                         chunks) + tf.reduce_sum(weight ** 2)
    return loss, tape.gradient(loss, variables)
  return loss_and_grads, features, images


@pytest.mark.parametrize('chunks', [2, 3, 7, 50])
def test_chunked_sum_equals_plain_sum(chunks):
  """7 rows: uneven and capped chunk counts, eager and compiled."""
  loss_and_grads, features, images = _decoder_case(7)
  plain_loss, plain_grads = loss_and_grads(1, features, images)
  for run in (loss_and_grads, tf.function(loss_and_grads)):
    loss, grads = run(chunks, features, images)
    np.testing.assert_allclose(loss, plain_loss, rtol=1e-5)
    _assert_close_lists(plain_grads, grads)


def test_chunked_sum_with_unknown_row_count():
  loss_and_grads, features, images = _decoder_case(7)
  plain_loss, plain_grads = loss_and_grads(1, features, images)
  compiled = tf.function(lambda f, x: loss_and_grads(3, f, x), input_signature=[
      tf.TensorSpec([None, 10]), tf.TensorSpec([None, 64, 64, 3])])
  loss, grads = compiled(features, images)
  np.testing.assert_allclose(loss, plain_loss, rtol=1e-5)
  _assert_close_lists(plain_grads, grads)


@pytest.mark.parametrize('chunks', [2, 4])
def test_conv_relu_stack_equals_keras_layers(chunks):
  encoder = Encoder(4)
  encoder.build((None, 64, 64, 3))
  images = tf.random.stateless_uniform([8, 64, 64, 3], seed=[1, 1]) - 0.5
  weights = tf.random.stateless_normal([8, 2, 2, 32], seed=[1, 2])

  def loss_and_grads(chunks):
    with tf.GradientTape() as tape:
      outputs = conv_relu_stack(images, encoder.convs, chunks)
      loss = tf.reduce_sum(outputs * weights)
    return outputs, tape.gradient(loss, encoder.trainable_variables)

  with tf.GradientTape() as tape:
    x = images
    for conv in encoder.convs:  # The plain Keras layers.
      x = conv(x)
    loss = tf.reduce_sum(x * weights)
  plain_grads = tape.gradient(loss, encoder.trainable_variables)
  for run in (loss_and_grads, tf.function(loss_and_grads)):
    outputs, grads = run(chunks)
    np.testing.assert_allclose(outputs, x, atol=1e-5)
    _assert_close_lists(plain_grads, grads)


def test_conv_relu_stack_rejects_other_layers():
  layer = keras.layers.Conv2D(4, 3, padding='same', activation='relu')
  layer.build((None, 8, 8, 3))
  with pytest.raises(ValueError, match="padding='valid'"):
    conv_relu_stack(tf.zeros([1, 8, 8, 3]), [layer], 2)


def test_world_model_gradients_do_not_depend_on_backward_chunks(tiny_config):
  """The whole training loss: chunked encoder and decoder against plain."""
  rng = np.random.default_rng(0)
  c = tiny_config
  batch = (rng.integers(0, 256, (c.batch_size, c.chunk_length, 64, 64, 3),
                        dtype=np.uint8),
           rng.uniform(-1, 1, (c.batch_size, c.chunk_length, 2)).astype(np.float32),
           rng.uniform(0, 1, (c.batch_size, c.chunk_length)).astype(np.float32))
  results = []
  for chunks in (1, 4):
    keras.utils.set_random_seed(3)
    wm = WorldModel(c.replace(backward_chunks=chunks), 2)
    loss_fn = learner.make_loss(wm)

    @tf.function
    def loss_and_grads(*batch):
      tf.random.set_seed(5)
      with tf.GradientTape() as tape:
        loss, _ = loss_fn(*batch)
      return loss, tape.gradient(loss, wm.trainable_variables)
    results.append(loss_and_grads(*batch))
  (plain_loss, plain_grads), (loss, grads) = results
  np.testing.assert_allclose(loss, plain_loss, rtol=1e-5)
  _assert_close_lists(plain_grads, grads)


def test_chunked_training_step_compiles_with_xla(tiny_config):
  c = tiny_config.replace(backward_chunks=3)
  wm = WorldModel(c, 2)
  step = learner.make_train_step(wm, learner.make_optimizer(c), c,
                                  jit_compile=True)
  images = np.zeros((c.batch_size, c.chunk_length, 64, 64, 3), np.uint8)
  actions = np.zeros((c.batch_size, c.chunk_length, 2), np.float32)
  rewards = np.zeros((c.batch_size, c.chunk_length), np.float32)
  assert np.isfinite(float(step(images, actions, rewards)['loss']))


def test_backward_chunks_must_be_positive():
  with pytest.raises(ValueError, match='backward_chunks must be positive'):
    config_lib.resolve(['debug'], dict(backward_chunks=0))


class _SamePaddingEncoder(keras.layers.Layer):
  """A researcher's encoder in plain Keras that chunking cannot compute."""

  def __init__(self):
    super().__init__()
    self.convs = [keras.layers.Conv2D(4, 4, strides=2, padding='same',
                                      activation='relu') for _ in range(2)]

  def call(self, image):
    x = tf.reshape(image, [-1, 64, 64, 3])
    for conv in self.convs:
      x = conv(x)
    return tf.reshape(x, tf.concat([tf.shape(image)[:-3], [-1]], 0))


class _ResidualEncoder(Encoder):
  """The plain encoder's convs, applied otherwise than in sequence."""

  def call(self, image):
    return super().call(image) + 1.0


@pytest.mark.parametrize('make_encoder, why', [
    (_SamePaddingEncoder, "padding='valid'"),
    (lambda: _ResidualEncoder(4), 'does not compute its convs in sequence')])
def test_an_encoder_chunking_cannot_compute_keeps_the_plain_tape(
    make_encoder, why, caplog):
  decoder = Decoder(4, 32)
  decoder.build((None, 10))
  encoder = make_encoder()
  encoder(tf.zeros([1, 64, 64, 3]))  # Built by its first call.
  with caplog.at_level('INFO'):
    passes = chunking.backward_passes(encoder, decoder, 4, (64, 64, 3))
  assert set(passes) == {'frame_sum'}  # The decoder's chunks still apply.
  lines = [r.getMessage() for r in caplog.records if 'plain backward' in
           r.getMessage()]
  assert len(lines) == 1 and why in lines[0], caplog.text


def test_the_paper_encoder_gets_the_chunked_backward_pass(caplog):
  encoder, decoder = Encoder(4), Decoder(4, 32)
  encoder.build((None, 64, 64, 3))
  decoder.build((None, 10))
  with caplog.at_level('INFO'):
    passes = chunking.backward_passes(encoder, decoder, 4, (64, 64, 3))
  assert set(passes) == {'encode', 'frame_sum'}
  assert 'plain backward' not in caplog.text
  assert chunking.backward_passes(encoder, decoder, 1, (64, 64, 3)) == {}
  images = tf.random.stateless_uniform([2, 3, 64, 64, 3], [2, 2]) - 0.5
  np.testing.assert_allclose(passes['encode'](images), encoder(images),
                             atol=1e-5)
