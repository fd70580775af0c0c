"""Hot-path benchmark: python -m planet_tf.benchmark [--sizes=paper|tiny]

Prints, as medians over several calls after warm-up: the training step
(B=50, L=50, action sizes 1 and 6), one CEM call (J=1000, H=12, I=10), one
agent step (posterior update + plan), one environment step with rendering at
each task's action repeat, the trace + compile time of the training step and
of the planner, and the peak resident memory. In the same run it measures the
machine's fp32 matmul rate (numpy and tf.matmul, 2048 x 2048) and prints
each hot path's achieved GFLOP/s and its share of that rate, and its share
of numpy's rate measured just before each of its calls (steadier on a shared
machine, where the rate drifts). FLOPs are counted from the model's own
layers as TensorFlow traces them (`network_flops`; backward = 2 x forward).

Each section returns its measurements as values (the dataclasses below);
`line` is the one place that turns a measurement into its printed line.

A program, not a library: its length is one section per hot path, each
a short function, and the types of what they measure; nothing imports it
but its tests and the GPU check.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import resource
import statistics
import time
from typing import Callable, Dict, List, Tuple

import numpy as np
from absl import app, flags

from planet_tf import config as config_lib
from planet_tf import runtime

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The benchmark's absl flags (defined by main, not at import)."""
  flags.DEFINE_enum('sizes', 'paper', ['paper', 'tiny'],
                    "paper: the paper's model and batch sizes; tiny: a smoke test.")
  flags.DEFINE_integer('repeats', 5, 'Timed calls per hot path (after warm-up).')
  flags.DEFINE_bool('jit', False, 'Compile the training step with XLA too '
                    '(jit_compile=True). The planner is timed with and '
                    'without XLA either way.')
  flags.DEFINE_bool('mixed_precision', False, 'Networks compute in bfloat16 '
                    "with float32 weights (the config's --mixed_precision).")
  flags.DEFINE_bool('model', True, 'Time the training step, CEM call and '
                    'agent step (--nomodel: only the other figures).')
  flags.DEFINE_bool('planner_variants', True, 'Also time the CEM call and '
                    'agent step with XLA toggled and with one group of all '
                    'J candidates (--noplanner_variants: the configured '
                    'planner only).')
  flags.DEFINE_list('action_sizes', ['1', '6'], 'Action sizes at which the '
                    'training step is timed.')
  flags.DEFINE_bool('envs', True, 'Also time environment steps of the six tasks.')
  flags.DEFINE_bool('acting', True, 'Also time the acting loop (agent step + '
                    'environment step through its process) at J=1000 and '
                    'J=300, and a test point run batched against one '
                    'episode after another.')
  flags.DEFINE_bool('memory', True, 'Also measure the peak memory of a fresh '
                    'process that only runs training steps (chunked and plain).')
  flags.DEFINE_bool('allow_cpu', False, 'Run on the CPU even where the NVIDIA '
                    'driver lists a GPU that TensorFlow cannot use.')
  flags.DEFINE_bool('allow_tf32', False, 'TF32 matmuls on Ampere and newer '
                    "GPUs (off: float32, as on the paper's V100).")


def median_time(fn: Callable[[], object], repeats: int) -> float:
  """Median wall time of `fn` over `repeats` calls, after one warm-up call."""
  fn()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


MATMUL_SIZE = 2048  # The reference product: (2048 x 2048) @ (2048 x 2048).
PLANNER_ACTION_SIZE = 6  # Action size of the timed CEM call and agent step.
MEMORY_ACTION_SIZE = 6  # Action size of the fresh processes' training steps.


@dataclasses.dataclass(frozen=True)
class MatmulRate:
  """The machine's fp32 rate on the reference matmul through one library."""
  name: str  # 'numpy' or 'tf.matmul'.
  gflops: float


@dataclasses.dataclass(frozen=True)
class HotPath:
  """A hot path's median time and FLOPs, beside the numpy matmul rate."""
  name: str  # E.g. 'train step B=50 L=50 A=6', 'CEM J=1000 ...'.
  seconds: float  # Median wall time of one call.
  flop: int  # Per call, as `train_step_flops` or `cem_flops` count them.
  numpy_rate: float  # GFLOP/s of numpy at the start of the run.
  numpy_beside: float  # Median GFLOP/s of numpy just before each call.
  trace_seconds: float | None = None  # Tracing alone, where measured.
  first_call_seconds: float | None = None  # (Compile and) first call.

  @property
  def gflops(self) -> float:
    """Achieved GFLOP/s."""
    return self.flop / self.seconds / 1e9

  @property
  def share_of_numpy(self) -> float:
    """Fraction of numpy's rate at the start of the run."""
    return self.gflops / self.numpy_rate

  @property
  def share_beside(self) -> float:
    """Fraction of numpy's rate measured beside the calls."""
    return self.gflops / self.numpy_beside


@dataclasses.dataclass(frozen=True)
class ActingLoop:
  """Medians per step of a real acting loop and of its parts alone."""
  candidates: int  # J.
  step_seconds: float  # One step of the loop (`driver.run_episodes`).
  planner_seconds: float  # One planner call alone.
  env_seconds: float  # One environment step alone, through its process.

  @property
  def between_seconds(self) -> float:
    """The rest of a step: posterior update, conversions, overhead."""
    return self.step_seconds - self.planner_seconds - self.env_seconds


@dataclasses.dataclass(frozen=True)
class BatchedTestPoint:
  """A test point's episodes one after another against batched."""
  episodes: int  # N.
  candidates: int  # J.
  task: str
  episode_steps: int  # Agent steps per episode.
  step_seconds: float  # A loop step of one episode alone.
  batched_step_seconds: float  # A loop step of all N episodes.


@dataclasses.dataclass(frozen=True)
class EnvStep:
  """The median time of one environment step with rendering."""
  task: str
  repeat: int  # The task's action repeat.
  seconds: float


@dataclasses.dataclass(frozen=True)
class PeakMemory:
  """A peak of memory (`peak_device_memory`)."""
  where: str  # 'host' (resident) or the GPU's name.
  gigabytes: float
  # Of a fresh process running only training steps at these backward
  # chunks (MEMORY_ACTION_SIZE); None: of this process.
  backward_chunks: int | None = None


@dataclasses.dataclass(frozen=True)
class ReplayMemory:
  """The uint8 frames of a replay buffer of cartpole episodes."""
  episodes: int
  repeat: int  # Action repeat.
  gigabytes: float


Measurement = (MatmulRate | HotPath | ActingLoop | BatchedTestPoint | EnvStep
               | PeakMemory | ReplayMemory)


def line(m: Measurement) -> str:
  """The printed line of `m` (of a hot path: with its trace and compile
  time on a second line, where measured)."""
  if isinstance(m, MatmulRate):
    return (f'matmul {MATMUL_SIZE}x{MATMUL_SIZE} fp32 {m.name:<10} '
            f'{m.gflops:8.1f} GFLOP/s')
  if isinstance(m, HotPath):
    row = (f'{m.name:<48} {m.seconds * 1e3:9.1f} ms {m.gflops:7.1f} GFLOP/s '
           f'{100 * m.share_of_numpy:5.1f}% {100 * m.share_beside:5.1f}% '
           f'(numpy beside: {m.numpy_beside:.0f})')
    if m.first_call_seconds is None:
      return row
    trace = '' if m.trace_seconds is None else f' {m.trace_seconds:.1f} s'
    return (f'{row}\n  trace{trace} + compile and first call '
            f'{m.first_call_seconds:.1f} s')
  if isinstance(m, ActingLoop):
    return (f'acting loop J={m.candidates}: {m.step_seconds * 1e3:.1f} ms per '
            f'step = planner call {m.planner_seconds * 1e3:.1f} + env step '
            f'{m.env_seconds * 1e3:.1f} + posterior update and between '
            f'{m.between_seconds * 1e3:.1f} ms '
            f'({100 * m.between_seconds / m.step_seconds:.1f}% of a step)')
  if isinstance(m, BatchedTestPoint):
    alone = m.episodes * m.episode_steps * m.step_seconds
    together = m.episode_steps * m.batched_step_seconds
    return (f'test point N={m.episodes} J={m.candidates} ({m.task}, '
            f'{m.episode_steps} steps each): one after another '
            f'{alone / 60:.1f} min, batched {together / 60:.1f} min '
            f'({m.batched_step_seconds * 1e3:.0f} ms per batched step; '
            f'{alone / together:.2f}x)')
  if isinstance(m, EnvStep):
    return f'env step {m.task:<17} R={m.repeat}        {m.seconds * 1e3:10.1f} ms'
  if isinstance(m, PeakMemory):
    host = m.where == 'host'
    if m.backward_chunks is None:
      return (f"peak {'resident' if host else m.where} memory of this "
              f'process {m.gigabytes:7.2f} GB')
    return (f"peak {'memory' if host else m.where + ' memory'}, process "
            f'running only train steps A={MEMORY_ACTION_SIZE}, '
            f'backward_chunks={m.backward_chunks}: {m.gigabytes:.2f} GB')
  if isinstance(m, ReplayMemory):
    return (f'replay of {m.episodes} cartpole episodes (uint8, '
            f'R={m.repeat}): {m.gigabytes:.2f} GB')
  raise TypeError(f'not a measurement: {m!r}')


def reference_matrix() -> np.ndarray:
  """The float32 matrix whose square is the reference matmul."""
  return np.random.default_rng(0).standard_normal(
      (MATMUL_SIZE, MATMUL_SIZE)).astype(np.float32)


def numpy_rate_now(a: np.ndarray, tries: int = 3) -> float:
  """numpy's GFLOP/s on `a @ a` right now: the best of `tries` calls."""
  best = float('inf')
  for _ in range(tries):
    start = time.perf_counter()
    a @ a
    best = min(best, time.perf_counter() - start)
  return 2 * MATMUL_SIZE ** 3 / best / 1e9


def time_beside_numpy(fn: Callable[[], object], repeats: int,
                      a: np.ndarray) -> Tuple[float, float]:
  """(median wall time of `fn`, median numpy rate measured just before each
  call), over `repeats` calls after one warm-up call. On a shared machine
  the matmul rate drifts within a run (measured here: 88 to 186 GFLOP/s in
  one minute), so a share against the rate beside each call is steadier
  than one against the rate at the start."""
  fn()
  times, rates = [], []
  for _ in range(repeats):
    rates.append(numpy_rate_now(a))
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times), statistics.median(rates)


def _op_flops(op) -> int:
  """FLOPs of one traced matmul or convolution (2 per multiply-add), from
  its static shapes; 0 for any other op. A transposed convolution
  (Conv2DBackpropInput) counts over its input positions."""
  if op.type in ('MatMul', 'BatchMatMulV2'):
    a = op.inputs[0].shape
    depth = a[-2] if op.get_attr(
        'transpose_a' if op.type == 'MatMul' else 'adj_x') else a[-1]
    return 2 * op.outputs[0].shape.num_elements() * depth
  if op.type == 'Conv2D':
    kh, kw, cin, _ = op.inputs[1].shape
    return 2 * op.outputs[0].shape.num_elements() * kh * kw * cin
  if op.type == 'Conv2DBackpropInput':
    kh, kw, cout, _ = op.inputs[1].shape
    return 2 * op.inputs[2].shape.num_elements() * kh * kw * cout
  return 0


def traced_flops(fn: Callable, *shapes: Tuple[int, ...]) -> int:
  """Forward FLOPs of `fn` on float32 inputs of `shapes`: its matmuls and
  convolutions as TensorFlow traces them, so they follow the layers of
  whatever model `fn` runs (element-wise ops are not counted). `fn` must
  hold no symbolic loop (its body would not be counted)."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  specs = [tf.TensorSpec(shape, tf.float32) for shape in shapes]
  graph = tf.function(fn).get_concrete_function(*specs).graph
  return sum(_op_flops(op) for op in graph.get_operations())


def network_flops(world_model) -> Dict[str, int]:
  """Forward FLOPs of each network of `world_model`, traced for one sample:
  'encoder' and 'decoder' per frame, 'posterior_step' (the observation
  step, which includes one prior step) and 'prior_step' per state, 'reward'
  per state."""
  size = world_model.config.image_size
  dynamics = world_model.dynamics
  sizes = dynamics.state_sizes
  action, embed = world_model.action_size, dynamics.embed_size
  features = dynamics.feature_size
  as_state = lambda values: dict(zip(sizes, values))
  return {
      'encoder': traced_flops(world_model.encoder, (1, size, size, 3)),
      'decoder': traced_flops(world_model.decoder.mean, (1, features)),
      'posterior_step': traced_flops(
          lambda a, e, *s: dynamics.obs_step(as_state(s), a, e),
          (1, action), (1, embed), *[(1, n) for n in sizes.values()]),
      'prior_step': traced_flops(
          lambda a, *s: dynamics.img_step(as_state(s), a),
          (1, action), *[(1, n) for n in sizes.values()]),
      'reward': traced_flops(world_model.reward.mean, (1, features)),
  }


def train_step_flops(world_model, batch_size: int, chunk_length: int) -> int:
  """FLOPs of one training step on B x L frames: forward x 3 (backward =
  2 x forward) of encoder, posterior step, decoder and reward model."""
  flops = network_flops(world_model)
  per_frame = (flops['encoder'] + flops['posterior_step'] + flops['decoder']
               + flops['reward'])
  return 3 * batch_size * chunk_length * per_frame


def cem_flops(world_model, candidates: int, horizon: int,
              iterations: int) -> int:
  """FLOPs of one CEM call: J x H x I prior steps and reward predictions."""
  flops = network_flops(world_model)
  return candidates * horizon * iterations * (flops['prior_step'] +
                                               flops['reward'])


def matmul_rates(repeats: int) -> List[MatmulRate]:
  """Best-of-medians fp32 GFLOP/s of numpy and tf.matmul at 2048 x 2048
  (numpy's first)."""
  import tensorflow as tf
  a = reference_matrix()
  flop = 2 * MATMUL_SIZE ** 3
  ta = tf.constant(a)
  tf_matmul = lambda: tf.matmul(ta, ta).numpy()
  rates = []
  for name, fn in (('numpy', lambda: a @ a), ('tf.matmul', tf_matmul)):
    best = min(median_time(fn, repeats) for _ in range(3))
    rates.append(MatmulRate(name, flop / best / 1e9))
  return rates


def peak_memory_gb() -> float:
  """Peak resident memory of this process so far (ru_maxrss)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def peak_device_memory() -> Tuple[str, float]:
  """('GPU:0', its peak allocated GB) where TensorFlow computes on a GPU,
  else ('host', peak resident GB): the memory the computation needs."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  if tf.config.list_logical_devices('GPU'):
    return 'GPU:0', tf.config.experimental.get_memory_info('GPU:0')['peak'] / 1e9
  return 'host', peak_memory_gb()


def _train_step_peak_child(values: dict, action_size: int, steps: int,
                           queue) -> None:
  """In a fresh process: `steps` training steps on random data; puts the
  process's peak memory (`peak_device_memory`) on `queue`."""
  runtime.configure_tensorflow(allow_cpu=True)  # Memory growth: the parent
  # holds the same GPU.
  from planet_tf import learner
  from planet_tf.world_model import WorldModel
  c = config_lib.Config.from_dict(values)
  world_model = WorldModel(c, action_size)
  step = learner.make_train_step(world_model, learner.make_optimizer(c), c)
  rng = np.random.default_rng(0)
  shape = (c.batch_size, c.chunk_length)
  batch = (rng.integers(0, 256, shape + (64, 64, 3), dtype=np.uint8),
           rng.uniform(-1, 1, shape + (action_size,)).astype(np.float32),
           rng.uniform(0, 1, shape).astype(np.float32))
  for _ in range(steps):
    float(step(*batch)['loss'])
  queue.put(peak_device_memory())


def train_step_peak_memory_gb(c: config_lib.Config, action_size: int,
                              steps: int = 3) -> Tuple[str, float]:
  """Peak memory (`peak_device_memory`: GPU, else resident) of a fresh
  process (TF imported, world model built) that runs only training steps:
  what a training step needs."""
  context = multiprocessing.get_context('spawn')
  queue = context.Queue()
  child = context.Process(target=_train_step_peak_child,
                          args=(c.to_dict(), action_size, steps, queue))
  child.start()
  try:
    return queue.get(timeout=1800)
  finally:
    child.join()


def benchmark_memory(c: config_lib.Config) -> List[PeakMemory]:
  """`train_step_peak_memory_gb` at c's backward chunks, then unchunked."""
  return [PeakMemory(*train_step_peak_memory_gb(
      c.replace(backward_chunks=chunks), MEMORY_ACTION_SIZE), chunks)
          for chunks in dict.fromkeys((c.backward_chunks, 1))]


def replay_memory_gb(episodes: int = 1000, repeat: int = 8) -> float:
  """uint8 frames of `episodes` cartpole episodes at action repeat R."""
  frames = episodes * (1000 // repeat + 1)
  return frames * 64 * 64 * 3 / 1e9


def _config(sizes: str) -> config_lib.Config:
  """The paper's sizes or tiny ones, resolved for this device."""
  if sizes == 'paper':
    return config_lib.for_device(config_lib.resolve(['paper']))
  return config_lib.for_device(config_lib.resolve(['paper'], dict(
      deter_size=16, stoch_size=4, hidden_size=16, cnn_depth=4, embed_size=32,
      reward_units=16, batch_size=2, chunk_length=6, candidates=16, top_k=4,
      horizon=3, iterations=2, test_episodes=2)))


def benchmark_model(c: config_lib.Config, repeats: int, jit: bool,
                    rate: float, action_sizes: Tuple[int, ...] = (1, 6),
                    planner_variants: bool = True) -> List[HotPath]:
  """Times the training step at each of `action_sizes`, then the CEM call
  and the agent step (at PLANNER_ACTION_SIZE), as configured and, with
  `planner_variants`, with XLA toggled and in one group. `rate`: numpy's
  GFLOP/s at the start of the run."""
  import tensorflow as tf
  from planet_tf import learner
  from planet_tf.agent import Agent, make_planner
  from planet_tf.world_model import WorldModel
  rows = []
  rng = np.random.default_rng(0)
  a = reference_matrix()
  for action_size in action_sizes:
    wm = WorldModel(c, action_size)
    optimizer = learner.make_optimizer(c)
    step = learner.make_train_step(wm, optimizer, c, jit_compile=jit)
    batch = (rng.integers(0, 256, (c.batch_size, c.chunk_length, 64, 64, 3),
                          dtype=np.uint8),
             rng.uniform(-1, 1, (c.batch_size, c.chunk_length, action_size)
                         ).astype(np.float32),
             rng.uniform(0, 1, (c.batch_size, c.chunk_length)).astype(np.float32))
    start = time.perf_counter()
    step.get_concrete_function(*[tf.TensorSpec(x.shape, x.dtype) for x in batch])
    trace = time.perf_counter() - start
    start = time.perf_counter()
    float(step(*batch)['loss'])
    first = time.perf_counter() - start
    seconds, beside = time_beside_numpy(
        lambda: float(step(*batch)['loss']), repeats, a)
    rows.append(HotPath(
        f'train step B={c.batch_size} L={c.chunk_length} A={action_size}',
        seconds, train_step_flops(wm, c.batch_size, c.chunk_length), rate,
        beside, trace, first))
  # Reuse the last training step's model where it has the planner's size.
  planner_wm = (wm if action_sizes[-1] == PLANNER_ACTION_SIZE
                else WorldModel(c, PLANNER_ACTION_SIZE))
  state = {k: tf.zeros([1, v])
           for k, v in planner_wm.dynamics.state_sizes.items()}
  flop = cem_flops(planner_wm, c.candidates, c.horizon, c.iterations)
  configured = jit or c.xla_planner
  # The configured planner first, then XLA toggled and one group of all J.
  variants = [(configured, c.planner_groups)]
  if planner_variants:
    variants += [(not configured, c.planner_groups), (configured, 1)]
  for xla, groups in variants:
    plan = make_planner(c.replace(planner='cem', planner_groups=groups),
                        PLANNER_ACTION_SIZE)
    planner = tf.function(lambda s: plan(
        planner_wm.dynamics, planner_wm.reward.mean, s), jit_compile=xla)
    start = time.perf_counter()
    planner(state).numpy()
    first = time.perf_counter() - start
    seconds, beside = time_beside_numpy(
        lambda: planner(state).numpy(), repeats, a)
    name = f'J={c.candidates} H={c.horizon} I={c.iterations} xla={xla} groups={groups}'
    rows.append(HotPath(f'CEM {name}', seconds, flop, rate, beside,
                        first_call_seconds=first))
    agent = Agent(planner_wm, c.replace(xla_planner=xla, planner_groups=groups))
    agent.reset()
    frame = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    seconds, beside = time_beside_numpy(
        lambda: agent.act(frame[None], explore=True), repeats, a)
    rows.append(HotPath(f'agent step (posterior + CEM) xla={xla} groups={groups}',
                        seconds, flop, rate, beside))
  return rows


ACTING_TASK = 'cheetah_run'  # The task of the acting-loop figures (R=4, A=6).


def _acting_setup(c: config_lib.Config, candidates: int, top_k: int,
                  environments: int, steps: int):
  """A world model, an agent and a planner call at J=`candidates`, and
  `environments` environments of ACTING_TASK whose episodes last `steps`
  agent steps."""
  import tensorflow as tf
  from planet_tf import driver, envs
  from planet_tf.agent import Agent, make_planner
  from planet_tf.world_model import WorldModel
  cj = c.replace(task=ACTING_TASK, candidates=candidates, top_k=top_k,
                 planner_groups=min(c.planner_groups, candidates),
                 episode_length=steps * 4)
  wm = WorldModel(cj, PLANNER_ACTION_SIZE)
  plan = make_planner(cj, PLANNER_ACTION_SIZE)
  planner = tf.function(lambda s: plan(wm.dynamics, wm.reward.mean, s))
  made = [envs.PaddedActions(driver.make_env(cj, ACTING_TASK),
                             PLANNER_ACTION_SIZE)
          for _ in range(environments)]
  return wm, Agent(wm, cj), planner, made


def _interleaved_loop(agent, planner, belief, loop_envs, spare_env,
                      steps: int) -> Dict[str, float]:
  """Medians per step of a real acting loop (`driver.run_episodes`: agent
  step for all environments, their steps concurrently, the bookkeeping),
  and, interleaved with its steps so that all three see the same machine,
  one planner call alone and one environment step alone (`spare_env`,
  through its process)."""
  from planet_tf import driver
  loop, plan, step = [], [], []
  zero = np.zeros(PLANNER_ACTION_SIZE, np.float32)
  mark = [None]

  def on_step():
    now = time.perf_counter()
    if mark[0] is not None:  # The first step also holds the resets.
      loop.append(now - mark[0])
    start = time.perf_counter()
    planner(belief).numpy()
    plan.append(time.perf_counter() - start)
    start = time.perf_counter()
    spare_env.step(zero)
    step.append(time.perf_counter() - start)
    mark[0] = time.perf_counter()
  planner(belief).numpy()  # Traced and warm.
  spare_env.reset(0)
  agent.reset(len(loop_envs))
  driver.run_episodes(loop_envs, lambda x: agent.act(x, explore=True),
                      list(range(len(loop_envs))), on_step)
  return dict(loop=statistics.median(loop), plan=statistics.median(plan),
              env=statistics.median(step))


def benchmark_acting(
    c: config_lib.Config, repeats: int, sizes: Tuple[Tuple[int, int, int], ...]
) -> List[ActingLoop | BatchedTestPoint]:
  """The acting loop of a real episode, per step, beside its parts measured
  between its steps: the planner call alone and the environment step alone
  (through its process); what remains is the posterior update and whatever
  lies between them (conversions, pickling, per-call overhead). Then a test
  point's N episodes one after another against batched.

  sizes: (J, K, N test episodes) per row group."""
  import tensorflow as tf
  rows = []
  steps = max(repeats, 10)
  for candidates, top_k, episodes in sizes:
    wm, agent, planner, made = _acting_setup(c, candidates, top_k,
                                             episodes + 1, steps)
    belief = {k: tf.zeros([1, v]) for k, v in wm.dynamics.state_sizes.items()}
    try:
      one = _interleaved_loop(agent, planner, belief, made[:1], made[-1], steps)
      rows.append(ActingLoop(candidates, one['loop'], one['plan'], one['env']))
      many = _interleaved_loop(agent, planner, belief, made[:episodes],
                               made[-1], steps)
      rows.append(BatchedTestPoint(episodes, candidates, ACTING_TASK,
                                   -(-1000 // 4), one['loop'], many['loop']))
    finally:
      for env in made:
        env.close()
  return rows


def benchmark_envs(repeats: int) -> List[EnvStep]:
  """One environment step with rendering at each task's action repeat."""
  from planet_tf import env_process
  from planet_tf.tasks import PAPER_TASKS
  rows = []
  for task, (_, _, repeat) in PAPER_TASKS.items():
    with env_process.ProcessEnv(task, repeat) as env:
      env.reset(0)
      action = np.zeros(env.action_size, np.float32)
      seconds = median_time(lambda: env.step(action), max(repeats, 20))
    rows.append(EnvStep(task, repeat, seconds))
  return rows


def _action_sizes(values: List[str]) -> Tuple[int, ...]:
  """--action_sizes as positive integers, or a clear error."""
  try:
    sizes = tuple(int(v) for v in values)
  except ValueError:
    sizes = ()
  if not sizes or min(sizes) < 1:
    raise app.UsageError(f'--action_sizes={",".join(values)}: give positive '
                         'integers, e.g. --action_sizes=1,6.')
  return sizes


def main(argv) -> None:
  """Prints every figure of the benchmark, one line each."""
  del argv
  action_sizes = _action_sizes(FLAGS.action_sizes)
  try:
    device = runtime.configure_tensorflow(FLAGS.allow_cpu, FLAGS.allow_tf32)
  except runtime.DeviceError as error:
    raise app.UsageError(str(error)) from None
  c = config_lib.for_device(_config(FLAGS.sizes).replace(
      mixed_precision=FLAGS.mixed_precision))
  print(device, flush=True)
  print(f'planet-tf benchmark: sizes={FLAGS.sizes} jit={FLAGS.jit} '
        f'mixed_precision={FLAGS.mixed_precision} repeats={FLAGS.repeats} '
        '(medians after warm-up)', flush=True)
  def show(measurements: List[Measurement]) -> None:
    for m in measurements:
      print(line(m), flush=True)
  rates = matmul_rates(FLAGS.repeats)
  show(rates)
  print('hot path, median time, GFLOP/s, share of the numpy rate above, '
        'share of the numpy rate measured beside its calls', flush=True)
  if FLAGS.model:
    show(benchmark_model(c, FLAGS.repeats, FLAGS.jit, rates[0].gflops,
                         action_sizes, FLAGS.planner_variants))
  if FLAGS.acting:
    sizes = ((c.candidates, c.top_k, c.test_episodes), (300, 30, 3))
    show(benchmark_acting(c, FLAGS.repeats,
                          sizes[:1] if FLAGS.sizes == 'tiny' else sizes))
  if FLAGS.envs:
    show(benchmark_envs(FLAGS.repeats))
  if FLAGS.memory:
    show(benchmark_memory(c))
  show([PeakMemory(*peak_device_memory()),
        ReplayMemory(1000, 8, replay_memory_gb(1000, 8))])


if __name__ == '__main__':
  define_flags()
  app.run(main)
