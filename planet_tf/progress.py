"""What the console shows while a run goes: a line per episode with an ETA,
and progress within each phase of an episode (updates, collection, testing).

On a terminal each phase gets a tqdm progress bar; otherwise (a log file, a
sweep's per-run log) a plain line at most once a minute, so that logs stay
readable and a long phase still shows it is alive.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Callable, Iterator, List, Optional

import numpy as np
from absl import logging

PLAIN_INTERVAL = 60.0  # Seconds between plain progress lines.


class Progress:
  """Makes one progress display per phase."""

  def __init__(self, terminal: Optional[bool] = None,
               clock: Callable[[], float] = time.monotonic):
    self.terminal = sys.stderr.isatty() if terminal is None else terminal
    self._clock = clock

  @contextlib.contextmanager
  def phase(self, name: str, total: int) -> Iterator[Callable[[], None]]:
    """Yields a function to call once per unit of work done (of `total`)."""
    if self.terminal:
      from tqdm import tqdm  # pylint: disable=import-outside-toplevel
      with tqdm(total=total, desc=name, leave=False, unit='step',
                dynamic_ncols=True) as bar:
        yield lambda: bar.update(1)
      return
    start = self._clock()
    state = dict(done=0, shown=start)

    def tick() -> None:
      state['done'] += 1
      now = self._clock()
      if now - state['shown'] >= PLAIN_INTERVAL:
        state['shown'] = now
        logging.info('  %s %d/%d (%.0f s)', name, state['done'], total,
                     now - start)

    yield tick


def eta_seconds(rows: List[dict], remaining_episodes: int,
                remaining_tests: int, default_test: Optional[float] = None
                ) -> Optional[float]:
  """Seconds left, from the medians of the planned episodes so far (None
  before the first planned episode). A test point not yet measured counts
  as `default_test` seconds."""
  planned = [r for r in rows if 'loss' in r]  # Updates, then an episode.
  if not planned:
    return None
  episode = float(np.median([r['train_seconds'] + r['collect_seconds']
                             for r in planned[-10:]]))
  tests = [r['test_seconds'] for r in rows if 'test_seconds' in r]
  test = float(np.median(tests[-3:])) if tests else (default_test or 0.0)
  return remaining_episodes * episode + remaining_tests * test


def format_duration(seconds: float) -> str:
  """'2.4 h', '35 min' or '40 s'."""
  if seconds >= 5400:
    return f'{seconds / 3600:.1f} h'
  if seconds >= 90:
    return f'{seconds / 60:.0f} min'
  return f'{seconds:.0f} s'


def episode_line(row: dict, total_episodes: int, several_tasks: bool,
                 eta: Optional[float] = None) -> str:
  """One episode's metrics row as a line of the console log."""
  parts = [f"episode {row['episode']}/{total_episodes}"
           + (f" ({row['task']})" if several_tasks else ''),
           f"env steps {row['env_steps']}",
           f"train return {row['train_return']:.1f}"]
  if 'loss' in row:
    parts.append(f"loss {row['loss']:.1f} (image {row['image_nll']:.1f}, "
                 f"reward {row['reward_nll']:.2f}"
                 + (f", kl {row['kl']:.2f})" if 'kl' in row else ')'))
  for key, value in row.items():
    if key.startswith('test_return') and not key.startswith('test_returns'):
      name = key.replace('test_return', 'test return').replace('/', ' ')
      parts.append(f'{name} {value:.1f}')
  times = ', '.join(f"{k.split('_')[0]} {row[k]:.0f}s" for k in
                    ('train_seconds', 'collect_seconds', 'test_seconds')
                    if k in row)
  if eta is not None:
    times += f' | ETA {format_duration(eta)}'
  return ' | '.join(parts) + ' | ' + times
