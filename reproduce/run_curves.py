"""Learning curves of one run: train and test return per collected episode.

  python reproduce/run_curves.py --logdir=runs/cpu_cheetah --out=results/cpu/cheetah_run_seed1 \
      --random_mean=13 --random_low=6 --random_high=26

Writes <out>.{png,pdf} and <out>.md (the numbers plotted). The optional
random-policy reference is drawn as a line and band, labelled as given.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Dict, List, Optional

if __package__ in (None, ''):  # Run as a script: make `reproduce` importable.
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # pylint: disable=wrong-import-position

from reproduce import common, plotting  # pylint: disable=wrong-import-position


def read_rows(logdir: str) -> List[dict]:
  """The metrics rows of a run; raises ValueError naming a missing file."""
  path = os.path.join(logdir, 'metrics.jsonl')
  if not os.path.exists(path):
    raise ValueError(f'{path} does not exist: train the run first '
                     '(python -m planet_tf.train --logdir=...).')
  with open(path) as file:
    return [json.loads(line) for line in file if line.strip()]


def summarise(rows: List[dict]) -> Dict[str, list]:
  """Episodes with train returns, and test points with mean, min and max."""
  tests = [r for r in rows if r.get('test_returns')]
  return {
      'episode': [r['episode'] for r in rows],
      'train_return': [r['train_return'] for r in rows],
      'test_episode': [r['episode'] for r in tests],
      'test_mean': [sum(r['test_returns']) / len(r['test_returns']) for r in tests],
      'test_min': [min(r['test_returns']) for r in tests],
      'test_max': [max(r['test_returns']) for r in tests],
  }


def markdown(summary: Dict[str, list], title: str) -> str:
  lines = [f'# {title}', '', '| episode | train return | test return mean (min-max) |',
           '|---|---|---|']
  tests = {e: (m, lo, hi) for e, m, lo, hi in zip(
      summary['test_episode'], summary['test_mean'], summary['test_min'],
      summary['test_max'])}
  for episode, train in zip(summary['episode'], summary['train_return']):
    test = tests.get(episode)
    cell = f'{test[0]:.1f} ({test[1]:.1f}-{test[2]:.1f})' if test else ''
    lines.append(f'| {episode} | {train:.1f} | {cell} |')
  return '\n'.join(lines) + '\n'


def plot(summary: Dict[str, list], title: str, stem: str,
         random: Optional[tuple] = None,
         seed_episodes: Optional[int] = None) -> List[str]:
  """Draws the curves; `random` is (mean, low, high, label) or None; a
  dotted line marks the end of the random seed episodes."""
  plt = plotting.pyplot()
  figure, axis = plt.subplots(figsize=(6.4, 4.0))
  axis.plot(summary['episode'], summary['train_return'], '.-', color='#888888',
            label='train return (exploration noise)')
  if summary['test_episode']:
    axis.errorbar(
        summary['test_episode'], summary['test_mean'],
        yerr=[[m - lo for m, lo in zip(summary['test_mean'], summary['test_min'])],
              [hi - m for m, hi in zip(summary['test_mean'], summary['test_max'])]],
        fmt='o-', color='#1f77b4', capsize=3, label='test return: mean, min-max')
  if random:
    mean, low, high, label = random
    axis.axhline(mean, color='#d62728', linestyle='--', label=label)
    axis.axhspan(low, high, color='#d62728', alpha=0.1)
  if seed_episodes:
    axis.axvline(seed_episodes + 0.5, color='#555555', linestyle=':',
                 label=f'after {seed_episodes} random seed episodes: planning')
  axis.set_xlabel('collected episodes')
  axis.set_ylabel('return')
  axis.set_title(title, fontsize=10)
  axis.legend(fontsize=8)
  paths = plotting.save_figure(figure, stem)
  plt.close(figure)
  return paths


def define_flags() -> None:
  flags.DEFINE_string('logdir', None, 'The run directory to plot.')
  flags.DEFINE_string('out', None, 'Output stem: writes <out>.png/.pdf/.md.')
  flags.DEFINE_string('title', None, 'Figure title (default: task, budget).')
  flags.DEFINE_float('random_mean', None, 'A random policy\'s mean return.')
  flags.DEFINE_float('random_low', None, 'Its lowest return.')
  flags.DEFINE_float('random_high', None, 'Its highest return.')
  flags.DEFINE_string('random_label', 'uniformly random policy',
                      'Legend label of the random-policy reference.')


def main(argv) -> None:
  del argv
  values = flags.FLAGS
  if not values.logdir or not values.out:
    sys.exit('Error: pass --logdir=<run directory> and --out=<output stem>.')
  try:
    rows = read_rows(values.logdir)
  except ValueError as error:
    sys.exit(f'Error: {error}')
  config = common.read_config(values.logdir) or {}
  title = values.title or (f"{config.get('task', '?')}, seed {config.get('seed', '?')}, "
                           f'{len(rows)} of {config.get("total_episodes", "?")} episodes')
  summary = summarise(rows)
  random = None
  if values.random_mean is not None:
    random = (values.random_mean, values.random_low or values.random_mean,
              values.random_high or values.random_mean, values.random_label)
  os.makedirs(os.path.dirname(os.path.abspath(values.out)), exist_ok=True)
  for path in plot(summary, title, values.out, random,
                   config.get('seed_episodes')):
    print('wrote', path)
  common.write_atomic(values.out + '.md', markdown(summary, title).encode())
  print('wrote', values.out + '.md')


if __name__ == '__main__':
  define_flags()
  app.run(main)
