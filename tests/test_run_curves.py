import json
import os
import subprocess
import sys

from reproduce import run_curves

ROWS = [{'episode': 1, 'train_return': 10.0},
        {'episode': 2, 'train_return': 12.0, 'test_returns': [3.0, 9.0, 6.0]},
        {'episode': 3, 'train_return': 20.0},
        {'episode': 4, 'train_return': 30.0, 'test_returns': [40.0, 50.0]}]


def test_summary_and_table_hold_the_plotted_numbers():
  summary = run_curves.summarise(ROWS)
  assert summary['episode'] == [1, 2, 3, 4]
  assert summary['test_episode'] == [2, 4]
  assert summary['test_mean'] == [6.0, 45.0]
  assert (summary['test_min'], summary['test_max']) == ([3.0, 40.0], [9.0, 50.0])
  table = run_curves.markdown(summary, 't')
  assert '| 2 | 12.0 | 6.0 (3.0-9.0) |' in table and '| 3 | 20.0 |  |' in table


def test_script_writes_png_pdf_and_table(tmp_path):
  run = tmp_path / 'run'
  run.mkdir()
  (run / 'metrics.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in ROWS))
  (run / 'config.json').write_text(json.dumps({'task': 'cheetah_run', 'seed': 1,
                                               'total_episodes': 40}))
  out = str(tmp_path / 'out' / 'curves')
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  result = subprocess.run(
      [sys.executable, os.path.join(root, 'reproduce', 'run_curves.py'),
       f'--logdir={run}', f'--out={out}', '--random_mean=13',
       '--random_low=6', '--random_high=26'],
      capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  for suffix in ('.png', '.pdf', '.md'):
    assert os.path.getsize(out + suffix) > 0
  assert '4 of 40 episodes' in open(out + '.md').read()
  result = subprocess.run(
      [sys.executable, os.path.join(root, 'reproduce', 'run_curves.py'),
       f'--logdir={tmp_path}/missing', f'--out={out}'],
      capture_output=True, text=True, timeout=120)
  assert result.returncode != 0 and 'metrics.jsonl does not exist' in result.stderr


def test_script_overlays_several_runs_with_labels(tmp_path):
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  runs = []
  for name, scale in (('a', 1.0), ('b', 2.0)):
    run = tmp_path / name
    run.mkdir()
    rows = [dict(r, train_return=scale * r['train_return']) for r in ROWS]
    (run / 'metrics.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in rows))
    (run / 'config.json').write_text(json.dumps({'task': 'cheetah_run', 'seed': 1,
                                                 'total_episodes': 4}))
    runs.append(str(run))
  out = str(tmp_path / 'overlay')
  script = os.path.join(root, 'reproduce', 'run_curves.py')
  result = subprocess.run(
      [sys.executable, script, f'--logdir={",".join(runs)}',
       '--labels=warm-up,no warm-up', f'--out={out}'],
      capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  table = open(out + '.md').read()
  assert 'episodes: warm-up' in table and 'episodes: no warm-up' in table
  assert '| 3 | 20.0 |  |' in table and '| 3 | 40.0 |  |' in table
  assert os.path.getsize(out + '.png') > 0
  result = subprocess.run(
      [sys.executable, script, f'--logdir={",".join(runs)}', f'--out={out}'],
      capture_output=True, text=True, timeout=120)
  assert result.returncode != 0 and 'one --labels entry per --logdir' in result.stderr
