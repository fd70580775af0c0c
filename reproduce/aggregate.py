"""From metrics.jsonl files to the paper's statistics.

The paper's curves (Figures 4, 5, 7) show, per collected-episode count, the
median and the 5th to 95th percentiles of the test returns pooled over seeds
and test trajectories (5 seeds x 10 trajectories). Its Table 1 shows the mean
final test return over the same pool. Everything here is a pure function of
metrics rows (lists of dicts as `planet_tf.rundir.MetricsLog` writes them),
except `load_groups`, which reads them.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Dict, List, Optional, Sequence

import numpy as np

from planet_tf import rundir
from reproduce.common import Run

Rows = List[dict]

LOW_PERCENTILE, HIGH_PERCENTILE = 5.0, 95.0


@dataclasses.dataclass(frozen=True)
class Curve:
  """Per test point: episode, median, percentiles, pooled counts."""
  episodes: List[int]
  median: List[float]
  low: List[float]  # 5th percentile.
  high: List[float]  # 95th percentile.
  trajectories: List[int]  # Returns pooled at each point.
  runs: List[int]  # Runs (seeds) contributing at each point.

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Final:
  """Mean final test return over seeds x trajectories."""
  mean: float
  std: float
  trajectories: int
  runs: int
  episodes: List[int]  # The distinct episodes of the runs' last test points.

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)


def returns_by_episode(rows: Rows, key: str = 'test_returns') -> Dict[int, List[float]]:
  """episode -> the test returns of one run at that episode."""
  return {int(row['episode']): [float(x) for x in row[key]]
          for row in rows if row.get(key)}


def pool(runs_rows: Sequence[Rows],
         key: str = 'test_returns') -> Dict[int, List[List[float]]]:
  """episode -> one list of test returns per run that tested there."""
  pooled: Dict[int, List[List[float]]] = {}
  for rows in runs_rows:
    for episode, returns in returns_by_episode(rows, key).items():
      pooled.setdefault(episode, []).append(returns)
  return dict(sorted(pooled.items()))


def curve(runs_rows: Sequence[Rows], key: str = 'test_returns',
          low: float = LOW_PERCENTILE,
          high: float = HIGH_PERCENTILE) -> Optional[Curve]:
  """Median and percentiles (numpy, linear) of the pooled returns per test
  point; None when no run has a test point."""
  pooled = pool(runs_rows, key)
  if not pooled:
    return None
  values = {e: np.concatenate([np.asarray(r, float) for r in per_run])
            for e, per_run in pooled.items()}
  return Curve(
      episodes=list(values),
      median=[float(np.median(v)) for v in values.values()],
      low=[float(np.percentile(v, low)) for v in values.values()],
      high=[float(np.percentile(v, high)) for v in values.values()],
      trajectories=[len(v) for v in values.values()],
      runs=[len(per_run) for per_run in pooled.values()])


def final(runs_rows: Sequence[Rows], key: str = 'test_returns') -> Optional[Final]:
  """Mean over all runs' test returns at each run's last test point."""
  returns, episodes = [], []
  for rows in runs_rows:
    points = returns_by_episode(rows, key)
    if points:
      last = max(points)
      episodes.append(last)
      returns.extend(points[last])
  if not returns:
    return None
  values = np.asarray(returns, float)
  return Final(mean=float(values.mean()), std=float(values.std()),
               trajectories=len(values), runs=len(episodes),
               episodes=sorted(set(episodes)))


@dataclasses.dataclass
class Group:
  """The runs of one (variant, task) and the metrics they hold so far.

  problems: what could not be read, one line each (malformed metrics lines,
  which are skipped; a corrupt config.json), to show the user.
  """
  variant: str
  task: Optional[str]
  runs: List[Run]
  rows: List[Rows]  # One list per run with metrics.
  finished: int
  problems: List[str] = dataclasses.field(default_factory=list)

  @property
  def total_episodes(self) -> List[int]:
    """The distinct last episodes of the runs with metrics."""
    return sorted({max(row['episode'] for row in rows)
                   for rows in self.rows if rows})


def _malformed_text(logdir: str, malformed: Sequence[tuple]) -> str:
  number, text = malformed[0]
  return (f'{os.path.join(logdir, rundir.METRICS_FILE)}: skipped '
          f'{len(malformed)} malformed line(s) (line {number}: {text[:60]!r}); '
          'the run sets them aside when it resumes.')


def load_groups(runs: Sequence[Run], runs_dir: str) -> Dict[tuple, Group]:
  """Reads every run's metrics (`planet_tf.rundir.read_metrics`: every valid
  row, malformed lines skipped and reported), grouped by (variant, task)."""
  groups: Dict[tuple, Group] = {}
  for run in runs:
    key = (run.variant, run.task)
    group = groups.setdefault(key, Group(run.variant, run.task, [], [], 0))
    group.runs.append(run)
    logdir = run.logdir(runs_dir)
    metrics = rundir.read_metrics(logdir)
    if metrics.rows:
      group.rows.append(metrics.rows)
    if metrics.malformed:
      group.problems.append(_malformed_text(logdir, metrics.malformed))
    try:
      group.finished += rundir.finished(rundir.read_config(logdir),
                                        metrics.rows)
    except rundir.RunDirError as error:
      group.problems.append(str(error))
  return groups


def problems(groups: Dict[tuple, Group]) -> List[str]:
  """Every group's problems."""
  return [text for group in groups.values() for text in group.problems]


def has_metrics(groups: Dict[tuple, Group]) -> bool:
  return any(group.rows for group in groups.values())
