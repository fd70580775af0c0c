"""Alignment tests: which image, action and reward meet where.

Each test here was seen to fail on the bug it names (introduced by hand,
then restored): an off-by-one in the episode record (actions or rewards), a
shifted reward target, the reversed KL, free nats clipping the mean instead
of each step, exploration noise when testing, and a belief updated with the
planner's mean instead of the executed action. The NumPy reference of Eq. 3
also failed on: features from the posterior mean instead of its sample, the
reward scale dropped, the GRU's update gate swapped, and the posterior fed
h_{t-1} instead of h_t.
"""

import numpy as np
import pytest
import tensorflow as tf

from planet_tf import driver, objectives
from planet_tf.agent import Agent
from planet_tf.world_model import WorldModel


class CountingEnv:
  """Frames encode the step index; the reward encodes the action taken."""

  action_size = 2

  def __init__(self, length=5):
    self.length = length

  def reset(self, seed):
    self.t = 0
    return np.full((64, 64, 3), 0, np.uint8)

  def step(self, action):
    self.t += 1
    reward = 100.0 * float(action[0]) + 0.5 * float(action[1])
    return np.full((64, 64, 3), self.t, np.uint8), reward, self.t == self.length


def test_run_episode_pairs_each_image_with_the_action_that_led_to_it():
  # The policy's action reveals the frame it saw: (index seen, -index seen).
  act = lambda image: np.array([1, -1]) * float(image[0, 0, 0]) / 10
  episode = driver.run_episode(CountingEnv(), act, seed=0)
  assert len(episode['image']) == 6
  for t in range(6):
    assert np.all(episode['image'][t] == t)  # image[t]: the frame at step t.
  np.testing.assert_array_equal(episode['action'][0], [0, 0])
  for t in range(1, 6):  # action[t] was chosen on seeing image[t - 1] ...
    np.testing.assert_allclose(episode['action'][t], [(t - 1) / 10, -(t - 1) / 10],
                               rtol=1e-6)
    # ... and reward[t] is what arriving at image[t] by it paid.
    a = episode['action'][t]
    np.testing.assert_allclose(episode['reward'][t], 100 * a[0] + 0.5 * a[1],
                               rtol=1e-6)
  assert episode['reward'][0] == 0


def test_batched_episodes_equal_the_same_episodes_run_alone():
  """Each row of a batch gets its own frames; episodes of different lengths
  end on their own (a finished one's actions are dropped)."""
  policy = lambda frame, row: np.array([0.01 * frame[0, 0, 0], 0.1 * row])
  lengths = (5, 3, 7)
  batched = driver.run_episodes(
      [CountingEnv(n) for n in lengths],
      lambda frames: np.stack([policy(f, r) for r, f in enumerate(frames)]),
      seeds=[0, 1, 2])
  for row, (length, episode) in enumerate(zip(lengths, batched)):
    alone = driver.run_episode(CountingEnv(length),
                               lambda frame: policy(frame, row), seed=row)
    assert len(episode['image']) == length + 1
    for key in ('image', 'action', 'reward'):
      np.testing.assert_array_equal(episode[key], alone[key])


def _fixed_states(rng, batch, length, stoch, deter):
  """A posterior and a prior with unequal, non-unit standard deviations."""
  def state():
    mean = rng.normal(0, 1, (batch, length, stoch)).astype(np.float32)
    std = rng.uniform(0.3, 2.0, (batch, length, stoch)).astype(np.float32)
    return {'mean': tf.constant(mean), 'std': tf.constant(std),
            'stoch': tf.constant(mean + std * 0.7),
            'deter': tf.constant(rng.normal(0, 1, (batch, length, deter))
                                 .astype(np.float32))}
  return state(), state()


def _elbo(world_model, post, prior, images, rewards, free_nats=0.0):
  return objectives.elbo_loss(
      world_model.dynamics, world_model.decoder, world_model.reward, post,
      prior, images, rewards, free_nats=free_nats, kl_scale=1.0,
      reward_scale=10.0)


@pytest.fixture
def fixed_inputs(tiny_config):
  """A tiny world model, a fixed posterior and prior of 2 x 5 steps, blank
  frames, and the generator that made them."""
  rng = np.random.default_rng(0)
  post, prior = _fixed_states(rng, 2, 5, tiny_config.stoch_size,
                              tiny_config.deter_size)
  return (WorldModel(tiny_config, action_size=6), post, prior,
          tf.zeros((2, 5, 64, 64, 3)), rng)


def test_reward_head_on_features_t_is_scored_against_reward_t(fixed_inputs):
  wm, post, prior, images, rng = fixed_inputs
  rewards = (np.arange(5) * 2.0 + rng.uniform(-0.5, 0.5, (2, 5))).astype(np.float32)
  _, metrics = _elbo(wm, post, prior, images, rewards)
  predicted = wm.reward.mean(wm.dynamics.features(post)).numpy()  # (2, 5)
  expected = np.mean(0.5 * (rewards - predicted) ** 2 + 0.5 * np.log(2 * np.pi))
  np.testing.assert_allclose(float(metrics['reward_nll']), expected, rtol=1e-5)
  shifted = np.mean(0.5 * (rewards[:, 1:] - predicted[:, :-1]) ** 2
                    + 0.5 * np.log(2 * np.pi))
  assert abs(shifted - expected) > 0.1  # The data tell the two apart.


def _gaussian_kl(mean_q, std_q, mean_p, std_p):
  """KL(N(mean_q, std_q) || N(mean_p, std_p)), summed over the last axis."""
  return np.sum(np.log(std_p / std_q)
                + (std_q ** 2 + (mean_q - mean_p) ** 2) / (2 * std_p ** 2)
                - 0.5, -1)


def test_kl_is_posterior_to_prior_with_free_nats_per_step(fixed_inputs):
  wm, post, prior, images, _ = fixed_inputs
  rewards = np.zeros((2, 5), np.float32)
  q = [post[k].numpy() for k in ('mean', 'std')]
  p = [prior[k].numpy() for k in ('mean', 'std')]
  forward, backward = _gaussian_kl(*q, *p), _gaussian_kl(*p, *q)  # (2, 5)
  assert abs(forward.mean() - backward.mean()) > 0.5
  _, metrics = _elbo(wm, post, prior, images, rewards)
  np.testing.assert_allclose(float(metrics['kl']), forward.mean(), rtol=1e-5)
  # Free nats clip each step's KL, then the mean is taken.
  free = float(np.median(forward))
  _, metrics = _elbo(wm, post, prior, images, rewards, free_nats=free)
  np.testing.assert_allclose(float(metrics['kl_loss']),
                             np.maximum(forward, free).mean(), rtol=1e-5)


def _constant_planner(value):
  def plan(model, reward_fn, state):
    batch = tf.shape(state['deter'])[0]
    return tf.fill([batch, 6], value)
  return plan


def test_testing_adds_no_exploration_noise(tiny_config):
  wm = WorldModel(tiny_config, action_size=6)
  agent = Agent(wm, tiny_config.replace(exploration_noise=0.3),
                planner=_constant_planner(0.25))
  frames = np.zeros((2, 64, 64, 3), np.uint8)
  agent.reset(2)
  for _ in range(3):
    np.testing.assert_array_equal(agent.act(frames, explore=False),
                                  np.full((2, 6), 0.25, np.float32))
  agent.reset(2)
  noisy = agent.act(frames, explore=True)
  assert np.all(np.abs(noisy) <= 1) and np.std(noisy - 0.25) > 0.1


def test_belief_update_uses_the_executed_noisy_clipped_action(tiny_config):
  wm = WorldModel(tiny_config, action_size=6)
  agent = Agent(wm, tiny_config.replace(exploration_noise=0.3),
                planner=_constant_planner(0.9))
  rng = np.random.default_rng(2)
  first, second = (rng.integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
                   for _ in range(2))
  tf.random.set_seed(0)
  agent.reset(1)
  executed = agent.act(first, explore=True)
  assert np.any(executed == 1.0) and np.any(executed < 0.9)  # Clipped, noisy.
  before = agent.belief
  agent.act(second, explore=True)
  expected = wm.observe_step(before, tf.constant(executed), second)
  planned = wm.observe_step(before, tf.fill([1, 6], 0.9), second)
  # h_t depends on the action and the previous state only (the posterior's
  # mean also sees the frame through fresh dequantisation noise).
  np.testing.assert_allclose(agent.belief['deter'], expected['deter'], atol=1e-5)
  assert np.max(np.abs(planned['deter'] - expected['deter'])) > 1e-3


# An independent reference for Eq. 3: the whole loss in plain NumPy from the
# weights and inputs of a tiny model, with the two noise sources fixed (the
# dequantisation noise at its mean, each posterior sample at mean + 0.5 std).

def _conv(x, layer, stride=2):
  """Keras Conv2D, 'valid', as a sum over kernel offsets (N, H, W, C)."""
  kernel, bias = (w.numpy() for w in layer.weights)
  k = kernel.shape[0]
  size = (x.shape[1] - k) // stride + 1
  out = np.zeros(x.shape[:1] + (size, size, kernel.shape[-1]))
  for a in range(k):
    for b in range(k):
      patch = x[:, a:a + stride * size:stride, b:b + stride * size:stride]
      out += patch @ kernel[a, b]
  return out + bias


def _deconv(x, kernel, bias, stride=2):
  """Conv2DTranspose, 'valid': out[s i + a, s j + b] += x[i, j] W[a, b]."""
  k = kernel.shape[0]
  size = (x.shape[1] - 1) * stride + k
  out = np.zeros(x.shape[:1] + (size, size, kernel.shape[2]))
  for i in range(x.shape[1]):
    for j in range(x.shape[2]):
      out[:, stride * i:stride * i + k, stride * j:stride * j + k] += np.einsum(
          'nc,abfc->nabf', x[:, i, j], kernel)
  return out + bias


relu = lambda x: np.maximum(x, 0)
softplus = lambda x: np.log1p(np.exp(x))
sigmoid = lambda x: 1 / (1 + np.exp(-x))


def _dense(layer, x):
  kernel, bias = (w.numpy() for w in layer.weights)
  return x @ kernel + bias


def _gaussian_head(head, x, min_std):
  mean, raw = np.split(_dense(head.dense, x), 2, -1)
  return mean, softplus(raw) + min_std


def _numpy_loss(wm, images, actions, rewards, config):
  bins = 2 ** config.bit_depth
  x = np.floor(images / 2 ** (8 - config.bit_depth)) / bins + 0.5 / bins - 0.5
  batch, length = x.shape[:2]
  h = x.reshape((-1,) + x.shape[2:])
  for conv in wm.encoder.convs:
    h = relu(_conv(h, conv))
  embed = h.reshape(batch, length, -1)
  rssm = wm.dynamics
  stoch = np.zeros((batch, config.stoch_size))
  deter = np.zeros((batch, config.deter_size))
  features, kls = [], []
  for t in range(length):
    inp = relu(_dense(rssm.prior_input, np.concatenate([stoch, actions[:, t]], -1)))
    reset, update = np.split(sigmoid(_dense(
        rssm.cell.gates, np.concatenate([inp, deter], -1))), 2, -1)
    cand = np.tanh(_dense(rssm.cell.candidate,
                          np.concatenate([inp, reset * deter], -1)))
    deter = update * deter + (1 - update) * cand
    prior = _gaussian_head(rssm.prior_head, relu(_dense(rssm.prior_hidden, deter)),
                           config.min_std)
    post = _gaussian_head(rssm.post_head, relu(_dense(
        rssm.post_hidden, np.concatenate([deter, embed[:, t]], -1))),
        config.min_std)
    stoch = post[0] + 0.5 * post[1]
    features.append(np.concatenate([stoch, deter], -1))
    kls.append(_gaussian_kl(*post, *prior))
  features = np.stack(features, 1).reshape(batch * length, -1)
  decoder = wm.decoder
  g = _dense(decoder.dense, features) @ decoder.grid.kernel.numpy()
  g = relu(g.reshape(-1, 5, 5, decoder.grid.filters) + decoder.grid.bias.numpy())
  for index, deconv in enumerate(decoder.deconvs):
    g = _deconv(g, *(w.numpy() for w in deconv.weights))
    g = g if index == len(decoder.deconvs) - 1 else relu(g)
  target = x.reshape(g.shape)
  image_nll = np.mean(np.sum(0.5 * (target - g) ** 2 + 0.5 * np.log(2 * np.pi),
                             (1, 2, 3)))
  r = features
  for layer in wm.reward.hidden:
    r = relu(_dense(layer, r))
  predicted = _dense(wm.reward.out, r)[:, 0].reshape(batch, length)
  reward_nll = np.mean(0.5 * (rewards - predicted) ** 2 + 0.5 * np.log(2 * np.pi))
  kl_steps = np.stack(kls, 1)
  kl_loss = np.mean(np.maximum(kl_steps, config.free_nats))
  total = image_nll + config.reward_scale * reward_nll + kl_loss
  return dict(loss=total, image_nll=image_nll, reward_nll=reward_nll,
              kl_loss=kl_loss, kl_steps=kl_steps)


def test_loss_equals_an_independent_numpy_reference_of_equation_3(
    tiny_config, monkeypatch):
  from planet_tf import preprocess, world_model
  from planet_tf.models import rssm
  config = tiny_config.replace(free_nats=0.06)
  monkeypatch.setattr(rssm, 'sample', lambda mean, std: mean + 0.5 * std)
  bins = 2 ** config.bit_depth
  monkeypatch.setattr(world_model, 'preprocess', lambda image, bits: (
      preprocess.preprocess(image, bits, noise=False) + 0.5 / bins))
  wm = WorldModel(config, action_size=3)
  rng = np.random.default_rng(3)
  for variable in wm.trainable_variables:  # Biases too, so each one counts.
    variable.assign(variable + rng.uniform(-0.1, 0.1, variable.shape))
  images = rng.integers(0, 256, (2, 4, 64, 64, 3)).astype(np.uint8)
  actions = rng.uniform(-1, 1, (2, 4, 3)).astype(np.float32)
  rewards = rng.uniform(0, 2, (2, 4)).astype(np.float32)
  loss, metrics = wm.loss(images, actions, rewards)
  expected = _numpy_loss(wm, images.astype(np.float64), actions, rewards, config)
  steps = expected.pop('kl_steps')  # Some steps clipped, some not.
  assert np.any(steps < config.free_nats) and np.any(steps > config.free_nats)
  np.testing.assert_allclose(float(loss), expected['loss'], rtol=1e-4)
  for key in ('image_nll', 'reward_nll', 'kl_loss'):
    np.testing.assert_allclose(float(metrics[key]), expected[key], rtol=1e-4,
                               err_msg=key)
