import subprocess
import sys

import pytest

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


def test_line_prints_each_measurement_as_the_benchmark_always_has():
  b = benchmark
  train = b.HotPath('train step B=2 L=6 A=1', 0.04, 80_000_000, 100.0, 50.0,
                    trace_seconds=2.84, first_call_seconds=1.36)
  assert (train.gflops, train.share_of_numpy, train.share_beside) == (
      pytest.approx(2.0), pytest.approx(0.02), pytest.approx(0.04))
  expected = {
      b.MatmulRate('tf.matmul', 194.94):
          'matmul 2048x2048 fp32 tf.matmul     194.9 GFLOP/s',
      train:
          'train step B=2 L=6 A=1' + ' ' * 26 + '      40.0 ms     2.0 GFLOP/s'
          '   2.0%   4.0% (numpy beside: 50)\n'
          '  trace 2.8 s + compile and first call 1.4 s',
      b.HotPath('CEM J=16 H=3 I=2 xla=True groups=2', 0.002, 600_000, 100.0,
                103.4, first_call_seconds=1.66):
          'CEM J=16 H=3 I=2 xla=True groups=2' + ' ' * 14 + '       2.0 ms'
          '     0.3 GFLOP/s   0.3%   0.3% (numpy beside: 103)\n'
          '  trace + compile and first call 1.7 s',
      b.ActingLoop(16, 0.025, 0.0027, 0.0215):
          'acting loop J=16: 25.0 ms per step = planner call 2.7 + env step '
          '21.5 + posterior update and between 0.8 ms (3.2% of a step)',
      b.BatchedTestPoint(2, 16, 'cheetah_run', 250, 0.024, 0.048):
          'test point N=2 J=16 (cheetah_run, 250 steps each): one after '
          'another 0.2 min, batched 0.2 min (48 ms per batched step; 1.00x)',
      b.EnvStep('cup_catch', 4, 0.084):
          'env step cup_catch         R=4              84.0 ms',
      b.PeakMemory('host', 1.071, backward_chunks=10):
          'peak memory, process running only train steps A=6, '
          'backward_chunks=10: 1.07 GB',
      b.PeakMemory('GPU:0', 3.5, backward_chunks=1):
          'peak GPU:0 memory, process running only train steps A=6, '
          'backward_chunks=1: 3.50 GB',
      b.PeakMemory('host', 1.071): 'peak resident memory of this process '
                                   '   1.07 GB',
      b.PeakMemory('GPU:0', 3.5): 'peak GPU:0 memory of this process    3.50 GB',
      b.ReplayMemory(1000, 8, b.replay_memory_gb(1000, 8)):
          'replay of 1000 cartpole episodes (uint8, R=8): 1.55 GB',
  }
  for measurement, text in expected.items():
    assert b.line(measurement) == text, measurement
  # The parts of an acting-loop step add up to it.
  loop = b.ActingLoop(16, 0.025, 0.0027, 0.0215)
  assert loop.between_seconds == pytest.approx(0.0008)


def test_model_section_times_every_hot_path_with_its_flops(tiny_config):
  from planet_tf.world_model import WorldModel
  c = tiny_config
  paths = benchmark.benchmark_model(c, 1, False, 100.0, (1,))
  xla, groups = c.xla_planner, c.planner_groups
  planner = [(xla, groups), (not xla, groups), (xla, 1)]
  assert [p.name for p in paths] == ['train step B=3 L=6 A=1'] + [
      name for x, g in planner for name in (
          f'CEM J=16 H=3 I=2 xla={x} groups={g}',
          f'agent step (posterior + CEM) xla={x} groups={g}')]
  train, *planning = paths
  assert train.flop == benchmark.train_step_flops(WorldModel(c, 1), 3, 6)
  cem = benchmark.cem_flops(WorldModel(c, 6), 16, 3, 2)
  assert [p.flop for p in planning] == [cem] * 6
  for path in paths:
    assert path.seconds > 0 and path.numpy_beside > 0, path
    assert path.numpy_rate == 100.0 and path.gflops > 0, path
  assert train.trace_seconds > 0 and train.first_call_seconds > 0
  for cem_call, agent_step in zip(planning[::2], planning[1::2]):
    assert cem_call.trace_seconds is None and cem_call.first_call_seconds > 0
    assert agent_step.first_call_seconds is None


def test_model_section_runs_with_mixed_precision(tiny_config):
  from planet_tf.world_model import WorldModel
  c = tiny_config.replace(mixed_precision=True)
  # The configured planner only: the variants are timed in float32 above.
  paths = benchmark.benchmark_model(c, 1, False, 100.0, (6,),
                                    planner_variants=False)
  xla, groups = c.xla_planner, c.planner_groups
  assert [p.name for p in paths] == [
      'train step B=3 L=6 A=6', f'CEM J=16 H=3 I=2 xla={xla} groups={groups}',
      f'agent step (posterior + CEM) xla={xla} groups={groups}']
  wm = WorldModel(c, 6)
  assert [p.flop for p in paths] == [
      benchmark.train_step_flops(wm, 3, 6),
      *[benchmark.cem_flops(wm, 16, 3, 2)] * 2]
  assert all(p.seconds > 0 for p in paths)


def test_acting_section_times_the_loop_and_a_batched_test_point(tiny_config):
  loop, point = benchmark.benchmark_acting(tiny_config, 1, ((16, 4, 2),))
  assert isinstance(loop, benchmark.ActingLoop) and loop.candidates == 16
  assert min(loop.step_seconds, loop.planner_seconds, loop.env_seconds) > 0
  assert isinstance(point, benchmark.BatchedTestPoint)
  assert (point.episodes, point.candidates, point.task, point.episode_steps) == (
      2, 16, 'cheetah_run', 250)
  assert point.step_seconds == loop.step_seconds
  assert point.batched_step_seconds > 0


def test_env_section_times_each_task_at_its_action_repeat():
  from planet_tf.tasks import PAPER_TASKS
  steps = benchmark.benchmark_envs(1)
  assert [(s.task, s.repeat) for s in steps] == [
      (task, repeat) for task, (_, _, repeat) in PAPER_TASKS.items()]
  assert all(s.seconds > 0 for s in steps)


def test_memory_section_measures_training_steps_in_fresh_processes(
    tiny_config):
  peaks = benchmark.benchmark_memory(tiny_config)  # backward_chunks=10.
  assert [p.backward_chunks for p in peaks] == [10, 1]
  for peak in peaks:
    assert peak.where in ('host', 'GPU:0') and peak.gigabytes > 0, peak
  where, gigabytes = benchmark.peak_device_memory()
  assert where in ('host', 'GPU:0') and gigabytes > 0


def _run_benchmark(*flags):
  """`python -m planet_tf.benchmark --sizes=tiny --repeats=1 ...`."""
  return subprocess.run(
      [sys.executable, '-m', 'planet_tf.benchmark', '--sizes=tiny',
       '--repeats=1', *flags], capture_output=True, text=True, timeout=240)


def test_benchmark_prints_every_hot_path_at_tiny_sizes():
  # The sections' figures are tested above; here what the program prints.
  result = _run_benchmark('--noenvs', '--nomemory', '--action_sizes=1',
                          '--noplanner_variants')
  assert result.returncode == 0, result.stderr[-2000:]
  lines = result.stdout.splitlines()
  starts = ['device: ', 'planet-tf benchmark: sizes=tiny jit=False '
            'mixed_precision=False repeats=1', 'matmul 2048x2048 fp32 numpy',
            'matmul 2048x2048 fp32 tf.matmul', 'hot path, median time',
            'train step B=2 L=6 A=1 ', '  trace ', 'CEM J=16 H=3 I=2 xla=',
            '  trace + compile', 'agent step (posterior + CEM) xla=',
            'acting loop J=16: ', 'test point N=2 J=16 (cheetah_run, ',
            'peak ', 'replay of 1000 cartpole']
  assert len(lines) == len(starts), result.stdout
  for text, start in zip(lines, starts):
    assert text.startswith(start), (text, start)


def test_benchmark_refuses_bad_action_sizes():
  result = _run_benchmark('--action_sizes=0,x')
  assert result.returncode != 0
  assert '--action_sizes=0,x' in result.stderr
  assert 'positive integers' in result.stderr
