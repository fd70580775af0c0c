"""The world model: encoder, latent dynamics, decoder and reward model."""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import tensorflow as tf

from planet_tf import objectives
from planet_tf.chunking import Encode, FrameSum
from planet_tf.config import Config, check_resolved
from planet_tf.models import make_model
from planet_tf.models.base import State
from planet_tf.networks import Decoder, Encoder, RewardModel
from planet_tf.preprocess import postprocess, preprocess


def precision_policy(config: Config) -> str:
  """The Keras dtype policy of every network: 'float32' (the paper) or,
  with `mixed_precision`, 'mixed_bfloat16' (float32 weights)."""
  return 'mixed_bfloat16' if config.mixed_precision else 'float32'


class WorldModel:
  """Owns the four networks and computes the loss of Eq. 3 on a batch."""

  def __init__(self, config: Config, action_size: int):
    check_resolved(config)  # The learner reads backward_chunks from it.
    self.config = config
    self.action_size = action_size
    size = config.image_size
    policy = precision_policy(config)
    self.encoder = Encoder(config.cnn_depth, dtype=policy)
    self.encoder.build((None, size, size, 3))
    self.dynamics = make_model(config, action_size, self.encoder.output_size,
                               dtype=policy)
    self.decoder = Decoder(config.cnn_depth, config.embed_size, dtype=policy)
    self.decoder.build((None, self.dynamics.feature_size))
    self.reward = RewardModel(config.reward_layers, config.reward_units,
                              dtype=policy)
    self.reward.build((None, self.dynamics.feature_size))

  @property
  def layers(self) -> Dict[str, object]:
    """The four networks by name."""
    return {'encoder': self.encoder, 'dynamics': self.dynamics,
            'decoder': self.decoder, 'reward': self.reward}

  def named_weights(self) -> Dict[str, tf.Variable]:
    """Every weight keyed by its place in the model ('encoder_000', ...).

    Checkpoints use these keys: they depend on the architecture only, not on
    Keras' process-wide layer-name counters, and reach every weight (Keras 3
    layers kept in Python lists are not tracked by tf.train.Checkpoint).
    """
    return {f'{name}_{index:03d}': weight
            for name, layer in self.layers.items()
            for index, weight in enumerate(layer.weights)}

  @property
  def trainable_variables(self) -> List[tf.Variable]:
    """All trainable weights, in a fixed order."""
    return [v for layer in self.layers.values()
            for v in layer.trainable_variables]

  def embed(self, images: tf.Tensor) -> tf.Tensor:
    """uint8 frames (..., H, W, 3) -> encoder features (..., E), through the
    one preprocessing of the project (5 bits and dequantisation noise)."""
    return self.encoder(preprocess(images, self.config.bit_depth))

  def observe_step(self, state: State, prev_action: tf.Tensor,
                   images: tf.Tensor) -> State:
    """One belief update: the posterior q(s_t | s_{t-1}, a_t, o_t) for
    uint8 frames (B, H, W, 3) and the action that led to them (B, A)."""
    post, _ = self.dynamics.obs_step(state, prev_action, self.embed(images))
    return post

  def loss(self, images: tf.Tensor, actions: tf.Tensor, rewards: tf.Tensor,
           encode: Optional[Encode] = None,
           frame_sum: Optional[FrameSum] = None,
           ) -> Tuple[tf.Tensor, Dict[str, tf.Tensor]]:
    """Eq. 3 on uint8 images (B, T, H, W, 3), actions, rewards.

    `encode` (for the encoder) and `frame_sum` (see `objectives.image_nll`)
    compute the same values another way: the learner passes the chunked
    backward passes of `chunking.backward_passes`. None: the plain ones.
    """
    images = preprocess(images, self.config.bit_depth)
    post, prior = self.dynamics.observe((encode or self.encoder)(images),
                                        actions)
    return objectives.elbo_loss(
        self.dynamics, self.decoder, self.reward, post, prior, images,
        rewards, free_nats=self.config.free_nats,
        kl_scale=self.config.kl_scale, reward_scale=self.config.reward_scale,
        actions=actions, overshooting=self.config.overshooting,
        overshooting_scale=self.config.overshooting_scale,
        frame_sum=frame_sum)

  def openloop(self, images: tf.Tensor, actions: tf.Tensor,
               context: int) -> Tuple[tf.Tensor, tf.Tensor]:
    """Open-loop video prediction: filter `context` frames, then predict the
    rest from the actions alone. Returns (truth, model) uint8 videos where the
    model video holds reconstructions for the context frames."""
    x = preprocess(images, self.config.bit_depth)
    embed = self.encoder(x[:, :context])
    post, _ = self.dynamics.observe(embed, actions[:, :context])
    last = {key: value[:, -1] for key, value in post.items()}
    prior = self.dynamics.imagine(actions[:, context:], last)
    features = tf.concat([self.dynamics.features(post),
                          self.dynamics.features(prior)], 1)
    model = postprocess(self.decoder.mean(features), self.config.bit_depth)
    truth = postprocess(preprocess(images, self.config.bit_depth, noise=False),
                        self.config.bit_depth)
    return truth, model
