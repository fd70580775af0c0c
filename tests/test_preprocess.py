import numpy as np
import tensorflow as tf

from planet_tf.preprocess import postprocess, preprocess


def test_range_and_bit_depth():
  raw = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1).repeat(3, -1)
  x = preprocess(tf.constant(raw), 5).numpy()
  assert x.dtype == np.float32
  assert x.min() >= -0.5 and x.max() < 0.5
  # Removing the noise recovers exactly the 5-bit value of each pixel.
  bins = np.floor((x + 0.5) * 32)
  np.testing.assert_array_equal(bins, raw >> 3)
  # The noise spreads each bin uniformly over its width 1/32.
  assert np.unique(raw >> 3).size == 32
  assert 0 < np.std(x - (bins / 32 - 0.5)) < 1 / 32


def test_noise_free_and_postprocess_roundtrip():
  raw = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 3)).astype(np.uint8)
  x = preprocess(tf.constant(raw), 5, noise=False)
  back = postprocess(x, 5).numpy()
  assert back.dtype == np.uint8
  np.testing.assert_array_equal(back, (raw >> 3) << 3)
  # Postprocess is also the inverse with noise: noise stays within a bin.
  np.testing.assert_array_equal(postprocess(preprocess(tf.constant(raw), 5), 5), back)
