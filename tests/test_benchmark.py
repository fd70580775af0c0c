import re
import subprocess
import sys

from planet_tf import benchmark
from planet_tf import config as config_lib


def test_flop_counts_at_the_papers_sizes():
  from planet_tf.world_model import WorldModel
  wm = WorldModel(config_lib.for_device(config_lib.resolve()), 6)
  # About 582 GFLOP per training step and 92 GFLOP per CEM call (DESIGN.md).
  assert abs(benchmark.train_step_flops(wm, 50, 50) / 1e9 - 582) < 20
  assert abs(benchmark.cem_flops(wm, 1000, 12, 10) / 1e9 - 92) < 3
  # The encoder's first conv: 31x31 outputs, 4x4x3 inputs, 32 filters.
  assert benchmark.network_flops(wm)['encoder'] > 2 * 31 * 31 * 48 * 32
  assert abs(benchmark.replay_memory_gb() - 1.55) < 0.01


def _dense(*sizes):
  """FLOPs of dense layers in → out for one row: 2 per multiply-add."""
  return 2 * sum(a * b for a, b in zip(sizes[::2], sizes[1::2]))


def _by_hand(c, action=2):
  """The tiny config's networks (cnn_depth 4, so 128 encoder features)
  written out layer by layer."""
  depth, d, s, h = c.cnn_depth, c.deter_size, c.stoch_size, c.hidden_size
  e, f = 2 * 2 * 8 * depth, s + d
  conv = lambda size, k, cin, cout: 2 * size * size * k * k * cin * cout
  encoder = (conv(31, 4, 3, depth) + conv(14, 4, depth, 2 * depth) +
             conv(6, 4, 2 * depth, 4 * depth) + conv(2, 4, 4 * depth, 8 * depth))
  decoder = (_dense(f, c.embed_size, c.embed_size, 25 * 4 * depth) +
             conv(5, 5, 4 * depth, 2 * depth) + conv(13, 6, 2 * depth, depth) +
             conv(30, 6, depth, 3))  # Transposed: over input positions.
  # RSSM: input layer, GRU gates and candidate, hidden layer, Gaussian head.
  prior = _dense(s + action, h, h + d, 2 * d, h + d, d, d, h, h, 2 * s)
  posterior = prior + _dense(d + e, h, h, 2 * s)
  reward = _dense(f, c.reward_units, c.reward_units, c.reward_units,
                  c.reward_units, 1)
  return dict(encoder=encoder, decoder=decoder, prior_step=prior,
              posterior_step=posterior, reward=reward)


def test_flop_counts_of_a_tiny_model_equal_a_hand_computation(tiny_config):
  from planet_tf.world_model import WorldModel
  c = tiny_config
  flops = benchmark.network_flops(WorldModel(c, 2))
  expected = _by_hand(c)
  assert flops == expected
  per_frame = (expected['encoder'] + expected['posterior_step'] +
               expected['decoder'] + expected['reward'])
  wm = WorldModel(c, 2)
  assert benchmark.train_step_flops(wm, 3, 6) == 3 * 18 * per_frame
  assert benchmark.cem_flops(wm, 16, 3, 2) == 16 * 3 * 2 * (
      expected['prior_step'] + expected['reward'])
  # A layer size changed: the counts follow it.
  wider = c.replace(hidden_size=24, cnn_depth=8)
  wider_flops = benchmark.network_flops(WorldModel(wider, 2))
  assert wider_flops == _by_hand(wider)
  for key in ('encoder', 'decoder', 'prior_step', 'posterior_step'):
    assert wider_flops[key] != flops[key], key


def test_flop_counts_follow_the_other_latent_models(tiny_config):
  from planet_tf.world_model import WorldModel
  for model in ('rnn', 'ssm'):
    c = tiny_config.replace(model=model)
    flops = benchmark.network_flops(WorldModel(c, 2))
    e, s, d, h = 2 * 2 * 8 * c.cnn_depth, c.stoch_size, c.deter_size, c.hidden_size
    if model == 'rnn':  # One GRU step, fed a zero embedding for the prior.
      prior = _dense(2 + e, h, h + d, 2 * d, h + d, d)
      posterior = 2 * prior
    else:  # Dense layers and Gaussian heads only.
      prior = _dense(s + 2, h, h, 2 * s)
      posterior = prior + _dense(2 * s + e, h, h, 2 * s)
    assert (flops['prior_step'], flops['posterior_step']) == (prior, posterior)


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
