"""The Ray launcher: one Ray task per run on a cluster, running the same
command as the local launcher (`Run.command`) on a worker node.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Callable, List, Optional, Sequence

from planet_tf import runtime
from reproduce import common
from reproduce.common import Run
from reproduce.outcomes import (Interrupted, MetricsFollower, Outcome,
                                pending, print_line, report)
from reproduce.processes import (POLL_SECONDS, TICK_SECONDS, Children,
                                 run_logged, signals_received)


def _ray_task(command: List[str], log_path: str) -> tuple:
  """Body of the Ray task: the same command as locally, on a worker node,
  with the worker's own child environment. The repository and the runs
  directory must be at the same paths there."""
  import socket  # pylint: disable=import-outside-toplevel
  import ray  # pylint: disable=import-outside-toplevel
  start = time.time()
  env = runtime.child_env()  # Ray set CUDA_VISIBLE_DEVICES to its GPU(s).
  ids = [str(gpu) for gpu in ray.get_gpu_ids()]
  if ids:  # Render on the same physical GPU.
    env['MUJOCO_EGL_DEVICE_ID'] = ids[0]
  code = run_logged(command, log_path, Children(), env,
                    header=f'ray worker {socket.gethostname()}: ')
  return code, time.time() - start


def ray_runtime_env() -> dict:
  """The runtime environment Ray workers need to import this package."""
  return {'env_vars': {'PYTHONPATH': common.REPO_ROOT}}


def _import_ray():
  try:
    import ray  # pylint: disable=import-outside-toplevel
  except ImportError as error:
    raise RuntimeError(
        '--launcher=ray needs Ray: pip install -r requirements.txt (pins '
        'ray), or use the default --launcher=local.') from error
  return ray


def _join_ray(ray, address: Optional[str]) -> None:
  if ray.is_initialized():
    return
  try:
    ray.init(address=address, runtime_env=ray_runtime_env())
  except (ConnectionError, RuntimeError, ValueError) as error:
    raise RuntimeError(
        f"Could not join a Ray cluster at --ray_address={address}: "
        f"{str(error).rstrip('.')}. "
        'Start one with `ray start --head` (then --ray_address=auto), pass '
        'its address, or --ray_address=local for a one-machine instance.'
    ) from error


def launch_ray(runs: Sequence[Run], runs_dir: str,
               address: Optional[str] = None, cpus_per_run: float = 1.0,
               gpus_per_run: Optional[float] = None,
               log: Callable[[str], None] = print_line,
               poll_seconds: float = POLL_SECONDS) -> List[Outcome]:
  """Runs every unfinished run as one Ray task each on an existing cluster
  (`address`, e.g. 'auto' or 'ray://head:10001'), or on a Ray instance that
  is already initialised in this process when `address` is None.

  gpus_per_run: None asks for one GPU per run when the cluster has GPUs;
  a fraction (0.25) lets Ray put that many runs on one GPU.
  Progress lines come from the runs' metrics files (shared storage). After
  SIGINT or SIGTERM the tasks are cancelled, which stops their processes,
  and Interrupted is raised.
  """
  ray = _import_ray()
  runs_dir = os.path.abspath(runs_dir)
  _join_ray(ray, address)
  if gpus_per_run is None:
    gpus_per_run = 1.0 if ray.cluster_resources().get('GPU', 0) >= 1 else 0.0
  todo = pending(runs, runs_dir)
  outcomes = [Outcome(run, run.logdir(runs_dir), 0, skipped=True)
              for run in runs if run not in todo]
  log(f'{len(runs)} runs: {len(outcomes)} finished already, {len(todo)} to '
      f'submit to Ray ({cpus_per_run} CPU, {gpus_per_run} GPU each).')
  task = ray.remote(num_cpus=cpus_per_run, num_gpus=gpus_per_run,
                    max_retries=0)(_ray_task)
  refs, followers = {}, {}
  for run in todo:
    common.write_run_spec(run, runs_dir)
    logdir = run.logdir(runs_dir)
    ref = task.remote(run.command(runs_dir, sys.executable), logdir + '.log')
    refs[ref], followers[ref] = run, MetricsFollower(run, logdir, log)
  remaining, finished, cancelled, last_poll = list(refs), 0, False, time.time()
  with signals_received() as received:
    while remaining:
      ready, remaining = ray.wait(remaining, num_returns=1,
                                  timeout=TICK_SECONDS)
      if received and not cancelled:
        log(f'{signal.Signals(received[0]).name}: cancelling {len(remaining)} '
            'Ray task(s) and waiting for them.')
        for ref in remaining:
          ray.cancel(ref)
        cancelled = True
      if ready or time.time() - last_poll >= poll_seconds:
        for ref in remaining + ready:
          followers[ref].poll()
        last_poll = time.time()
      for ref in ready:
        finished += 1
        outcomes.append(_ray_outcome(ray, ref, refs[ref], runs_dir, cancelled,
                                     log))
        report(outcomes[-1], finished, len(todo), log)
  if received:
    raise Interrupted(received[0], outcomes)
  return outcomes


def _ray_outcome(ray, ref, run: Run, runs_dir: str, stopping: bool,
                 log: Callable[[str], None]) -> Outcome:
  logdir = run.logdir(runs_dir)
  try:
    code, seconds = ray.get(ref)
  except Exception as error:  # pylint: disable=broad-except
    if not stopping:
      log(f'Ray task for {logdir} raised: {error}')
    code, seconds = -1, 0.0
  return Outcome(run, logdir, -1 if code is None else code, seconds=seconds,
                 interrupted=stopping and code != 0)

