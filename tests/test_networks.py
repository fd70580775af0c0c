import keras
import numpy as np
import tensorflow as tf

from planet_tf.models.layers import GRUCell
from planet_tf.networks import Decoder, DenseToGrid, Encoder, RewardModel


def test_encoder_decoder_reward_shapes_and_dtypes():
  encoder = Encoder(32)
  images = tf.random.uniform([2, 3, 64, 64, 3], -0.5, 0.5)
  embed = encoder(images)
  assert embed.shape == (2, 3, 1024) and embed.dtype == tf.float32
  decoder = Decoder(32, 1024)
  dist = decoder(tf.zeros([2, 3, 230]))
  assert dist.event_shape == (64, 64, 3) and dist.batch_shape == (2, 3)
  assert dist.log_prob(images).shape == (2, 3)
  # Normal(mean, 1) summed over pixels: at the mean the NLL is the constant.
  nll = -dist.log_prob(dist.mean())
  np.testing.assert_allclose(nll, 0.5 * np.log(2 * np.pi) * 64 * 64 * 3, rtol=1e-5)
  reward = RewardModel(2, 200)
  assert reward(tf.zeros([2, 3, 230])).mean().shape == (2, 3)
  assert len(reward.hidden) == 2 and reward.hidden[0].units == 200


def test_dense_to_grid_equals_conv_transpose_from_one_pixel():
  """The optimised first deconv computes what Conv2DTranspose computes."""
  x = tf.random.normal([5, 1024])
  deconv = keras.layers.Conv2DTranspose(128, 5, strides=2, activation='relu',
                                        bias_initializer='random_normal')
  expected = deconv(tf.reshape(x, [5, 1, 1, 1024]))
  grid = DenseToGrid(128, 5, activation='relu')
  grid.build((None, 1024))
  # The transposed conv's kernel (k, k, filters, channels) as (channels, k*k*filters).
  kernel = tf.transpose(deconv.kernel, [3, 0, 1, 2])
  grid.kernel.assign(tf.reshape(kernel, grid.kernel.shape))
  grid.bias.assign(deconv.bias)
  np.testing.assert_allclose(grid(x), expected, atol=1e-5)
  assert expected.shape == (5, 5, 5, 128)
  # Same initialiser scale as the transposed conv (Glorot uniform).
  limit = np.sqrt(6 / (25 * 128 + 25 * 1024))
  assert np.abs(grid.kernel.numpy()).max() <= limit
  assert np.abs(grid.kernel.numpy()).max() > 0.9 * limit


def test_gru_cell_matches_its_equations():
  cell = GRUCell(3)
  x, h = tf.random.normal([2, 4]), tf.random.normal([2, 3])
  out = cell(x, h).numpy()
  wg, bg = cell.gates.kernel.numpy(), cell.gates.bias.numpy()
  wc, bc = cell.candidate.kernel.numpy(), cell.candidate.bias.numpy()
  sig = lambda v: 1 / (1 + np.exp(-v))
  gates = sig(np.concatenate([x, h], -1) @ wg + bg)
  r, u = gates[:, :3], gates[:, 3:]
  c = np.tanh(np.concatenate([x, r * h], -1) @ wc + bc)
  np.testing.assert_allclose(out, u * h + (1 - u) * c, atol=1e-5)
  np.testing.assert_array_equal(bg, 1.0)
