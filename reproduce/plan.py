"""What a sweep will do, before it starts: its runs, budget, where they go,
how many are finished or started, and the hours of compute left (`Plan`,
`plan`), the device line, and the warning for the paper's budget without a
GPU. Reads run directories; creates nothing.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from planet_tf import devices, progress, rundir
from planet_tf.config import Config
from reproduce import common, estimates
from reproduce.common import Run
from reproduce.sweep import Sweep, SweepOptions


def has_gpu() -> bool:
  """Whether `nvidia-smi -L` lists an NVIDIA GPU (a /dev/nvidia* node
  alone, as in a container without the driver's tools, does not count)."""
  return bool(devices.nvidia_gpus())


def device_line(options: SweepOptions) -> str:
  """The sweep's start-up line: the GPUs its runs get, or the CPU."""
  share = options.gpus_per_run
  if options.launcher == 'ray':
    each = ('one GPU per run where it has GPUs' if share is None else
            f'{share:g} GPU per run')
    return f'device: as the Ray cluster assigns, {each}'
  gpus = devices.nvidia_gpus()
  if not gpus:
    return devices.device_line([])
  return (f"device: {len(gpus)} GPU(s) ({'; '.join(gpus)}), "
          f"{1.0 if share is None else share:g} per run")


def _shape(runs: Sequence[Run]) -> str:
  """'rssm, rnn x 6 tasks x 5 seeds'."""
  variants = list(dict.fromkeys(run.variant for run in runs))
  task_count = len(dict.fromkeys(run.task for run in runs))
  seeds = len(dict.fromkeys(run.seed for run in runs))
  tasks_text = ('all tasks in one agent' if runs[0].task is None else
                f"{task_count} task{'s' if task_count > 1 else ''}")
  return (f"{', '.join(variants)} x {tasks_text} x {seeds} "
          f"seed{'s' if seeds > 1 else ''}")


def _run_state(runs: Sequence[Run], runs_dir: str) -> Dict[Run, tuple]:
  """run -> (finished, episodes done, stored config or None, rows)."""
  state = {}
  for run in runs:
    logdir = run.logdir(runs_dir)
    rows = rundir.read_metrics(logdir).rows
    stored = rundir.read_config(logdir)
    done = max((row['episode'] for row in rows), default=0)
    state[run] = (rundir.finished(stored, rows, rundir.run_kind(logdir)),
                  done, stored, rows)
  return state


def _where(runs: Sequence[Run], runs_dir: str, budget: str) -> str:
  """The run directories' pattern, e.g. runs/cpu/rssm/<task>/seed<k>."""
  variants = {run.variant for run in runs}
  run_tasks = {run.task or 'all_tasks' for run in runs}
  return os.path.join(
      os.path.abspath(runs_dir), budget,
      variants.pop() if len(variants) == 1 else '<variant>',
      run_tasks.pop() if len(run_tasks) == 1 else '<task>', 'seed<k>')


def _estimates(configs: Dict[Run, Config], state: Dict[Run, tuple],
               budget: str) -> Tuple[List[Tuple[float, float]], int, str]:
  """(low, high) seconds left per unfinished run with a figure, how many
  have none, and where the figures come from: the sweep's own metrics
  where they have them, else the reference figures of the budget."""
  measured = [(config, rows) for _, _, config, rows in state.values()
              if config is not None and rows]
  rates = estimates.measured_rates(measured,
                                   estimates.reference_rates(budget))
  left = [estimates.remaining_seconds(config.to_dict(), state[run][1], rates)
          for run, config in configs.items()]
  known = [seconds for seconds in left if seconds is not None]
  return known, len(left) - len(known), rates.source


@dataclasses.dataclass(frozen=True)
class Plan:
  """What a sweep will do, before it starts.

  runs: how many it launches, shaped as `shape` ('rssm, rnn x 6 tasks x 5
  seeds'); episodes: the episodes of an unfinished run (one value per
  kind); where: the run directories' pattern; finished, started: runs
  already finished, and started but not finished (to resume); to_run: the
  unfinished runs; estimate: (low, high) seconds of compute left, summed
  over the `estimated` unfinished runs that have a figure (None: no run
  has one), `no_figure` the others; source: where the figures come from;
  per_run_hours: the median hours of an unfinished run with a figure;
  budget, parallel_text: as the plan names them.
  """
  runs: int
  shape: str
  budget: str
  episodes: Tuple[int, ...]
  where: str
  finished: int
  started: int
  to_run: int
  estimate: Optional[Tuple[float, float]]
  estimated: int
  no_figure: int
  source: str
  per_run_hours: Optional[float]
  parallel_text: str

  @property
  def not_started(self) -> int:
    return self.runs - self.finished - self.started

  def text(self) -> str:
    """The plan as the sweep prints it."""
    lines = [
        f'Plan: {self.runs} runs ({self.shape}) at '
        f'{common.budget_label(self.budget)}'
        + (f", {' or '.join(f'{e:,}' for e in self.episodes)} episodes each."
           if self.episodes else '.'),
        f'  Run directories: {self.where} (output in seed<k>.log beside '
        'each).',
        f'  Already finished: {self.finished}. Started, to resume: '
        f'{self.started}. Not started: {self.not_started}.']
    if self.estimate is not None:
      lines.append(
          f'  Estimate: about {progress.format_duration(*self.estimate)} of '
          f'compute for the {self.estimated} unfinished runs '
          f'({self.parallel_text}), from {self.source}.')
    if self.no_figure:
      lines.append(f'  No time figure for {self.no_figure} run(s): the true '
                   'simulator has no reference; its first finished run gives '
                   'one.')
    if not self.to_run:
      lines.append('  Nothing left to run.')
    return '\n'.join(lines)


def plan(sweep: Sweep) -> Plan:
  """The plan of a sweep: its runs, budget, where they go, how many are
  finished or started, and the hours of compute left."""
  options = sweep.options
  runs, configs = sweep.runs, sweep.configs
  state = _run_state(runs, options.runs_dir)
  finished = sum(state[run][0] for run in runs)
  started = sum(not state[run][0] and (state[run][1] > 0 or
                                       state[run][2] is not None)
                for run in runs)
  episodes = sorted({config.total_episodes * len(config.tasks)
                     for config in configs.values()})
  left, unknown, source = _estimates(configs, state, options.budget)
  return Plan(
      runs=len(runs), shape=_shape(runs), budget=options.budget,
      episodes=tuple(episodes),
      where=_where(runs, options.runs_dir, options.budget),
      finished=finished, started=started, to_run=len(configs),
      estimate=((sum(s[0] for s in left), sum(s[1] for s in left))
                if left else None),
      estimated=len(left), no_figure=unknown, source=source,
      per_run_hours=(float(np.median([sum(s) / 2 for s in left])) / 3600
                     if left else None),
      parallel_text=_parallel_text(options))


def _parallel_text(options: SweepOptions) -> str:
  if options.launcher == 'ray':
    return 'summed over runs; Ray spreads them over the cluster'
  if options.parallel == 1:
    return 'one run at a time'
  return (f'summed over runs; --parallel {options.parallel} shares this '
          "machine's cores between them")


def warn_without_gpu(options: SweepOptions,
                     per_run_hours: Optional[float]) -> None:
  """Prints a warning when the paper's budget would run locally without a
  GPU, with the hours per run (`per_run_hours`) that means."""
  if (options.budget != 'paper' or options.launcher != 'local' or
      per_run_hours is None or has_gpu()):
    return
  print(f"Warning: no GPU found (nothing from `nvidia-smi -L`). The paper's budget takes about {per_run_hours:,.0f} hours per "
        "run on this project's 2-core CPU (10-20 hours on a GPU). Consider "
        '--budget=cpu, a GPU machine, or a Ray cluster (--launcher=ray).',
        flush=True)

