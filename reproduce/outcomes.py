"""What both launchers share and report: each run's `Outcome`, the progress
lines while runs go (`MetricsFollower`: one console line per collected
episode, from the run's metrics.jsonl), and the sweep's summary.
"""

from __future__ import annotations

import dataclasses
import signal
from typing import Callable, List, Mapping, Optional, Sequence

from planet_tf import config as config_lib
from planet_tf import progress, rundir
from reproduce.common import Run


@dataclasses.dataclass(frozen=True)
class Outcome:
  """What became of one run: skipped (already finished), stopped by a
  signal to the sweep (interrupted), or its exit code."""
  run: Run
  logdir: str
  returncode: int
  skipped: bool = False
  seconds: float = 0.0
  interrupted: bool = False
  held_by: Optional[str] = None  # Skipped: the PID using its directory.

  @property
  def ok(self) -> bool:
    return self.returncode == 0


class Interrupted(Exception):
  """The sweep received `signum`; its running runs were stopped and waited
  for. `outcomes` holds every run's outcome so far."""

  def __init__(self, signum: int, outcomes: List[Outcome]):
    super().__init__(f'{signal.Signals(signum).name} received')
    self.signum = signum
    self.outcomes = outcomes


def run_name(run: Run) -> str:
  """variant/task/seed<k>: how progress lines name a run."""
  return f"{run.variant}/{run.task or 'all_tasks'}/seed{run.seed}"


def progress_line(name: str, row: dict,
                  config: Optional[Mapping[str, object]],
                  rows: Sequence[dict], kind: Optional[str] = None) -> str:
  """One metrics row as a console line: run, episode k/N, train return,
  test returns when tested, and the run's ETA (`progress.run_eta`, the
  estimate the run's own log shows). kind: the run's (`rundir.run_kind`
  of its directory); None: `config`'s."""
  if (kind or rundir.run_kind(config)) == rundir.TRUE_SIMULATOR:
    return (f"{name}: true simulator, test return "
            f"{row.get('test_return', float('nan')):.1f}")
  tasks = config_lib.tasks(config) if config else []
  total = (config['total_episodes'] * max(1, len(tasks)) if config else None)
  eta = progress.run_eta(config, rows) if config else None
  return f'{name}: ' + progress.episode_line(
      row, total, several_tasks=len(tasks) > 1, eta=eta, brief=True)


class MetricsFollower:
  """Follows one run's metrics.jsonl (via `rundir.read_metrics`) and logs a
  line for each row past those it has seen."""

  def __init__(self, run: Run, logdir: str, log: Callable[[str], None]):
    self.name = run_name(run)
    self.logdir = logdir
    self.log = log
    self.seen = max((row['episode'] for row in self._rows()), default=-1)

  def _rows(self) -> List[dict]:
    return rundir.read_metrics(self.logdir).rows

  def poll(self) -> None:
    """Logs a progress line for each new row."""
    rows = self._rows()
    new = [row for row in rows if row['episode'] > self.seen]
    if not new:
      return
    try:
      config = rundir.read_config(self.logdir)
      kind = rundir.run_kind(self.logdir)
    except rundir.RunDirError:
      config, kind = None, None
    for row in new:
      self.log(progress_line(self.name, row, config,
                             [r for r in rows if r['episode'] <= row['episode']],
                             kind))
    self.seen = max(row['episode'] for row in new)


def unknown_presets(runs: Sequence[Run]) -> List[str]:
  """Presets the runs name that planet_tf/config.py does not define."""
  from planet_tf.config import PRESETS  # No TensorFlow behind this import.
  names = dict.fromkeys(p for run in runs for p in run.all_presets())
  return [name for name in names if name not in PRESETS]


def pending(runs: Sequence[Run], runs_dir: str) -> List[Run]:
  """The runs that are not finished yet."""
  return [run for run in runs if not rundir.is_finished(run.logdir(runs_dir))]


def print_line(message: str) -> None:
  """The launchers' default log: the console, flushed at once."""
  print(message, flush=True)


def report(outcome: Outcome, done: int, total: int,
            log: Callable[[str], None]) -> None:
  """Logs that run `done` of `total` ended: how, in how long, its log."""
  if outcome.interrupted:
    state = 'interrupted'
  else:
    state = 'ok' if outcome.ok else f'FAILED (exit {outcome.returncode})'
  log(f'[{done}/{total}] {state} in {outcome.seconds:.0f}s: {outcome.logdir} '
      f'(log: {outcome.logdir}.log)')


def summarize(outcomes: Sequence[Outcome]) -> str:
  """One line: how many ran, were skipped, failed (with their logs)."""
  failed = [o for o in outcomes if not o.ok and not o.interrupted]
  stopped = sum(o.interrupted for o in outcomes)
  held = [o for o in outcomes if o.held_by is not None]
  finished = sum(o.skipped and o.held_by is None and not o.interrupted
                 for o in outcomes)
  text = (f'{len(outcomes)} runs: {finished} were '
          f'already finished, {sum(o.ok and not o.skipped for o in outcomes)} '
          f'ran now, {len(failed)} failed'
          + (f', {stopped} interrupted.' if stopped else '.'))
  if held:
    text += (f' {len(held)} skipped, in use by another process: '
             + ', '.join(f'{o.logdir} (PID {o.held_by})' for o in held) + '.')
  if failed:
    text += ' See: ' + ', '.join(o.logdir + '.log' for o in failed)
  return text
