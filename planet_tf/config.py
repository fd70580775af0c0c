"""One frozen config of every hyperparameter, the paper's values as defaults.

Every field is traceable: the comment beside it names the source (paper section
or the official code where the paper is silent). Named presets are partial
overrides applied in order over the defaults; command-line flags come last.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, Mapping, Optional, Sequence, Union

from planet_tf import envs
from planet_tf.envs import PAPER_TASKS

# Performance knobs that change no value: 'auto' follows the device.
AUTO = 'auto'
DEVICE_DEFAULTS = {'backward_chunks': {'cpu': 10, 'gpu': 1},
                   'planner_groups': {'cpu': 2, 'gpu': 1}}


@dataclasses.dataclass(frozen=True)
class Config:
  """All hyperparameters of a PlaNet run. Defaults reproduce the paper."""

  # Environment (paper Sec. 5, App. A). A comma-separated list of tasks
  # trains one agent on all of them (paper Fig. 7), actions padded.
  task: str = 'cheetah_run'
  action_repeat: int = 0  # 0: the paper's per-domain value (App. A).
  episode_length: int = 1000  # Environment steps per episode (paper Sec. 5).
  image_size: int = 64  # Paper Sec. 5.
  camera_id: int = 0  # Official code.
  seed: int = 1

  # World model (paper App. A; min_std from the official code).
  model: str = 'rssm'  # rssm, rnn or ssm (paper Fig. 4).
  deter_size: int = 200  # GRU units.
  stoch_size: int = 30  # Diagonal Gaussian latent.
  hidden_size: int = 200  # Every other fully connected layer.
  min_std: float = 0.1  # Official code: std = softplus(x) + 0.1.
  cnn_depth: int = 32  # Encoder 32,64,128,256; decoder 128,64,32,3.
  embed_size: int = 1024  # Encoder output, decoder's first dense layer.
  reward_layers: int = 2  # Paper App. A (official code used 2 x 100).
  reward_units: int = 200

  # Objective (paper Eq. 3 and App. A; reward scale from the official code).
  bit_depth: int = 5
  free_nats: float = 3.0
  kl_scale: float = 1.0
  reward_scale: float = 10.0
  # Latent overshooting (paper Eq. 7): distance D (0 or 1: off, Eq. 3) and
  # beta_{>1}; beta_1 is kl_scale.
  overshooting: int = 0
  overshooting_scale: float = 1.0

  # Optimiser (paper App. A; warm-up from the official code).
  learning_rate: float = 1e-3
  adam_epsilon: float = 1e-4
  grad_clip_norm: float = 1000.0
  # Linear learning-rate warm-up, in updates. The official camera-ready code
  # (0c6f7d3) ramps over 10,000 trainer steps, which count samples (the batch
  # size per update): 10,000 / 50 = 200 updates. Its later HEAD has none.
  warmup_steps: int = 200
  batch_size: int = 50
  chunk_length: int = 50

  # Algorithm 1 (paper App. A).
  seed_episodes: int = 5
  collect_interval: int = 100
  total_episodes: int = 1000  # Collected episodes in all, seed episodes included.
  exploration_noise: float = 0.3
  collect_policy: str = 'planner'  # 'random': paper Fig. 5's random collection.

  # Planner: Algorithm 2 (paper App. B). 'random_shooting' (Fig. 5) picks the
  # best of J sequences from N(0, I); 'true_simulator' runs CEM on copies of
  # the real simulator (Table 1's upper bound), without learning.
  planner: str = 'cem'
  horizon: int = 12
  iterations: int = 10
  candidates: int = 1000
  top_k: int = 100
  # 'std': the standard deviation of the top K, sqrt(var + 1e-6), as the
  # code that produced the paper's numbers (0c6f7d3, control/planning.py).
  # 'abs_dev': Algorithm 2 as printed, sigma = sum|a - mu| / (K - 1), read
  # as a typo (README, Fidelity notes).
  cem_std: str = 'std'

  # Evaluation (paper Sec. 5: 10 trajectories; the schedule is ours).
  test_every: int = 10  # Test after every N collected episodes.
  test_episodes: int = 10
  openloop_context: int = 5  # Official code.
  # Ours: a video of the first test episode of each test point, written to
  # videos/episode_N.mp4 and TensorBoard (planet_tf/video.py).
  test_video: bool = True

  # Performance (ours; the same mathematics and gradients): the encoder's and
  # the decoder's backward passes run over this many sequential chunks of the
  # batch's frames, so their temporaries are a fraction of the whole (see
  # `chunking`). 1: the plain computation. 'auto' (`for_device`): 10 on a
  # CPU (a memory saving, time-neutral there), 1 on a GPU.
  backward_chunks: Union[int, str] = AUTO
  # Compile the agent's step (posterior update + planner) with XLA: it fuses
  # the planner's many small element-wise ops, faster on some CPUs and
  # slower on others (docs/performance.md); XLA's random numbers ignore TF's
  # seeds, so planned episodes are then not reproducible from --seed.
  xla_planner: bool = False
  # The planner rolls its J candidates out in this many independent groups,
  # which TF runs concurrently on its inter-op threads: the same values, and
  # the cores stay busy through each group's small ops. 1: one rollout.
  # 'auto' (`for_device`): 2 on a CPU, 1 on a GPU (half the kernel launches).
  planner_groups: Union[int, str] = AUTO
  # Compute the networks in bfloat16, keeping float32 weights, distributions,
  # losses and recurrent states (Keras 'mixed_bfloat16'). For GPUs with
  # bfloat16 units; no loss scaling is needed (float32's exponent range).
  # Off: the paper's float32 throughout.
  mixed_precision: bool = False

  # Robustness (ours): an update whose loss or gradient norm is not finite is
  # skipped; the run stops once more than this many were skipped in all.
  max_nonfinite_updates: int = 100
  # Seconds an environment process may take to answer one call (a frozen
  # renderer is then replaced like a dead one; see driver.ENV_RETRIES).
  env_timeout: float = 60.0

  def replace(self, **overrides: Any) -> 'Config':
    """Returns a copy with `overrides`; unknown keys and wrong types raise."""
    return dataclasses.replace(self, **_check_types(overrides))

  def to_dict(self) -> dict:
    """Field name -> value."""
    return dataclasses.asdict(self)

  def to_json(self) -> str:
    """The config as sorted, indented JSON (config.json)."""
    return json.dumps(self.to_dict(), indent=2, sort_keys=True)

  @classmethod
  def from_dict(cls, values: Mapping[str, Any]) -> 'Config':
    """The defaults overridden by `values` (type-checked)."""
    return cls().replace(**dict(values))


def _field_types() -> dict:
  return {f.name: type(f.default) for f in dataclasses.fields(Config)}


def _check_types(overrides: Mapping[str, Any]) -> dict:
  types = _field_types()
  checked = {}
  for key, value in overrides.items():
    if key not in types:
      raise ValueError(
          f"Unknown config key '{key}'. Valid keys: {', '.join(sorted(types))}.")
    if key in DEVICE_DEFAULTS:
      checked[key] = _auto_or_int(key, value)
      continue
    expected = types[key]
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
      value = float(value)
    if not isinstance(value, expected) or (
        expected is int and isinstance(value, bool)):
      raise ValueError(
          f"Config key '{key}' expects {expected.__name__}, got "
          f"{type(value).__name__} {value!r}.")
    checked[key] = value
  return checked


def _auto_or_int(key: str, value: Any) -> Union[int, str]:
  """'auto', an int, or a flag's digits as an int."""
  if isinstance(value, str) and value.strip().lstrip('-').isdigit():
    return int(value)
  if value == AUTO or (isinstance(value, int) and not isinstance(value, bool)):
    return value
  raise ValueError(f"Config key '{key}' expects an integer or 'auto', got "
                   f'{type(value).__name__} {value!r}.')


def for_device(config: Config, gpu: Optional[bool] = None) -> Config:
  """`config` with its 'auto' knobs resolved: today's CPU values on a CPU,
  the plain computation on a GPU. gpu None: whether TensorFlow (imported
  by the caller already) sees a GPU."""
  autos = [key for key in DEVICE_DEFAULTS if getattr(config, key) == AUTO]
  if not autos:
    return config
  if gpu is None:
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    gpu = bool(tf.config.list_physical_devices('GPU'))
  values = {key: DEVICE_DEFAULTS[key]['gpu' if gpu else 'cpu'] for key in autos}
  if 'planner_groups' in values:  # At most one group per candidate.
    values['planner_groups'] = min(values['planner_groups'], config.candidates)
  return config.replace(**values)


# The latent models of `planet_tf.models` (paper Sec. 3 and Fig. 4).
MODELS = ('rssm', 'rnn', 'ssm')
# The planners: CEM (Algorithm 2), Fig. 5's random shooting, and Table 1's
# CEM on the true simulator (`planet_tf.true_simulator`).
PLANNERS = ('cem', 'random_shooting', 'true_simulator')

# Named presets: partial overrides of the defaults, applied left to right.
PRESETS: dict[str, dict[str, Any]] = {
    # The paper's configuration (the defaults).
    'paper': {},
    # The CPU budget that implementations are compared at on a 2-core machine.
    # It changes exactly these values from `paper` and nothing else.
    'cpu': dict(
        total_episodes=40, collect_interval=25, batch_size=16,
        chunk_length=50, candidates=300, top_k=30, test_episodes=3,
        test_every=10),
    # The paper's configuration stopped after its first 40 episodes (5 seed
    # episodes, 35 planned): the paper's training intensity (C=100, B=50,
    # J=1000, K=100, 10 test episodes every 10), NOT the paper's budget.
    'first40': dict(total_episodes=40),
    # Paper Fig. 4, 5, 7 and Table 1 variants.
    'rssm': dict(model='rssm'),
    'rnn': dict(model='rnn'),
    'ssm': dict(model='ssm'),
    'overshooting': dict(overshooting=50, overshooting_scale=1.0),
    'random_shooting': dict(planner='random_shooting', iterations=1),
    'random_collection': dict(collect_policy='random'),
    'multitask': dict(task=','.join(PAPER_TASKS)),
    'true_simulator': dict(planner='true_simulator'),
    # Tiny everything: a smoke test of the whole loop in a few minutes.
    'debug': dict(
        episode_length=200, total_episodes=4, seed_episodes=2,
        collect_interval=3, batch_size=4, chunk_length=12, candidates=32,
        top_k=4, iterations=2, horizon=4, test_every=2, test_episodes=1),
}


def resolve(presets: Sequence[str] = ('paper',),
            overrides: Mapping[str, Any] | None = None) -> Config:
  """Builds a validated config from preset names and explicit overrides."""
  config = Config()
  for name in presets:
    if name not in PRESETS:
      raise ValueError(
          f"Unknown preset '{name}'. Known presets: {', '.join(PRESETS)}.")
    config = config.replace(**PRESETS[name])
  config = config.replace(**dict(overrides or {}))
  validate(config)
  return config


def validate(config: Config) -> None:
  """Raises ValueError naming the problem and the fix for an invalid config."""
  errors = []
  for field in dataclasses.fields(config):
    value = getattr(config, field.name)
    if isinstance(value, float) and not math.isfinite(value):
      errors.append(f'--{field.name} must be a finite number, got {value}.')
  positive = (
      'episode_length', 'image_size', 'deter_size', 'stoch_size',
      'hidden_size', 'cnn_depth', 'embed_size', 'reward_layers',
      'reward_units', 'batch_size', 'chunk_length', 'seed_episodes',
      'collect_interval', 'total_episodes', 'horizon', 'iterations',
      'candidates', 'top_k', 'test_every', 'bit_depth', 'learning_rate',
      'adam_epsilon', 'grad_clip_norm', 'backward_chunks', 'planner_groups',
      'env_timeout')
  for key in positive:
    if getattr(config, key) != AUTO and getattr(config, key) <= 0:
      errors.append(f'--{key} must be positive, got {getattr(config, key)}.')
  for key in ('action_repeat', 'warmup_steps', 'test_episodes', 'free_nats',
              'kl_scale', 'reward_scale', 'exploration_noise', 'min_std',
              'openloop_context', 'seed', 'max_nonfinite_updates'):
    if getattr(config, key) < 0:
      errors.append(f'--{key} must not be negative, got {getattr(config, key)}.')
  if config.camera_id < -1:
    errors.append(f'--camera_id must be -1 (free camera) or a camera index, '
                  f'got {config.camera_id}.')
  if config.seed >= 2**32:
    errors.append(f'--seed must be below 2**32, got {config.seed}.')
  if config.bit_depth > 8:
    errors.append(f'--bit_depth must be in 1..8, got {config.bit_depth}.')
  if config.image_size != 64:
    errors.append('--image_size must be 64: the encoder and decoder of the '
                  'paper are built for 64x64 frames.')
  if config.top_k > config.candidates:
    errors.append(f'--top_k={config.top_k} exceeds --candidates='
                  f'{config.candidates}: choose top_k <= candidates.')
  if (config.planner_groups != AUTO and
      config.planner_groups > config.candidates):
    errors.append(f'--planner_groups={config.planner_groups} exceeds '
                  f'--candidates={config.candidates}: use at most one group '
                  'per candidate (1 or 2 are the useful values).')
  if config.top_k < 2:
    errors.append('--top_k must be at least 2 to refit a standard deviation.')
  if config.seed_episodes > config.total_episodes:
    errors.append(f'--seed_episodes={config.seed_episodes} exceeds '
                  f'--total_episodes={config.total_episodes}.')
  if config.planner not in PLANNERS:
    errors.append(f"Unknown --planner '{config.planner}'. Choose: "
                  f"{', '.join(PLANNERS)}.")
  if config.collect_policy not in ('planner', 'random'):
    errors.append(f"Unknown --collect_policy '{config.collect_policy}'. "
                  'Choose planner or random.')
  if config.overshooting > config.chunk_length:
    errors.append(f'--overshooting={config.overshooting} exceeds '
                  f'--chunk_length={config.chunk_length}.')
  if config.overshooting > 1 and config.model == 'rnn':
    errors.append('--overshooting needs stochastic latents: the rnn model has '
                  'none (paper Fig. 4). Use --model=rssm or ssm.')
  if config.planner == 'true_simulator' and ',' in config.task:
    errors.append('--planner=true_simulator runs one task at a time.')
  if config.cem_std not in ('abs_dev', 'std'):
    errors.append(f"Unknown --cem_std '{config.cem_std}'. Choose abs_dev or std.")
  if config.model not in MODELS:
    errors.append(f"Unknown --model '{config.model}'. Choose: "
                  f"{', '.join(MODELS)}.")
  if not tasks(config):
    errors.append('--task is empty: name a task, e.g. --task=cheetah_run.')
  repeated = sorted({t for t in tasks(config) if tasks(config).count(t) > 1})
  if repeated:  # Each task keys its episodes and rows: copies would collide.
    errors.append(f"--task names {', '.join(repeated)} more than once: name "
                  'each task once.')
  for task in tasks(config):
    errors.extend(_task_errors(config, task))
  if config.openloop_context >= config.chunk_length:
    errors.append(f'--openloop_context={config.openloop_context} must be '
                  f'shorter than --chunk_length={config.chunk_length}.')
  if errors:
    raise ValueError('Invalid config:\n  ' + '\n  '.join(errors))


def _task_errors(config: Config, task: str) -> list:
  try:
    spec = envs.resolve_task(task)
  except ValueError as error:
    return [str(error)]
  if config.camera_id > 0:
    cameras = envs.camera_count(spec)
    if config.camera_id >= cameras:
      return [f'--camera_id={config.camera_id} does not exist: {task} has '
              f'{cameras} camera(s), 0..{cameras - 1} (or -1, the free '
              'camera).']
  repeat = config.action_repeat or spec.paper_action_repeat or 0
  if repeat < 0:
    return []  # Reported once above, as negative; no frame count from it.
  if repeat == 0:
    return [f"Task '{task}' has no paper action repeat: pass --action_repeat."]
  frames = -(-config.episode_length // repeat) + 1  # ceil(T / R) + 1
  if config.chunk_length > frames:
    return [f'--chunk_length={config.chunk_length} exceeds the {frames} '
            f'frames of an episode of {task} ({config.episode_length} steps '
            f'at action repeat {repeat}): use a shorter --chunk_length or a '
            'longer --episode_length.']
  return []


def tasks(config: 'Config | Mapping[str, Any]') -> list:
  """The task names of a config's `task` (several for one agent on all
  tasks); `config` may also be a stored config.json's dict."""
  task = (config.get('task', Config.task) if isinstance(config, Mapping)
          else config.task)
  return [name.strip() for name in str(task).split(',') if name.strip()]


def action_repeat(config: Config, task: str | None = None) -> int:
  """The action repeat in force for `task` (default: the first task): the
  flag if set, else the paper's value for the task's domain."""
  if config.action_repeat:
    return config.action_repeat
  spec = envs.resolve_task(task or tasks(config)[0])
  return spec.paper_action_repeat or 0
