"""What a user of reproduce/ meets: the plan and its hours, --dry_run, every
problem reported before anything starts, SIGTERM and Ctrl-C, progress lines,
finished true-simulator runs, malformed metrics lines, the random-policy row.

Sweeps are built and planned in-process from `sweep.SweepOptions`; a few
scripts run as subprocesses, as the user runs them, for what the user reads.
"""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from planet_tf import config as config_lib
from planet_tf import progress, rundir, runtime
from reproduce import common, estimates, outcomes, plan, sweep
from reproduce.common import Run

ROOT = common.REPO_ROOT


def _script(name, *args):
  command = [sys.executable, os.path.join(ROOT, 'reproduce', name), *args]
  return subprocess.run(command, capture_output=True, text=True, timeout=120,
                        cwd=ROOT, env=runtime.child_env())


def _tree(path):
  """Every file and directory under `path`."""
  return sorted(os.path.join(d, n) for d, dirs, files in os.walk(path)
                for n in dirs + files)


def _write_run(logdir, rows, config):
  os.makedirs(logdir, exist_ok=True)
  with open(os.path.join(logdir, 'config.json'), 'w') as file:
    json.dump(config, file)
  with open(os.path.join(logdir, 'metrics.jsonl'), 'w') as file:
    file.writelines(json.dumps(row) + '\n' for row in rows)


def _config(run):
  """The config.json of `run` as its training process writes it."""
  values = dict(task=run.task, seed=run.seed) if run.task else {}
  return config_lib.resolve(run.all_presets(), values).to_dict()


def _timed_rows(config, done, train, collect, test):
  """Rows of episodes 1..done with the given seconds after the seed
  episodes (seed episodes: 10 s of collection), tests on schedule."""
  rows = []
  for episode in range(1, done + 1):
    row = {'episode': episode, 'train_return': 1.0, 'train_seconds': 0.0,
           'collect_seconds': 10.0}
    if episode > config['seed_episodes']:
      row.update(train_seconds=train, collect_seconds=collect, loss=1.0)
    if episode % config['test_every'] == 0:
      row.update(test_seconds=test, test_returns=[1.0, 2.0, 3.0],
                 test_return=2.0)
    rows.append(row)
  return rows


def _true_simulator_run(runs_dir):
  run = Run('cheetah_run', 1, ('true_simulator',), 'cpu')
  _write_run(run.logdir(runs_dir), [{
      'episode': 0, 'env_steps': 0, 'updates': 0, 'test_return': 600.0,
      'test_returns': [500.0, 600.0, 700.0], 'test_seconds': 900.0}],
             _config(run))
  return run


# 1. The plan and its estimate.

def test_reference_figures_give_the_measured_times_of_one_episode():
  cpu = _config(Run('cheetah_run', 1, ('rssm',), 'cpu'))
  assert [progress.agent_steps(cpu, t) for t in common.TASKS] == [
      125, 250, 250, 500, 250, 500]
  # The last episode of a cpu run: a start, C=25 updates (40-75 s), 250
  # agent steps (110-130 s) and a test point of 3 episodes (300-480 s).
  seconds = estimates.remaining_seconds(cpu, 39,
                                        estimates.reference_rates('cpu'))
  np.testing.assert_allclose(seconds, (20 + 40 + 110 + 300,
                                       40 + 75 + 130 + 480))
  # The paper's: 100 updates of 2.75-8 s (Zen 4 to AVX2), 250 steps of
  # 0.39-1.1 s + the environment's 43 ms, then 10 test episodes.
  paper = _config(Run('cheetah_run', 1, ('rssm',), 'paper'))
  fast, slow = 0.043 + 0.39, 0.043 + 1.1
  seconds = estimates.remaining_seconds(paper, 999,
                                        estimates.reference_rates('paper'))
  np.testing.assert_allclose(seconds, (20 + 275 + 2750 * fast,
                                       40 + 800 + 2750 * slow))
  # A whole cpu run of cheetah_run: the 2.5 hours measured here.
  low, high = estimates.remaining_seconds(cpu, 0,
                                          estimates.reference_rates('cpu'))
  assert 1.7 < low / 3600 < high / 3600 < 2.6


def test_first40_is_the_papers_configuration_cut_at_40_episodes():
  run = Run('cartpole_swingup', 1, ('rssm',), 'first40')
  first40 = _config(run)
  paper = _config(Run('cartpole_swingup', 1, ('rssm',), 'paper'))
  assert {k for k in paper if paper[k] != first40[k]} == {'total_episodes'}
  assert first40['total_episodes'] == 40 and first40['seed_episodes'] == 5
  label = common.budget_label('first40')
  assert 'cut at 40 episodes' in label and "NOT the paper's budget" in label
  # 35 planned episodes of 100 updates, 125 CEM steps each, and four test
  # points of 10 episodes: about 4 hours on the Zen 4 CPU (attempt 3 took
  # 38 minutes for its first 10 episodes), 10-11 on the AVX2 one.
  low, high = estimates.remaining_seconds(
      first40, 0, estimates.reference_rates('first40'))
  assert 3.5 < low / 3600 < 4.5 and 9 < high / 3600 < 12


def test_reference_figures_are_read_from_the_timings_data_file():
  timings = estimates.reference_timings()
  assert timings['device'] == 'CPU' and timings['measured']
  slower = json.loads(json.dumps(timings))
  slower['paper_sizes']['update'] = [
      2 * u for u in timings['paper_sizes']['update']]
  base = estimates.reference_rates('first40', timings)
  doubled = estimates.reference_rates('first40', slower)
  np.testing.assert_allclose(doubled.update, [2 * u for u in base.update])
  assert doubled.plan == base.plan


def test_existing_runs_made_with_another_config_are_listed_before_launch(
    tmp_path):
  # Issue 27, 8: a finished run of another batch size is not counted as
  # finished, an unfinished one of another horizon does not pass --dry_run.
  runs = str(tmp_path / 'runs')
  for task, changes, done in (('cheetah_run', {'batch_size': 8}, 4),
                              ('walker_walk', {'horizon': 6}, 1)):
    run = Run(task, 1, ('rssm',), 'debug')
    config = dict(_config(run), **changes)
    _write_run(run.logdir(runs), _timed_rows(config, done, 1, 1, 1), config)
  before = sorted(os.walk(runs))
  result = _script('table1.py', '--dry_run', '--budget=debug', '--seeds=1',
                   '--tasks=cheetah_run,walker_walk', f'--runs_dir={runs}')
  assert result.returncode == 1
  assert 'batch_size: 8 (stored) vs 4' in result.stderr
  assert 'horizon: 6 (stored) vs 4' in result.stderr
  assert 'Already finished' not in result.stdout
  assert sorted(os.walk(runs)) == before  # Nothing created.


def test_dry_run_prints_the_plan_and_creates_nothing(tmp_path):
  runs = tmp_path / 'runs'
  result = _script('table1.py', '--dry_run', '--budget=cpu', '--seeds=5',
                   f'--runs_dir={runs}', f'--results_dir={tmp_path / "out"}')
  assert result.returncode == 0, result.stderr[-3000:]
  assert not os.path.exists(runs) and not os.path.exists(tmp_path / 'out')
  lines = result.stdout.splitlines()
  assert lines[0] == ("Plan: 30 runs (rssm x 6 tasks x 5 seeds) at budget "
                      "'cpu' (preset cpu; NOT the paper's budget, not "
                      'comparable with its numbers), 40 episodes each.')
  assert lines[1] == (f'  Run directories: {runs}/cpu/rssm/<task>/seed<k> '
                      '(output in seed<k>.log beside each).')
  assert lines[2] == ('  Already finished: 0. Started, to resume: 0. '
                      'Not started: 30.')
  assert re.fullmatch(r'  Estimate: about [\d.]+-[\d.]+ h of compute for the '
                      r'30 unfinished runs \(one run at a time\), from '
                      r"reference figures measured on this project's 2-core "
                      r'CPU, an AMD EPYC .*\.', lines[3]), lines[3]
  assert 'Dry run: nothing was started or created.' in lines


def _cpu_table1(runs_dir, seeds=5):
  """Table 1's sweep at budget cpu, built in-process."""
  options = sweep.SweepOptions(seeds=seeds, budget='cpu', dry_run=True,
                               runs_dir=str(runs_dir))
  return sweep.build(options, [('rssm',)], list(common.TASKS),
                     [('true_simulator',)], list(common.TASKS))


def test_the_plan_estimates_from_measured_times_once_runs_have_them(
    tmp_path):
  runs = tmp_path / 'runs'
  fresh = plan.plan(_cpu_table1(runs))
  assert (fresh.finished, fresh.started, fresh.not_started) == (0, 0, 30)
  assert fresh.source.startswith('reference figures measured on')
  assert fresh.estimated == 30 and fresh.no_figure == 0

  # One run finished and one started, twice as slow as the references.
  first, second = (Run('cheetah_run', seed, ('rssm',), 'cpu') for seed in (1, 2))
  config = _config(first)
  _write_run(first.logdir(str(runs)), _timed_rows(config, 40, 150, 250, 800),
             config)
  config = _config(second)
  _write_run(second.logdir(str(runs)), _timed_rows(config, 10, 150, 250, 800),
             config)
  before = _tree(runs)
  measured = plan.plan(_cpu_table1(runs))
  assert _tree(runs) == before
  assert (measured.finished, measured.started, measured.not_started) == (
      1, 1, 28)
  assert measured.to_run == measured.estimated == 29
  assert measured.source == "measured in 50 episodes of this sweep's runs"
  assert measured.estimate[1] > 1.6 * fresh.estimate[1]


def test_the_paper_budget_without_a_gpu_warns_but_runs(tmp_path):
  result = _script('figure4.py', '--dry_run', '--seeds=1',
                   '--tasks=cheetah_run', f'--runs_dir={tmp_path / "runs"}')
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'Plan: 3 runs (rssm, rnn, ssm x 1 task x 1 seed)' in result.stdout
  assert ('Warning: no GPU found' in result.stdout) == (not plan.has_gpu())
  assert not os.path.exists(tmp_path / 'runs')


def test_the_plan_counts_finished_true_simulator_runs(tmp_path):
  runs = str(tmp_path / 'runs')
  _true_simulator_run(runs)
  plan = _script('table1.py', '--dry_run', '--true_simulator', '--budget=cpu',
                 '--seeds=1', '--tasks=cheetah_run', f'--runs_dir={runs}')
  assert plan.returncode == 0, plan.stderr[-3000:]
  assert 'Plan: 2 runs (rssm, true_simulator x 1 task x 1 seed)' in plan.stdout
  assert 'Already finished: 1. Started, to resume: 0. Not started: 1.' in (
      plan.stdout)


# 2. Every problem before anything starts.

def test_a_sweep_is_built_and_planned_in_process(tmp_path):
  runs = tmp_path / 'runs'
  options = sweep.SweepOptions(
      seeds=2, tasks=('cheetah_run', 'walker_walk'), budget='debug',
      runs_dir=str(runs), parallel=2, config_overrides=('horizon=3',),
      extra_args=('--free_nats=2',))
  built = sweep.build(options, [('rssm',), ('rnn',)], list(options.tasks))
  assert built.overrides == (('free_nats', '2'), ('horizon', '3'))
  assert [(r.variant, r.task, r.seed) for r in built.runs[:3]] == [
      ('rssm@free_nats=2,horizon=3', 'cheetah_run', 1),
      ('rssm@free_nats=2,horizon=3', 'cheetah_run', 2),
      ('rssm@free_nats=2,horizon=3', 'walker_walk', 1)]
  assert len(built.runs) == 8 and built.shown == built.runs
  assert set(built.configs) == set(built.runs)
  config = built.configs[built.runs[1]]
  assert (config.model, config.task, config.seed) == ('rssm', 'cheetah_run', 2)
  assert (config.horizon, config.free_nats, config.total_episodes) == (3, 2.0, 4)
  planned = plan.plan(built)
  assert (planned.runs, planned.episodes, planned.to_run) == (8, (4,), 8)
  assert planned.shape == ('rssm@free_nats=2,horizon=3, rnn@free_nats=2,'
                           'horizon=3 x 2 tasks x 2 seeds')
  assert planned.where == os.path.join(str(runs), 'debug', '<variant>',
                                       '<task>', 'seed<k>')
  assert (planned.finished, planned.started, planned.not_started) == (0, 0, 8)
  low, high = planned.estimate
  assert 0 < low <= high and planned.estimated == 8
  assert planned.parallel_text.startswith('summed over runs; --parallel 2')
  assert 'Estimate: about ' in planned.text()
  assert not os.path.exists(runs)  # Building and planning create nothing.


def test_every_problem_is_listed_before_anything_is_created(tmp_path):
  runs = tmp_path / 'runs'
  corrupt = Run('walker_walk', 1, ('rssm',), 'paper',
                (('top_k', '2000'),)).logdir(str(runs))
  os.makedirs(corrupt)
  with open(os.path.join(corrupt, 'config.json'), 'w') as file:
    file.write('{"task": "walk')
  before = _tree(runs)
  options = sweep.SweepOptions(
      seeds=0, parallel=0, tasks=('cheetah_runn', 'walker_walk'),
      runs_dir=str(runs),
      config_overrides=('horizon=abc', 'top_k=2000', 'preset=x'),
      extra_args=('--xla_planner=maybe', 'stray'))
  with pytest.raises(sweep.SweepError) as raised:
    sweep.build(options, [('rssm',)], list(options.tasks))
  problems = raised.value.problems
  expected = ['--seeds=0: pass --seeds=N with N >= 1',
              '--parallel=0: pass --parallel=N with N >= 1',
              "Unexpected argument 'stray'",
              'Override horizon=abc: horizon takes an integer',
              'Override xla_planner=maybe: xla_planner takes true or false',
              "Override 'preset' is set by the sweep itself",
              "Task 'cheetah_runn' is not one of the paper's six",
              '--top_k=2000 exceeds --candidates=1000',
              f'{corrupt}/config.json is corrupt']
  assert len(problems) == len(expected), problems
  for text in expected:
    assert sum(text in line for line in problems) == 1, (text, problems)
  assert str(raised.value).splitlines()[0] == (
      'Error: 9 problem(s); nothing was started or created:')
  assert _tree(runs) == before  # No stray rssm@horizon=abc/ and the like.


def test_a_config_problem_alone_starts_nothing(tmp_path):
  result = _script('figure5.py', '--seeds=2', '--tasks=cheetah_run',
                   f'--runs_dir={tmp_path / "runs"}', '--', '--top_k=2000')
  assert result.returncode == 1
  assert result.stderr.splitlines() == [
      'Error: 1 problem(s); nothing was started or created:',
      '  --top_k=2000 exceeds --candidates=1000: choose top_k <= candidates.']
  assert not os.path.exists(tmp_path / 'runs')


def test_unknown_presets_are_reported_by_the_configs_they_resolve(tmp_path):
  runs = [Run('cheetah_run', 1, ('no_such_preset',), 'cpu'),
          Run('cheetah_run', 2, ('no_such_preset',), 'cpu')]
  configs, problems = common.resolve_configs(runs)
  assert configs == {}
  assert problems == ["Unknown preset 'no_such_preset'. Known presets: "
                      f"{', '.join(config_lib.PRESETS)}."]


# 3. and 4. Signals reach the runs and their environments; progress lines.

@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGINT],
                         ids=['SIGTERM', 'SIGINT'])
def test_a_signal_stops_every_run_and_its_environments(tmp_path, signum,
                                                       tiny, processes):
  overrides = [f'--{key}={value}' for key, value in
               dict(tiny, total_episodes=50).items() if key != 'task']
  log = open(tmp_path / 'stderr', 'w+')
  sweep = subprocess.Popen(
      [sys.executable, os.path.join(ROOT, 'reproduce', 'table1.py'),
       '--budget=debug', '--seeds=1', '--tasks=cheetah_run',
       f'--runs_dir={tmp_path / "runs"}', '--', *overrides],
      stdout=subprocess.PIPE, stderr=log, text=True, cwd=tmp_path,
      env=runtime.child_env())
  lines, tree = [], []
  reader = threading.Thread(target=lambda: lines.extend(sweep.stdout))
  reader.start()
  try:
    # The first progress line: the run is training, its environments are up.
    deadline = time.time() + 45
    while not any('episode 1/50' in line for line in lines):
      assert time.time() < deadline and sweep.poll() is None, (
          lines, open(tmp_path / 'stderr').read()[-2000:])
      time.sleep(0.5)
    tree = processes.descendants(sweep.pid)
    assert len(tree) >= 2, tree  # planet_tf.train and environment processes.
    sweep.send_signal(signum)
    assert sweep.wait(timeout=30) == 128 + signum
    reader.join(timeout=10)
    log.seek(0)
    assert ('interrupted: rerun the same command to resume'
            in log.read().splitlines()[-1])
    assert [pid for pid in tree if processes.alive(pid)] == []
  finally:
    for pid in [sweep.pid] + tree:  # Only what this test started.
      if processes.alive(pid):
        os.kill(pid, signal.SIGKILL)
  stdout = ''.join(lines)
  assert re.search(r'/cheetah_run/seed1: episode 1/50 \| train return -?\d',
                   stdout), stdout
  assert '[1/1] interrupted' in stdout and '1 interrupted.' in stdout
  logdir = common.make_runs([('rssm',)], ['cheetah_run'], 1, 'debug',
                            common.check_overrides(overrides)[0])[0].logdir(
                                str(tmp_path / 'runs'))
  rundir.lock(logdir).close()  # Released: a rerun can resume it.
  assert rundir.last_episode(logdir) >= 1


def test_progress_lines_give_returns_and_the_runs_eta():
  config = dict(task='cheetah_run', total_episodes=10, seed_episodes=2,
                test_every=5, test_episodes=3)
  rows = [{'episode': e, 'train_return': float(e), 'train_seconds': 0.0,
           'collect_seconds': 5.0} for e in (1, 2)]
  rows += [{'episode': e, 'train_return': float(e), 'train_seconds': 20.0,
            'collect_seconds': 40.0, 'loss': 1.0} for e in (3, 4)]
  # 6 episodes of 60 s, two test points of 1.5 x 40 s (none measured yet):
  # the estimate the run's own log shows (progress.run_eta).
  assert progress.run_eta(config, rows) == pytest.approx(480.0)
  rows.append(dict(rows[-1], episode=5, test_seconds=100.0, test_return=7.5,
                   test_returns=[5.0, 10.0]))
  # 5 episodes of 60 s and one test point as long as the measured one.
  assert progress.run_eta(config, rows) == pytest.approx(400.0)
  line = outcomes.progress_line('rssm/cheetah_run/seed1', rows[-1], config,
                                rows)
  assert line == ('rssm/cheetah_run/seed1: episode 5/10 | train return 4.0 | '
                  'test return 7.5 | ETA 7 min')
  assert outcomes.progress_line('x', rows[0], config, rows[:1]).endswith(
      'train return 1.0')  # No ETA before an episode after the seed ones.
  last = dict(rows[-1], episode=10)
  assert outcomes.progress_line('x', last, config, rows + [last]).endswith(
      '| done')


# 5. True-simulator runs count as finished.

def test_true_simulator_runs_are_finished_once_their_row_exists(tmp_path):
  runs = str(tmp_path / 'runs')
  sim = _true_simulator_run(runs)
  assert rundir.is_finished(sim.logdir(runs))
  assert outcomes.pending([sim], runs) == []
  planet = Run('cheetah_run', 1, ('rssm',), 'cpu')
  config = _config(planet)
  _write_run(planet.logdir(runs), _timed_rows(config, 40, 50, 120, 400), config)
  result = _script('table1.py', '--aggregate_only', '--true_simulator',
                   '--budget=cpu', '--seeds=1', '--tasks=cheetah_run',
                   f'--runs_dir={runs}', f'--results_dir={tmp_path / "out"}')
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'true_simulator/cheetah_run: 1/1 runs finished' in result.stdout
  markdown = (tmp_path / 'out' / 'table1_cpu.md').read_text()
  assert '| CEM + true simulator | cheetah_run | 1/1 | 1 | 3 | 0 | 600.0 |' in (
      markdown)


def test_a_multitask_run_is_finished_after_its_last_round(tmp_path):
  run = Run(None, 1, ('multitask',), 'debug')
  config = _config(run)  # 4 rounds of 6 tasks.
  _write_run(run.logdir(str(tmp_path)), [{'episode': e} for e in range(1, 5)],
             config)
  assert not rundir.is_finished(run.logdir(str(tmp_path)))
  _write_run(run.logdir(str(tmp_path)), [{'episode': e} for e in range(1, 25)],
             config)
  assert rundir.is_finished(run.logdir(str(tmp_path)))


# 6. A malformed metrics line neither crashes nor truncates aggregation.

def test_a_malformed_line_is_skipped_and_reported_not_the_rest(tmp_path):
  runs, results = tmp_path / 'runs', tmp_path / 'results'
  logdir = str(runs / 'cpu' / 'rssm' / 'cheetah_run' / 'seed1')
  rows = [{'episode': e, 'train_return': 0.0} for e in range(1, 21)]
  rows[9].update(test_returns=list(range(0, 10)))
  rows[19].update(test_returns=[100.0, 200.0])
  _write_run(logdir, rows, {'total_episodes': 20})
  lines = open(os.path.join(logdir, 'metrics.jsonl')).read().splitlines()
  lines.insert(12, '{"episode": 13, "train_ret')  # Cut off by a crash.
  lines.insert(14, 'not json at all')
  lines.insert(16, '{"note": "JSON, but not a row"}')
  with open(os.path.join(logdir, 'metrics.jsonl'), 'w') as file:
    file.write('\n'.join(lines) + '\n')
  result = _script('figure4.py', '--aggregate_only', '--budget=cpu',
                   '--seeds=1', '--tasks=cheetah_run', f'--runs_dir={runs}',
                   f'--results_dir={results}')
  assert result.returncode == 0, result.stderr[-3000:]
  curve = json.loads((results / 'figure4_cpu.json').read_text())['curves'][
      'cheetah_run']['PlaNet (RSSM)']
  assert curve['episodes'] == [10, 20] and curve['median'] == [4.5, 150.0]
  assert (f'Warning: {logdir}/metrics.jsonl: skipped 3 malformed line(s) '
          "(line 13: '{\"episode\": 13, \"train_ret')") in result.stdout


# 7. Table 1's uniformly random policy row.

def test_table1_adds_the_measured_random_policy_row(tmp_path):
  runs, results = tmp_path / 'runs', tmp_path / 'results'
  planet = Run('cheetah_run', 1, ('rssm',), 'cpu')
  config = _config(planet)
  _write_run(planet.logdir(str(runs)), _timed_rows(config, 40, 50, 120, 400),
             config)
  random_policy = tmp_path / 'random_policy.json'
  random_policy.write_text(json.dumps({
      'episodes_per_task': 10, 'tasks': {
          'cheetah_run': {'returns': [6.0, 13.0, 26.0], 'mean': 13.0,
                          'min': 6.0, 'max': 26.0, 'action_repeat': 4},
          'walker_walk': {'returns': [40.0, 44.0], 'mean': 42.0, 'min': 40.0,
                          'max': 44.0, 'action_repeat': 2}}}))
  args = ['--aggregate_only', '--budget=cpu', '--seeds=1',
          '--tasks=cheetah_run,walker_walk,finger_spin', f'--runs_dir={runs}',
          f'--results_dir={results}']
  result = _script('table1.py', *args, f'--random_policy={random_policy}')
  assert result.returncode == 0, result.stderr[-3000:]
  rows = {row['method']: row
          for row in csv.DictReader(open(results / 'table1_cpu.csv'))}
  row = rows['Uniformly random policy']
  assert (row['source'], row['modality'], row['episodes']) == (
      'measured here', 'pixels', '0')
  assert (row['cheetah_run'], row['walker_walk'], row['finger_spin']) == (
      '13.0', '42.0', '')
  markdown = (results / 'table1_cpu.md').read_text()
  assert '| cheetah_run | 4 | 13.0 | 6.0-26.0 |' in markdown
  assert '| walker_walk | 2 | 42.0 | 40.0-44.0 |' in markdown
  assert 'Uniformly random policy: 10 episodes per task' in markdown
  result = _script('table1.py', *args,
                   f'--random_policy={tmp_path / "missing.json"}')
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'Uniformly random policy' not in (results / 'table1_cpu.csv').read_text()


def test_a_suite_task_the_suite_lacks_is_a_problem_before_launch(tmp_path):
  # Task names outside the paper's six are checked against dm_control's
  # suite (in a child process) with the other problems, before any launch.
  options = sweep.SweepOptions(
      budget='debug', seeds=1, tasks=('hopper_hopp',), runs_dir=str(tmp_path),
      config_overrides=('action_repeat=4',))
  with pytest.raises(sweep.SweepError) as raised:
    sweep.build(options, [('rssm',)], list(options.tasks))
  assert any("Unknown task 'hopper_hopp'" in line
             for line in raised.value.problems), raised.value.problems
  assert not os.listdir(tmp_path)
