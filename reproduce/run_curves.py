"""Learning curves of runs: train and test return per collected episode.

  python reproduce/run_curves.py --logdir=runs/cpu_cheetah --out=results/cpu/cheetah_run_seed1 \
      --random_mean=13 --random_low=6 --random_high=26

Writes <out>.{png,pdf} and <out>.md (the numbers plotted). The optional
random-policy reference is drawn as a line and band, labelled as given.
Several comma-separated --logdir values overlay their runs in one figure,
named by --labels (e.g. the same budget with and without a flag).
"""

from __future__ import annotations

import os
import sys
from typing import Dict, List, Optional, Tuple

from absl import app, flags

from planet_tf import rundir
from reproduce import common, plotting


def read_rows(logdir: str) -> List[dict]:
  """The metrics rows of a run (`rundir.read_metrics`); raises ValueError
  naming a missing file. Lines that are not rows are reported on stderr."""
  path = os.path.join(logdir, rundir.METRICS_FILE)
  if not os.path.exists(path):
    raise ValueError(f'{path} does not exist: train the run first '
                     '(python -m planet_tf.train --logdir=...).')
  metrics = rundir.read_metrics(logdir)
  for number, text in metrics.malformed:
    print(f'Warning: {path}:{number} is not a metrics row, skipped: '
          f'{text[:80]}', file=sys.stderr)
  return metrics.rows


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
  """The plotted numbers as a markdown table, one line per episode."""
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


def plot(summaries: List[Tuple[str, Dict[str, list]]], title: str, stem: str,
         random: Optional[tuple] = None,
         seed_episodes: Optional[int] = None) -> List[str]:
  """Draws the curves of each (label, summary); `random` is (mean, low,
  high, label) or None; a dotted line marks the end of the random seed
  episodes. One run keeps grey train and blue test curves; several runs
  take one colour each, train returns thin, test points with error bars."""
  several = len(summaries) > 1
  # Several runs' legend goes below the axes: inside, it hides their curves.
  figure = plotting.new_figure(figsize=(6.4, 5.6 if several else 4.0))
  axis = figure.subplots()
  for index, (label, summary) in enumerate(summaries):
    style = plotting.variant_style(index)
    color = style['color']
    prefix = f'{label}: ' if several else ''
    axis.plot(summary['episode'], summary['train_return'], '.',
              linestyle=style['linestyle'] if several else '-',
              color=color if several else '#888888',
              alpha=0.45 if several else 1.0, markersize=3 if several else 6,
              label=f'{prefix}train return (exploration noise)')
    if summary['test_episode']:
      axis.errorbar(
          summary['test_episode'], summary['test_mean'],
          yerr=[[m - lo for m, lo in zip(summary['test_mean'], summary['test_min'])],
                [hi - m for m, hi in zip(summary['test_mean'], summary['test_max'])]],
          marker=style['marker'], linestyle=style['linestyle'], color=color,
          capsize=3, label=f'{prefix}test return: mean, min-max')
  if random:
    mean, low, high, label = random
    color = '#555555' if several else '#d62728'  # Grey beside coloured runs.
    axis.axhline(mean, color=color, linestyle='--', label=label)
    axis.axhspan(low, high, color=color, alpha=0.1)
  if seed_episodes:
    axis.axvline(seed_episodes + 0.5, color='#555555', linestyle=':',
                 label=f'after {seed_episodes} random seed episodes: planning')
  axis.set_xlabel('collected episodes')
  plotting.integer_episodes(axis)
  axis.set_ylabel('return')
  axis.set_title(title, fontsize=10)
  if several:
    axis.legend(fontsize=7, loc='upper center', bbox_to_anchor=(0.5, -0.14),
                ncol=2)
  else:
    axis.legend(fontsize=8)
  return plotting.save_figure(figure, stem)


def define_flags() -> None:
  flags.DEFINE_list('logdir', None, 'The run directory to plot, or several '
                    '(comma-separated) to overlay.')
  flags.DEFINE_list('labels', None, 'One legend label per --logdir (needed '
                    'with several runs).')
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
  labels = values.labels or ([''] if len(values.logdir) == 1 else None)
  if not labels or len(labels) != len(values.logdir):
    sys.exit(f'Error: pass one --labels entry per --logdir '
             f'({len(values.logdir)} run directories given).')
  try:
    runs = [(logdir, read_rows(logdir)) for logdir in values.logdir]
  except ValueError as error:
    sys.exit(f'Error: {error}')
  config = rundir.read_config(values.logdir[0]) or {}
  rows = runs[0][1]
  title = values.title or (f"{config.get('task', '?')}, seed {config.get('seed', '?')}, "
                           f'{len(rows)} of {config.get("total_episodes", "?")} episodes')
  summaries = [(label, summarise(run_rows))
               for label, (_, run_rows) in zip(labels, runs)]
  random = None
  if values.random_mean is not None:
    random = (values.random_mean, values.random_low or values.random_mean,
              values.random_high or values.random_mean, values.random_label)
  os.makedirs(os.path.dirname(os.path.abspath(values.out)), exist_ok=True)
  for path in plot(summaries, title, values.out, random,
                   config.get('seed_episodes')):
    print('wrote', path)
  tables = [markdown(summary, f'{title}: {label}' if label else title)
            for label, summary in summaries]
  common.write_atomic(values.out + '.md', '\n'.join(tables).encode())
  print('wrote', values.out + '.md')


if __name__ == '__main__':
  define_flags()
  app.run(main)
