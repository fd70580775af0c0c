"""What the console shows while a run goes: a line per episode with an ETA,
and progress within each phase of an episode (updates, collection, testing).

On a terminal each phase gets a tqdm progress bar; otherwise (a log file, a
sweep's per-run log) a plain line at most once a minute, so that logs stay
readable and a long phase still shows it is alive.

The one home of the timing helpers that training and reproduce/ share: the
agent steps of an episode, the ETA of a run from its metrics rows, how a
duration reads, and an episode's console line (a run's log and a sweep's
progress lines both use `episode_line`).
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import (Any, Callable, Iterator, List, Mapping, Optional,
                    Sequence, Tuple, Union)

import numpy as np
from absl import logging

from planet_tf import config as config_lib
from planet_tf.config import Config

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


ConfigLike = Union[Config, Mapping[str, Any]]  # Or a config.json's dict.


def _field(config: ConfigLike, key: str) -> Any:
  return config[key] if isinstance(config, Mapping) else getattr(config, key)


def agent_steps(config: ConfigLike, task: str) -> int:
  """Agent steps of one episode of `task`: ceil(episode_length / R), R the
  action repeat in force (the flag if set, else the paper's for the task).

  Reads no environment, so that estimates stay cheap; a task outside the
  paper's six needs --action_repeat (config validation asks for it)."""
  repeat = config_lib.action_repeat(config, task)
  if not repeat:
    raise ValueError(f"Task '{task}' has no paper action repeat: pass "
                     '--action_repeat.')
  return -(-int(_field(config, 'episode_length')) // int(repeat))


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


def remaining_work(config: ConfigLike, episodes: int) -> Tuple[int, int]:
  """(episodes, test points) left of a run of `config` after `episodes`
  collected episodes (over all its tasks: a round is one per task)."""
  tasks = max(1, len(config_lib.tasks(config)))
  total, every = int(_field(config, 'total_episodes')), int(
      _field(config, 'test_every'))
  rounds = episodes // tasks
  tests = (total // every - rounds // every
           if _field(config, 'test_episodes') else 0)
  return max(0, total * tasks - episodes), max(0, tests)


def default_test_seconds(rows: Sequence[dict], tasks: int) -> Optional[float]:
  """A test point's seconds before one was measured: its episodes plan
  together, about 1.5 collected episodes per task (None before any)."""
  collected = [r for r in rows if r.get('collect_seconds')]
  if not collected:
    return None
  return 1.5 * collected[-1]['collect_seconds'] * tasks


def run_eta(config: ConfigLike, rows: Sequence[dict]) -> Optional[float]:
  """Seconds until a run of `config` ends, from its metrics `rows` so far:
  0 once it has collected every episode, None before its first planned
  episode (`eta_seconds`)."""
  done = max((row['episode'] for row in rows), default=0)
  episodes, tests = remaining_work(config, done)
  if episodes == 0:
    return 0.0
  tasks = max(1, len(config_lib.tasks(config)))
  return eta_seconds(list(rows), episodes, tests,
                     default_test_seconds(rows, tasks))


def format_duration(seconds: float, high: Optional[float] = None) -> str:
  """'40 s', '35 min', '2.4 h' or '1,250 h'; with `high`, the range from
  `seconds` to `high` in the unit of `high`: '40-75 min', '1.7-2.5 h'."""
  top = seconds if high is None else high
  if top >= 5400:
    digits = 1 if top < 36000 else 0
    text = lambda value: f'{value / 3600:,.{digits}f}'
    unit = 'h'
  elif top >= 90:
    text, unit = (lambda value: f'{value / 60:.0f}'), 'min'
  else:
    text, unit = (lambda value: f'{value:.0f}'), 's'
  if high is None or text(seconds) == text(high):
    return f'{text(top)} {unit}'
  return f'{text(seconds)}-{text(high)} {unit}'


def _returns(row: dict) -> List[str]:
  """'test return 61.3' (and per task 'test return cheetah_run 61.3')."""
  return [f"{key.replace('test_return', 'test return').replace('/', ' ')} "
          f'{value:.1f}' for key, value in row.items()
          if key.startswith('test_return')
          and not key.startswith('test_returns')]


def _eta_text(eta: Optional[float]) -> List[str]:
  if eta is None:
    return []
  return ['done' if eta == 0 else f'ETA {format_duration(eta)}']


def episode_line(row: dict, total_episodes: Optional[int], several_tasks: bool,
                 eta: Optional[float] = None, brief: bool = False) -> str:
  """One episode's metrics row as a line of the console log: episode k/N,
  returns, and 'ETA ...' (or 'done' when `eta` is 0).

  The full line (a run's log) also has env steps, losses and phase times;
  `brief` (a sweep's progress lines, many runs interleaved) leaves them
  out. total_episodes None: 'episode k' alone."""
  parts = [f"episode {row['episode']}"
           + ('' if total_episodes is None else f'/{total_episodes}')
           + (f" ({row.get('task')})" if several_tasks else '')]
  if not brief:
    parts.append(f"env steps {row['env_steps']}")
  if 'train_return' in row:
    parts.append(f"train return {row['train_return']:.1f}")
  if 'loss' in row and not brief:
    parts.append(f"loss {row['loss']:.1f} (image {row['image_nll']:.1f}, "
                 f"reward {row['reward_nll']:.2f}"
                 + (f", kl {row['kl']:.2f})" if 'kl' in row else ')'))
  parts += _returns(row)
  if not brief:
    parts.append(', '.join(f"{k.split('_')[0]} {row[k]:.0f}s" for k in
                           ('train_seconds', 'collect_seconds', 'test_seconds')
                           if k in row))
  return ' | '.join(parts + _eta_text(eta))
