"""Latent dynamics models sharing one contract (see `base.LatentModel`).

`MODELS` maps each `--model` name to its class path; `make_model` imports the
class on use, so that listing the names imports no TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import Any

MODELS = {
    'rssm': 'planet_tf.models.rssm:RSSM',  # Paper Sec. 3 (the default).
    'rnn': 'planet_tf.models.rnn:RNN',  # Fig. 4: deterministic GRU only.
    'ssm': 'planet_tf.models.ssm:SSM',  # Fig. 4: stochastic state only.
}


def make_model(name: str, action_size: int, **kwargs: Any):
  """Builds the model named `name` (a key of MODELS)."""
  if name not in MODELS:
    raise ValueError(f"Unknown model '{name}'. Choose: {', '.join(MODELS)}.")
  module, cls = MODELS[name].split(':')
  return getattr(importlib.import_module(module), cls)(
      action_size=action_size, **kwargs)
