"""The GPU check (`bash scripts/gpu_check.sh`): devices, a timed training
step and CEM call (paper sizes on a GPU, tiny on a CPU), one EGL frame on
the assigned GPU, and two tiny runs side by side. Exits non-zero naming the
first problem; without a GPU says so and exits 0 after the CPU checks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from typing import Callable, List

import numpy as np

from planet_tf import devices, runtime

# The tiny runs: a few seconds of training each (tests/conftest.py's TINY).
TINY_RUN = (('episode_length', '40'), ('deter_size', '16'),
            ('stoch_size', '4'), ('hidden_size', '16'), ('cnn_depth', '4'),
            ('embed_size', '32'), ('reward_units', '16'), ('batch_size', '3'),
            ('chunk_length', '6'), ('seed_episodes', '2'),
            ('collect_interval', '2'), ('total_episodes', '3'),
            ('candidates', '16'), ('top_k', '4'), ('horizon', '3'),
            ('iterations', '2'), ('test_every', '3'), ('test_episodes', '1'),
            ('openloop_context', '2'), ('warmup_steps', '0'))


class Problem(Exception):
  """A named problem: the check's one line of failure."""


def _timings(gpu: bool, repeats: int = 5) -> List[str]:
  """Median training step and CEM call, with the peak memory."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from planet_tf import benchmark, learner  # pylint: disable=import-outside-toplevel
  from planet_tf.agent import make_planner  # pylint: disable=import-outside-toplevel
  from planet_tf.world_model import WorldModel  # pylint: disable=import-outside-toplevel
  c = benchmark._config('paper' if gpu else 'tiny')  # pylint: disable=protected-access
  size = 'paper-size' if gpu else 'tiny (no GPU: paper sizes take minutes)'
  wm = WorldModel(c, 6)
  step = learner.make_train_step(wm, learner.make_optimizer(c), c)
  rng = np.random.default_rng(0)
  shape = (c.batch_size, c.chunk_length)
  batch = (rng.integers(0, 256, shape + (64, 64, 3), dtype=np.uint8),
           rng.uniform(-1, 1, shape + (6,)).astype(np.float32),
           rng.uniform(0, 1, shape).astype(np.float32))
  train = benchmark.median_time(lambda: float(step(*batch)['loss']), repeats)
  state = {k: tf.zeros([1, v]) for k, v in wm.dynamics.state_sizes.items()}
  plan = make_planner(wm.config.replace(planner='cem'), 6)
  planner = tf.function(lambda s: plan(wm.dynamics, wm.reward.mean, s))
  cem = benchmark.median_time(lambda: planner(state).numpy(), repeats)
  where, peak = benchmark.peak_device_memory()
  return [f'{size} train step B={c.batch_size} L={c.chunk_length}: median '
          f'{train * 1e3:.0f} ms',
          f'{size} CEM J={c.candidates} H={c.horizon} I={c.iterations}: '
          f'median {cem * 1e3:.0f} ms',
          f"peak {'GPU:0' if where != 'host' else 'resident'} memory: "
          f'{peak:.2f} GB']


def _render(gpu_id: str) -> str:
  """One 64x64 frame through EGL in a child on `gpu_id` (None: the CPU)."""
  env = runtime.child_env()
  env['MUJOCO_GL'] = 'egl'
  if gpu_id:
    env['MUJOCO_EGL_DEVICE_ID'] = gpu_id
  code = ('from dm_control import suite; import numpy as np; '
          'f = suite.load("cheetah", "run").physics.render(64, 64, camera_id=0); '
          'print(f.shape, int(np.ptp(f)))')
  result = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, env=env, timeout=120, check=False)
  if result.returncode != 0 or '(64, 64, 3)' not in result.stdout:
    last = (result.stderr.strip().splitlines() or ['no output'])[-1]
    raise Problem(f'EGL rendering failed (MUJOCO_EGL_DEVICE_ID={gpu_id}): '
                  f'{last}. Install the driver\'s EGL or libegl1 '
                  'libgl1-mesa-dri, or use MUJOCO_GL=osmesa.')
  return (f"one EGL frame rendered{' on GPU ' + gpu_id if gpu_id else ''}: "
          f'{result.stdout.strip()}')


def _two_runs(gpu_ids: List[str]) -> str:
  """Two tiny runs side by side (half a GPU each on the first GPU)."""
  from reproduce import launcher  # pylint: disable=import-outside-toplevel
  from reproduce.common import Run  # pylint: disable=import-outside-toplevel
  with tempfile.TemporaryDirectory() as runs_dir:
    runs = [Run('cartpole_swingup', seed, ('rssm',), 'debug', TINY_RUN)
            for seed in (1, 2)]
    start = time.time()
    outcomes = launcher.launch_local(
        runs, runs_dir, parallel=2, log=lambda line: None, poll_seconds=1.0,
        gpus_per_run=0.5 if gpu_ids else 0.0, gpus=gpu_ids[:1])
    failed = [o for o in outcomes if not o.ok]
    if failed:
      with open(failed[0].logdir + '.log') as file:
        tail = file.read().strip().splitlines()[-1:]
      raise Problem(f'a tiny run failed beside another: {tail}')
  where = f' on GPU {gpu_ids[0]}' if gpu_ids else ' on the CPU'
  return f'two tiny runs side by side{where}: both finished in ' \
         f'{time.time() - start:.0f} s'


def check(say: Callable[[str], None]) -> bool:
  """Says each item as it is done; whether a GPU was used; raises Problem."""
  driver = devices.nvidia_gpus()
  say(f'nvidia-smi -L: {len(driver)} GPU(s)'
           + (''.join(f'\n  {gpu}' for gpu in driver) if driver else
              ' (no driver tools or no GPU)'))
  try:
    say(runtime.configure_tensorflow())
  except runtime.DeviceError as error:
    raise Problem(str(error)) from None
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  gpu = bool(tf.config.list_physical_devices('GPU'))
  ids = [line.split(':')[0].split()[1] for line in driver] if gpu else []
  visible = os.environ.get('CUDA_VISIBLE_DEVICES')
  if visible and ids:
    ids = [gpu_id for gpu_id in visible.split(',') if gpu_id in ids] or ids
  for line in _timings(gpu):
    say(line)
  say(_render(ids[0] if ids else ''))
  say(_two_runs(ids))
  return gpu


def main() -> int:
  """Prints the check, one line per item; the exit code."""
  start = time.time()
  try:
    gpu = check(lambda line: print(line, flush=True))
  except Problem as problem:
    print(f'gpu_check: PROBLEM: {problem}', flush=True)
    return 1
  verdict = ('GPU checks passed' if gpu else
             'no GPU here: the CPU checks passed; nothing was run on a GPU')
  print(f'gpu_check: {verdict} ({time.time() - start:.0f} s).', flush=True)
  return 0


if __name__ == '__main__':
  sys.exit(main())
