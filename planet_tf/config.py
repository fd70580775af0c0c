"""One frozen config of every hyperparameter, the paper's values as defaults.

Every field is traceable: the comment beside it names the source (paper section
or the official code where the paper is silent). Named presets are partial
overrides applied in order over the defaults; command-line flags come last.

One module on purpose, though over 350 lines: a reader checks every value
against the paper, its rule and the presets that change it in one place;
most of its length is the comments that name each value's source.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, Callable, Mapping, Optional, Sequence, Tuple, Union

from planet_tf.tasks import PAPER_TASKS, paper_action_repeat

# Performance knobs that change no value: 'auto' follows the device.
AUTO = 'auto'
DEVICE_DEFAULTS = {'backward_chunks': {'cpu': 10, 'gpu': 1},
                   'planner_groups': {'cpu': 2, 'gpu': 1}}


# The latent models of `planet_tf.models` (paper Sec. 3 and Fig. 4).
MODELS = ('rssm', 'rnn', 'ssm')
# The planners: CEM (Algorithm 2), Fig. 5's random shooting, and Table 1's
# CEM on the true simulator (`planet_tf.true_simulator`).
PLANNERS = ('cem', 'random_shooting', 'true_simulator')

# Constraints live with the fields: `_checked(default, *rules)` stores the
# rules in the field's metadata; each rule maps (flag name, value) to a
# message naming the fix, or None. `validate` runs them and the rules that
# relate fields; nothing here starts a process or reads a file.
Rule = Callable[[str, Any], Optional[str]]


def _checked(default: Any, *rules: Rule) -> Any:
  return dataclasses.field(default=default, metadata={'rules': rules})


def _positive(name: str, value: Any) -> Optional[str]:
  if value != AUTO and value <= 0:
    return f'--{name} must be positive, got {value}.'
  return None


def _non_negative(name: str, value: Any) -> Optional[str]:
  return f'--{name} must not be negative, got {value}.' if value < 0 else None


def _below(limit: int) -> Rule:
  def rule(name: str, value: Any) -> Optional[str]:
    return (f'--{name} must be below 2**{limit.bit_length() - 1}, got '
            f'{value}.' if value >= limit else None)
  return rule


def _in_range(low: int, high: int) -> Rule:
  def rule(name: str, value: Any) -> Optional[str]:
    return (f'--{name} must be in {low}..{high}, got {value}.'
            if not low <= value <= high else None)
  return rule


def _equal_to(expected: Any, why: str) -> Rule:
  def rule(name: str, value: Any) -> Optional[str]:
    return f'--{name} must be {expected}: {why}.' if value != expected else None
  return rule


def _one_of(*choices: str) -> Rule:
  def rule(name: str, value: Any) -> Optional[str]:
    return (f"Unknown --{name} '{value}'. Choose: {', '.join(choices)}."
            if value not in choices else None)
  return rule


def _camera(name: str, value: Any) -> Optional[str]:
  return (f'--{name} must be -1 (free camera) or a camera index, got '
          f'{value}.' if value < -1 else None)


@dataclasses.dataclass(frozen=True)
class Config:
  """All hyperparameters of a PlaNet run. Defaults reproduce the paper."""

  # Environment (paper Sec. 5, App. A). A comma-separated list of tasks
  # trains one agent on all of them (paper Fig. 7), actions padded.
  task: str = 'cheetah_run'
  # 0: the paper's per-domain value (App. A).
  action_repeat: int = _checked(0, _non_negative)
  # Environment steps per episode (paper Sec. 5).
  episode_length: int = _checked(1000, _positive)
  image_size: int = _checked(64, _equal_to(  # Paper Sec. 5.
      64, 'the encoder and decoder of the paper are built for 64x64 frames'))
  camera_id: int = _checked(0, _camera)  # Official code.
  seed: int = _checked(1, _non_negative, _below(2**32))

  # World model (paper App. A; min_std from the official code).
  # rssm, rnn or ssm (paper Fig. 4).
  model: str = _checked('rssm', _one_of(*MODELS))
  deter_size: int = _checked(200, _positive)  # GRU units.
  stoch_size: int = _checked(30, _positive)  # Diagonal Gaussian latent.
  # Every other fully connected layer.
  hidden_size: int = _checked(200, _positive)
  # Official code: std = softplus(x) + 0.1.
  min_std: float = _checked(0.1, _non_negative)
  # Encoder 32,64,128,256; decoder 128,64,32,3.
  cnn_depth: int = _checked(32, _positive)
  # Encoder output, decoder's first dense layer.
  embed_size: int = _checked(1024, _positive)
  # Paper App. A (official code used 2 x 100).
  reward_layers: int = _checked(2, _positive)
  reward_units: int = _checked(200, _positive)

  # Objective (paper Eq. 3 and App. A; reward scale from the official code).
  bit_depth: int = _checked(5, _in_range(1, 8))
  free_nats: float = _checked(3.0, _non_negative)
  kl_scale: float = _checked(1.0, _non_negative)
  reward_scale: float = _checked(10.0, _non_negative)
  # Latent overshooting (paper Eq. 7): distance D (0 or 1: off, Eq. 3) and
  # beta_{>1}; beta_1 is kl_scale.
  overshooting: int = _checked(0, _non_negative)
  overshooting_scale: float = 1.0

  # Optimiser (paper App. A; warm-up from the official code).
  learning_rate: float = _checked(1e-3, _positive)
  adam_epsilon: float = _checked(1e-4, _positive)
  grad_clip_norm: float = _checked(1000.0, _positive)
  # Linear learning-rate warm-up, in updates. The official camera-ready code
  # (0c6f7d3) ramps over 10,000 trainer steps, which count samples (the batch
  # size per update): 10,000 / 50 = 200 updates. Its later HEAD has none.
  warmup_steps: int = _checked(200, _non_negative)
  batch_size: int = _checked(50, _positive)
  chunk_length: int = _checked(50, _positive)

  # Algorithm 1 (paper App. A).
  seed_episodes: int = _checked(5, _positive)
  collect_interval: int = _checked(100, _positive)
  # Collected episodes in all, seed episodes included.
  total_episodes: int = _checked(1000, _positive)
  exploration_noise: float = _checked(0.3, _non_negative)
  # 'random': paper Fig. 5's random collection.
  collect_policy: str = _checked('planner', _one_of('planner', 'random'))

  # Planner: Algorithm 2 (paper App. B). 'random_shooting' (Fig. 5) picks the
  # best of J sequences from N(0, I); 'true_simulator' runs CEM on copies of
  # the real simulator (Table 1's upper bound), without learning.
  planner: str = _checked('cem', _one_of(*PLANNERS))
  horizon: int = _checked(12, _positive)
  iterations: int = _checked(10, _positive)
  candidates: int = _checked(1000, _positive)
  top_k: int = _checked(100, _positive)
  # 'std': the standard deviation of the top K, sqrt(var + 1e-6), as the
  # code that produced the paper's numbers (0c6f7d3, control/planning.py).
  # 'abs_dev': Algorithm 2 as printed, sigma = sum|a - mu| / (K - 1), read
  # as a typo (README, Fidelity notes).
  cem_std: str = _checked('std', _one_of('abs_dev', 'std'))

  # Evaluation (paper Sec. 5: 10 trajectories; the schedule is ours).
  # Test after every N collected episodes.
  test_every: int = _checked(10, _positive)
  test_episodes: int = _checked(10, _non_negative)
  openloop_context: int = _checked(5, _non_negative)  # Official code.
  # Ours: a video of the first test episode of each test point, written to
  # videos/episode_N.mp4 and TensorBoard (planet_tf/video.py).
  test_video: bool = True

  # Performance (ours; the same mathematics and gradients): the learner runs
  # the decoder's and, where the encoder is a Conv2D + ReLU stack, the
  # encoder's backward passes over this many sequential chunks of the
  # batch's frames, so their temporaries are a fraction of the whole (see
  # `chunking`). 1: the plain computation. 'auto' (`for_device`): 10 on a
  # CPU (a memory saving, time-neutral there), 1 on a GPU.
  backward_chunks: Union[int, str] = _checked(AUTO, _positive)
  # Compile the agent's step (posterior update + planner) with XLA: it fuses
  # the planner's many small element-wise ops, faster on some CPUs and
  # slower on others (docs/performance.md); XLA's random numbers ignore TF's
  # seeds, so planned episodes are then not reproducible from --seed.
  xla_planner: bool = False
  # The planner rolls its J candidates out in this many independent groups
  # (`planning.in_groups`), which TF runs concurrently on its inter-op
  # threads: the same computation (a stochastic model draws its transition
  # noise per group), and the cores stay busy through each group's small
  # ops. 1: one rollout. 'auto' (`for_device`): 2 on a CPU, 1 on a GPU.
  planner_groups: Union[int, str] = _checked(AUTO, _positive)
  # Compute the networks in bfloat16, keeping float32 weights, distributions,
  # losses and recurrent states (Keras 'mixed_bfloat16'). For GPUs with
  # bfloat16 units; no loss scaling is needed (float32's exponent range).
  # Off: the paper's float32 throughout.
  mixed_precision: bool = False

  # Robustness (ours): an update whose loss or gradient norm is not finite is
  # skipped; the run stops once more than this many were skipped in all.
  max_nonfinite_updates: int = _checked(100, _non_negative)
  # Seconds an environment process may take to answer one call (a frozen
  # renderer is then replaced like a dead one; see driver.ENV_RETRIES).
  env_timeout: float = _checked(60.0, _positive)

  @property
  def tasks(self) -> Tuple[str, ...]:
    """The task names, in order: `task` is one name, or several separated
    by commas (one agent on all of them), as the flag and config.json
    spell it."""
    return tuple(name.strip() for name in self.task.split(',')
                 if name.strip())

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


def field_types() -> dict:
  """Field name -> the type of its default (int, float, str, bool)."""
  return {f.name: type(f.default) for f in dataclasses.fields(Config)}


def _check_types(overrides: Mapping[str, Any]) -> dict:
  types = field_types()
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


def check_resolved(config: Config) -> None:
  """Raises ValueError if a device knob of `config` is still 'auto': the
  parts read numbers, resolved once for the device where a run is put
  together (`for_device`: `components.build_trainer` and the programs)."""
  autos = [key for key in DEVICE_DEFAULTS if getattr(config, key) == AUTO]
  if autos:
    raise ValueError(
        f"{', '.join(autos)} still 'auto': resolve the config for this "
        'device first (config.for_device(config)).')


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
  """Raises ValueError listing every problem of `config`, each naming the
  fix. Pure: the checks that need dm_control or a renderer (suite task
  names, cameras) run where environments are made
  (`env_checks.check_environments`)."""
  errors = _field_problems(config) + _relation_problems(config)
  if errors:
    raise ValueError('Invalid config:\n  ' + '\n  '.join(errors))


def _field_problems(config: Config) -> list:
  """The rules stored with each field, and finite floats everywhere."""
  errors = []
  for field in dataclasses.fields(config):
    value = getattr(config, field.name)
    if isinstance(value, float) and not math.isfinite(value):
      errors.append(f'--{field.name} must be a finite number, got {value}.')
      continue
    for rule in field.metadata.get('rules', ()):
      message = rule(field.name, value)
      if message:
        errors.append(message)
  return errors


def _relation_problems(config: Config) -> list:
  """Rules between fields, and each task's frames against the chunk."""
  errors = []
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
  if config.overshooting > config.chunk_length:
    errors.append(f'--overshooting={config.overshooting} exceeds '
                  f'--chunk_length={config.chunk_length}.')
  if config.overshooting > 1 and config.model == 'rnn':
    errors.append('--overshooting needs stochastic latents: the rnn model has '
                  'none (paper Fig. 4). Use --model=rssm or ssm.')
  if plans_on_true_simulator(config) and len(config.tasks) > 1:
    errors.append('--planner=true_simulator runs one task at a time.')
  if config.openloop_context >= config.chunk_length:
    errors.append(f'--openloop_context={config.openloop_context} must be '
                  f'shorter than --chunk_length={config.chunk_length}.')
  names = list(config.tasks)
  if not names:
    errors.append('--task is empty: name a task, e.g. --task=cheetah_run.')
  repeated = sorted({t for t in names if names.count(t) > 1})
  if repeated:  # Each task keys its episodes and rows: copies would collide.
    errors.append(f"--task names {', '.join(repeated)} more than once: name "
                  'each task once.')
  for task in names:
    errors.extend(_task_frame_problems(config, task))
  return errors


def _task_frame_problems(config: Config, task: str) -> list:
  """A task without an action repeat, or a chunk longer than its episode."""
  repeat = action_repeat(config, task)
  if repeat < 0:
    return []  # Reported once, as negative; no frame count from it.
  if repeat == 0:
    return [f"Task '{task}' is not one of the paper's six "
            f"({', '.join(PAPER_TASKS)}): for another dm_control suite task "
            '(domain_task) pass --action_repeat.']
  frames = -(-config.episode_length // repeat) + 1  # ceil(T / R) + 1
  if config.chunk_length > frames:
    return [f'--chunk_length={config.chunk_length} exceeds the {frames} '
            f'frames of an episode of {task} ({config.episode_length} steps '
            f'at action repeat {repeat}): use a shorter --chunk_length or a '
            'longer --episode_length.']
  return []


def tasks(config: 'Config | Mapping[str, Any]') -> list:
  """The task names of a config (`Config.tasks`) or of a stored
  config.json's dict, as a list."""
  if isinstance(config, Mapping):
    config = Config(task=str(config.get('task', Config.task)))
  return list(config.tasks)


def plans_on_true_simulator(config: 'Config | Mapping[str, Any]') -> bool:
  """Whether `config` (or a stored config.json's dict) is Table 1's 'CEM +
  true simulator': planning on the real simulator, no model, no learning,
  one metrics row of test returns (`planet_tf.true_simulator`). The one
  place the planner's name is compared: a run directory's kind
  (`rundir.run_kind`) falls back to it for runs written before kinds."""
  planner = (config.get('planner', Config.planner)
             if isinstance(config, Mapping) else config.planner)
  return planner == 'true_simulator'


def action_repeat(config: 'Config | Mapping[str, Any]',
                  task: str | None = None) -> int:
  """The action repeat in force for `task` (default: the first task): the
  flag if set, else the paper's value for the task; 0 for a task outside
  the paper's six without the flag. `config` may also be a stored
  config.json's dict."""
  repeat = (config.get('action_repeat', 0) if isinstance(config, Mapping)
            else config.action_repeat)
  if repeat:
    return repeat
  return paper_action_repeat(task or tasks(config)[0]) or 0
