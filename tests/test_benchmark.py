import re
import subprocess
import sys

from planet_tf import benchmark
from planet_tf import config as config_lib


def test_flop_counts_match_the_layer_shapes():
  paper = config_lib.resolve()
  # About 582 GFLOP per training step and 92 GFLOP per CEM call (DESIGN.md).
  assert abs(benchmark.train_step_flops(paper, 6) / 1e9 - 582) < 20
  assert abs(benchmark.cem_flops(paper, 6) / 1e9 - 92) < 3
  # The encoder's first conv: 31x31 outputs, 4x4x3 inputs, 32 filters.
  assert benchmark.encoder_flops(32) > 2 * 31 * 31 * 48 * 32
  assert abs(benchmark.replay_memory_gb() - 1.55) < 0.01


def _run_benchmark(*flags):
  """`python -m planet_tf.benchmark --sizes=tiny --repeats=1 ...`."""
  return subprocess.run(
      [sys.executable, '-m', 'planet_tf.benchmark', '--sizes=tiny',
       '--repeats=1', *flags], capture_output=True, text=True, timeout=240)


def test_benchmark_runs_at_tiny_sizes_and_prints_every_hot_path():
  # Action size 1 here (cartpole's); the mixed-precision test times A=6.
  result = _run_benchmark('--noenvs', '--nomemory', '--noacting',
                          '--action_sizes=1')
  assert result.returncode == 0, result.stderr[-2000:]
  out = result.stdout
  for needle in ('numpy', 'tf.matmul', 'train step B=2 L=6 A=1',
                 'CEM J=16 H=3 I=2 xla=True groups=2',
                 'CEM J=16 H=3 I=2 xla=False groups=2',
                 'CEM J=16 H=3 I=2 xla=False groups=1', 'agent step',
                 'trace', 'peak resident memory', 'GFLOP/s', 'numpy beside'):
    assert needle in out, needle
  assert 'only train steps' not in out and 'A=6' not in out


def test_benchmark_measures_training_step_memory_in_fresh_processes():
  result = _run_benchmark('--nomodel', '--noenvs', '--noacting')
  assert result.returncode == 0, result.stderr[-2000:]
  out = result.stdout
  for needle in ('numpy', 'only train steps A=6, backward_chunks=10',
                 'only train steps A=6, backward_chunks=1:',
                 'replay of 1000 cartpole episodes'):
    assert needle in out, needle
  assert 'train step B=' not in out and 'CEM' not in out


def test_benchmark_runs_with_mixed_precision():
  # The configured planner only: the variants are timed in float32 above.
  result = _run_benchmark('--noenvs', '--nomemory', '--noacting',
                          '--mixed_precision', '--action_sizes=6',
                          '--noplanner_variants')
  assert result.returncode == 0, result.stderr[-2000:]
  assert 'mixed_precision=True' in result.stdout
  assert 'train step B=2 L=6 A=6' in result.stdout
  assert 'train step B=2 L=6 A=1' not in result.stdout
  assert result.stdout.count('CEM J=16 H=3 I=2 xla=') == 1, result.stdout
  assert result.stdout.count('agent step (posterior + CEM)') == 1


def test_benchmark_times_the_acting_loop_and_a_batched_test_point():
  result = _run_benchmark('--nomodel', '--noenvs', '--nomemory')
  assert result.returncode == 0, result.stderr[-2000:]
  loop = re.search(r'acting loop J=16: ([\d.]+) ms per step = planner call '
                   r'([\d.]+) \+ env step ([\d.]+) \+ posterior update and '
                   r'between (-?[\d.]+) ms', result.stdout)
  assert loop, result.stdout
  total, *parts = map(float, loop.groups())
  assert abs(total - sum(parts)) < 0.2  # The parts add up to the step.
  assert re.search(r'test point N=2 J=16 \(cheetah_run, 250 steps each\): '
                   r'one after another [\d.]+ min, batched [\d.]+ min',
                   result.stdout), result.stdout


def test_benchmark_refuses_bad_action_sizes():
  result = _run_benchmark('--action_sizes=0,x')
  assert result.returncode != 0
  assert '--action_sizes=0,x' in result.stderr
  assert 'positive integers' in result.stderr
