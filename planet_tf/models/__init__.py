"""Latent dynamics models sharing one contract (see `base.LatentModel`):
the RSSM (paper Sec. 3, the default), and Fig. 4's deterministic RNN and
stochastic SSM. `config.MODELS` names them without importing TensorFlow.
"""

from __future__ import annotations

from planet_tf.config import Config
from planet_tf.models.base import LatentModel
from planet_tf.models.rnn import RNN
from planet_tf.models.rssm import RSSM
from planet_tf.models.ssm import SSM


def make_model(config: Config, action_size: int, embed_size: int,
               dtype: str = 'float32') -> LatentModel:
  """The latent model `config.model` names, built with the sizes it uses."""
  if config.model == 'rssm':
    return RSSM(action_size, embed_size, stoch_size=config.stoch_size,
                deter_size=config.deter_size, hidden_size=config.hidden_size,
                min_std=config.min_std, dtype=dtype)
  if config.model == 'rnn':
    return RNN(action_size, embed_size, deter_size=config.deter_size,
               hidden_size=config.hidden_size, dtype=dtype)
  if config.model == 'ssm':
    return SSM(action_size, embed_size, stoch_size=config.stoch_size,
               hidden_size=config.hidden_size, min_std=config.min_std,
               dtype=dtype)
  raise ValueError(f"Unknown model '{config.model}'.")
