"""Runs a sweep of `Run`s: locally in a process pool, or on a Ray cluster.

Both launchers run the same command per run (`Run.command`), a
`planet_tf.train` process (`planet_tf.true_simulator` for the true
simulator's runs) whose output goes to `<logdir>.log` (appended). Both are
resumable: a finished run (`rundir.is_finished`) is skipped, and an
interrupted one resumes from its last checkpoint because `planet_tf.train`
does so when rerun in the same run directory.

While runs go, each one's metrics.jsonl is followed (`MetricsFollower`): one console
line per collected episode. Each training process starts in a process group
of its own, so that SIGINT or SIGTERM to the sweep reaches it and its
environment processes once (`Children`), and the sweep waits for them before
it raises `Interrupted`.

Here: the local launcher with its runs' GPU slots, and `launch`, which picks
a launcher. The Ray launcher is reproduce/ray_launcher.py, the processes and
signals reproduce/processes.py, what both report reproduce/outcomes.py.
"""

from __future__ import annotations

import concurrent.futures
import queue
import signal
import time
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from planet_tf import devices, rundir, runtime
from reproduce import common, ray_launcher
from reproduce.common import Run
from reproduce.outcomes import (Interrupted, MetricsFollower, Outcome,
                                pending, print_line, report, unknown_presets)
from reproduce.processes import (POLL_SECONDS, TICK_SECONDS, Children,
                                 run_logged, signals_received)

ON_LOCKED = ('skip', 'wait')
LAUNCHERS = ('local', 'ray')


def driver_gpu_ids() -> List[str]:
  """The physical indices of the GPUs `nvidia-smi -L` lists ('0', '1')."""
  return [line.split(':')[0].split()[1] for line in devices.nvidia_gpus()]


def gpu_slots(gpus: Sequence[str], gpus_per_run: float) -> List[str]:
  """One CUDA_VISIBLE_DEVICES value per run that fits at once, round-robin
  over `gpus`: 0.25 gives four slots per GPU ('0', '1', '0', '1', ...), 2
  one slot per pair ('0,1', '2,3'). Empty for gpus_per_run 0."""
  if gpus_per_run <= 0:
    return []
  if not gpus:
    raise ValueError(f'--gpus_per_run={gpus_per_run:g} but `nvidia-smi -L` '
                     'lists no GPU here: pass --gpus_per_run=0 (CPU).')
  if gpus_per_run <= 1:
    per_gpu = int(1 / gpus_per_run + 1e-9)
    return [gpu for _ in range(per_gpu) for gpu in gpus]
  width = int(np.ceil(gpus_per_run))
  if width > len(gpus):
    raise ValueError(f'--gpus_per_run={gpus_per_run:g} exceeds the '
                     f'{len(gpus)} GPU(s) here.')
  return [','.join(gpus[i:i + width])
          for i in range(0, len(gpus) - width + 1, width)]


def gpu_env(env: Mapping[str, str], visible: Optional[str]) -> dict:
  """`env` with the run's GPU(s): CUDA_VISIBLE_DEVICES for TensorFlow and
  MUJOCO_EGL_DEVICE_ID (the first of them) so that its environment
  processes render on the same physical GPU. visible None: unchanged."""
  env = dict(env)
  if visible is not None:
    env['CUDA_VISIBLE_DEVICES'] = visible
    env['MUJOCO_EGL_DEVICE_ID'] = visible.split(',')[0]
  return env


def _run_local(run: Run, runs_dir: str, children: Children,
               log: Callable[[str], None], poll_seconds: float,
               slots: Optional[queue.Queue] = None) -> Outcome:
  logdir = run.logdir(runs_dir)
  if not _wait_for_lock(logdir, children, log, poll_seconds):
    return Outcome(run, logdir, 0, skipped=True, interrupted=True)
  start = time.time()
  if children.signum is None:
    common.write_run_spec(run, runs_dir)
  follower = MetricsFollower(run, logdir, log)
  visible = slots.get() if slots is not None else None
  try:
    code = run_logged(run.command(runs_dir), logdir + '.log', children,
                      gpu_env(runtime.child_env(), visible),
                      poll=follower.poll, poll_seconds=poll_seconds)
  finally:
    if slots is not None:
      slots.put(visible)
  follower.poll()
  stopped = children.signum is not None
  return Outcome(run, logdir, -children.signum if code is None else code,
                 seconds=time.time() - start, interrupted=stopped and code != 0)


def _wait_for_lock(logdir: str, children: Children,
                   log: Callable[[str], None], poll_seconds: float) -> bool:
  """Waits while another process holds the run's lock (--on_locked=wait);
  False if the sweep was stopped meanwhile."""
  holder = rundir.lock_holder(logdir)
  if holder is not None:
    log(f'{logdir} is in use by PID {holder}: waiting for it to end.')
  while holder is not None:
    if children.signum is not None:
      return False
    time.sleep(poll_seconds)
    holder = rundir.lock_holder(logdir)
  return True


def held_runs(runs: Sequence[Run], runs_dir: str) -> Dict[Run, str]:
  """run -> PID of the process holding its run directory, for the runs
  another process (a training run, an earlier sweep's child) is using."""
  held = {}
  for run in runs:
    holder = rundir.lock_holder(run.logdir(runs_dir))
    if holder is not None:
      held[run] = holder
  return held


def _slot_queue(gpus: Optional[Sequence[str]], gpus_per_run: Optional[float],
                parallel: int, log: Callable[[str], None],
                ) -> Tuple[Optional[queue.Queue], int]:
  """The GPU slots' queue (None: no GPU assignment) and the concurrency:
  `parallel`, capped at the runs that fit on the GPUs."""
  gpus = driver_gpu_ids() if gpus is None else list(gpus)
  if gpus_per_run is None:  # As Ray: one GPU per run where there are GPUs.
    gpus_per_run = 1.0 if gpus else 0.0
  slots = gpu_slots(gpus, gpus_per_run)
  if not slots:
    return None, parallel
  if parallel > len(slots):
    log(f'--parallel {parallel} lowered to {len(slots)}: the runs that fit '
        f'on {len(gpus)} GPU(s) at --gpus_per_run={gpus_per_run:g}.')
  slot_queue: queue.Queue = queue.Queue()
  for slot in slots:
    slot_queue.put(slot)
  return slot_queue, min(parallel, len(slots))


def launch_local(runs: Sequence[Run], runs_dir: str, parallel: int = 1,
                 log: Callable[[str], None] = print_line,
                 poll_seconds: float = POLL_SECONDS,
                 gpus_per_run: Optional[float] = None,
                 gpus: Optional[Sequence[str]] = None,
                 on_locked: str = 'skip') -> List[Outcome]:
  """Runs every unfinished run here, `parallel` processes at a time.

  gpus_per_run: GPUs per run (0.25: four runs share a GPU); None: one per
  run where `nvidia-smi -L` lists GPUs (`gpus`, their indices, overrides
  it), else none. Each run gets its GPU(s) round-robin (`gpu_slots`,
  `gpu_env`), and no more runs go at once than fit.
  on_locked: what to do with a run whose directory another process holds:
  'skip' it (named, with the PID) or 'wait' for that process to end.
  Raises Interrupted after SIGINT or SIGTERM, once the runs have stopped.
  """
  if parallel < 1:
    raise ValueError(f'--parallel must be at least 1, got {parallel}.')
  if on_locked not in ON_LOCKED:
    raise ValueError(f"Unknown --on_locked '{on_locked}': skip or wait.")
  slots, parallel = _slot_queue(gpus, gpus_per_run, parallel, log)
  todo = pending(runs, runs_dir)
  outcomes = [Outcome(run, run.logdir(runs_dir), 0, skipped=True)
              for run in runs if run not in todo]
  if on_locked == 'skip':
    for run, holder in held_runs(todo, runs_dir).items():
      log(f'Skipped {run.logdir(runs_dir)}: in use by PID {holder} (another '
          'sweep or training run). Rerun when it ends, or pass '
          '--on_locked=wait.')
      todo.remove(run)
      outcomes.append(Outcome(run, run.logdir(runs_dir), 0, skipped=True,
                              held_by=holder))
  log(f'{len(runs)} runs: {len(outcomes)} finished already, {len(todo)} to '
      f'run here, {parallel} at a time.')
  children = Children()
  with signals_received() as received, \
      concurrent.futures.ThreadPoolExecutor(parallel) as pool:
    futures = {pool.submit(_run_local, run, runs_dir, children, log,
                           poll_seconds, slots) for run in todo}
    forwarded, finished = 0, 0
    while futures:
      done, futures = concurrent.futures.wait(
          futures, TICK_SECONDS, concurrent.futures.FIRST_COMPLETED)
      while forwarded < len(received):  # Each signal once, in order.
        count = children.stop(received[forwarded])
        log(f'{signal.Signals(received[forwarded]).name}: stopping {count} '
            'running run(s) and waiting for them.')
        forwarded += 1
        for future in futures:
          future.cancel()
      for future in done:
        if not future.cancelled():
          finished += 1
          outcomes.append(future.result())
          report(outcomes[-1], finished, len(todo), log)
  if received:
    raise Interrupted(received[0], outcomes)
  return outcomes


def launch(runs: Sequence[Run], runs_dir: str, launcher: str = 'local',
           parallel: int = 1, ray_address: Optional[str] = None,
           log: Callable[[str], None] = print_line,
           gpus_per_run: Optional[float] = None,
           on_locked: str = 'skip') -> List[Outcome]:
  """Runs the sweep with the chosen launcher; see launch_local and
  ray_launcher.launch_ray."""
  missing = unknown_presets(pending(runs, runs_dir))
  if missing:
    raise ValueError(
        f"Preset(s) {', '.join(missing)} are not defined in "
        'planet_tf/config.py PRESETS, so these runs cannot start. Use a '
        'checkout that has them, or --aggregate_only to plot existing runs.')
  if launcher == 'local':
    return launch_local(runs, runs_dir, parallel, log,
                        gpus_per_run=gpus_per_run, on_locked=on_locked)
  if launcher == 'ray':
    return ray_launcher.launch_ray(runs, runs_dir, ray_address,
                                   gpus_per_run=gpus_per_run, log=log)
  raise ValueError(f"Unknown --launcher '{launcher}'. Choose: "
                   f"{', '.join(LAUNCHERS)}.")

