"""Runs a sweep of `Run`s: locally in a process pool, or on a Ray cluster.

Both launchers run the same command per run (`Run.command`), a
`planet_tf.train` process whose output goes to `<logdir>.log` (appended).
Both are resumable: a finished run (`common.is_finished`) is skipped, and an
interrupted one resumes from its last checkpoint because `planet_tf.train`
does so when rerun in the same run directory.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence

from reproduce import common
from reproduce.common import Run

LAUNCHERS = ('local', 'ray')


@dataclasses.dataclass(frozen=True)
class Outcome:
  """What became of one run: skipped (already finished), or its exit code."""
  run: Run
  logdir: str
  returncode: int
  skipped: bool = False
  seconds: float = 0.0

  @property
  def ok(self) -> bool:
    return self.returncode == 0


def child_env() -> Dict[str, str]:
  """The environment of a training process: headless rendering, quiet TF,
  and the repository on PYTHONPATH so that `-m planet_tf.train` resolves."""
  env = dict(os.environ)
  env.setdefault('MUJOCO_GL', 'egl')
  env.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  # Parallel runs may share a GPU: each takes memory as it needs it.
  env.setdefault('TF_FORCE_GPU_ALLOW_GROWTH', 'true')
  paths = [common.REPO_ROOT] + [p for p in env.get('PYTHONPATH', '').split(
      os.pathsep) if p]
  env['PYTHONPATH'] = os.pathsep.join(dict.fromkeys(paths))
  return env


def execute(command: Sequence[str], log_path: str,
            env: Optional[Dict[str, str]] = None) -> int:
  """Runs `command` in the repository root, appending its output to
  `log_path`; returns its exit code."""
  os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
  with open(log_path, 'ab') as log:
    log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} "
              f"{' '.join(command)}\n".encode())
    log.flush()
    return subprocess.call(list(command), stdout=log, stderr=subprocess.STDOUT,
                           cwd=common.REPO_ROOT, env=env or child_env())


def unknown_presets(runs: Sequence[Run]) -> List[str]:
  """Presets the runs name that planet_tf/config.py does not define."""
  from planet_tf.config import PRESETS  # No TensorFlow behind this import.
  names = dict.fromkeys(p for run in runs for p in run.all_presets())
  return [name for name in names if name not in PRESETS]


def pending(runs: Sequence[Run], runs_dir: str) -> List[Run]:
  """The runs that are not finished yet."""
  return [run for run in runs if not common.is_finished(run.logdir(runs_dir))]


def _print(message: str) -> None:
  print(message, flush=True)


def _report(outcome: Outcome, done: int, total: int,
            log: Callable[[str], None]) -> None:
  state = 'ok' if outcome.ok else f'FAILED (exit {outcome.returncode})'
  log(f'[{done}/{total}] {state} in {outcome.seconds:.0f}s: {outcome.logdir} '
      f'(log: {outcome.logdir}.log)')


def _run_local(run: Run, runs_dir: str) -> Outcome:
  logdir = run.logdir(runs_dir)
  common.write_run_spec(run, runs_dir)
  start = time.time()
  code = execute(run.command(runs_dir), logdir + '.log')
  return Outcome(run, logdir, code, seconds=time.time() - start)


def launch_local(runs: Sequence[Run], runs_dir: str, parallel: int = 1,
                 log: Callable[[str], None] = _print) -> List[Outcome]:
  """Runs every unfinished run here, `parallel` processes at a time."""
  if parallel < 1:
    raise ValueError(f'--parallel must be at least 1, got {parallel}.')
  todo = pending(runs, runs_dir)
  outcomes = [Outcome(run, run.logdir(runs_dir), 0, skipped=True)
              for run in runs if run not in todo]
  log(f'{len(runs)} runs: {len(outcomes)} finished already, {len(todo)} to '
      f'run here, {parallel} at a time.')
  with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
    futures = [pool.submit(_run_local, run, runs_dir) for run in todo]
    for index, future in enumerate(
        concurrent.futures.as_completed(futures), 1):
      outcome = future.result()
      _report(outcome, index, len(todo), log)
      outcomes.append(outcome)
  return outcomes


def _ray_task(command: List[str], log_path: str, repo_root: str) -> tuple:
  """Body of the Ray task: the same command as locally, on a worker node.
  The repository and the runs directory must be at the same paths there."""
  import os as os_
  import socket
  import subprocess as subprocess_
  import time as time_
  env = dict(os_.environ)
  env.setdefault('MUJOCO_GL', 'egl')
  env.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  env.setdefault('TF_FORCE_GPU_ALLOW_GROWTH', 'true')
  env['PYTHONPATH'] = repo_root + os_.pathsep + env.get('PYTHONPATH', '')
  os_.makedirs(os_.path.dirname(log_path), exist_ok=True)
  start = time_.time()
  with open(log_path, 'ab') as log:
    log.write(f'\n=== ray worker {socket.gethostname()}: '
              f"{' '.join(command)}\n".encode())
    log.flush()
    code = subprocess_.call(command, stdout=log, stderr=subprocess_.STDOUT,
                            cwd=repo_root, env=env)
  return code, time_.time() - start


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


def launch_ray(runs: Sequence[Run], runs_dir: str,
               address: Optional[str] = None, cpus_per_run: float = 1.0,
               gpus_per_run: Optional[float] = None,
               log: Callable[[str], None] = _print) -> List[Outcome]:
  """Runs every unfinished run as one Ray task each on an existing cluster
  (`address`, e.g. 'auto' or 'ray://head:10001'), or on a Ray instance that
  is already initialised in this process when `address` is None.

  gpus_per_run: None asks for one GPU per run when the cluster has GPUs.
  """
  ray = _import_ray()
  runs_dir = os.path.abspath(runs_dir)
  if not ray.is_initialized():
    try:
      ray.init(address=address, runtime_env=ray_runtime_env())
    except (ConnectionError, RuntimeError, ValueError) as error:
      raise RuntimeError(
          f"Could not join a Ray cluster at --ray_address={address}: "
          f"{str(error).rstrip('.')}. "
          'Start one with `ray start --head` (then --ray_address=auto), pass '
          'its address, or --ray_address=local for a one-machine instance.'
      ) from error
  if gpus_per_run is None:
    gpus_per_run = 1.0 if ray.cluster_resources().get('GPU', 0) >= 1 else 0.0
  todo = pending(runs, runs_dir)
  outcomes = [Outcome(run, run.logdir(runs_dir), 0, skipped=True)
              for run in runs if run not in todo]
  log(f'{len(runs)} runs: {len(outcomes)} finished already, {len(todo)} to '
      f'submit to Ray ({cpus_per_run} CPU, {gpus_per_run} GPU each).')
  task = ray.remote(num_cpus=cpus_per_run, num_gpus=gpus_per_run,
                    max_retries=0)(_ray_task)
  python = sys.executable
  refs = {}
  for run in todo:
    common.write_run_spec(run, runs_dir)
    logdir = run.logdir(runs_dir)
    refs[task.remote(run.command(runs_dir, python), logdir + '.log',
                     common.REPO_ROOT)] = run
  remaining = list(refs)
  while remaining:
    ready, remaining = ray.wait(remaining, num_returns=1)
    run = refs[ready[0]]
    try:
      code, seconds = ray.get(ready[0])
    except Exception as error:  # pylint: disable=broad-except
      log(f'Ray task for {run.logdir(runs_dir)} raised: {error}')
      code, seconds = -1, 0.0
    outcome = Outcome(run, run.logdir(runs_dir), code, seconds=seconds)
    _report(outcome, len(refs) - len(remaining), len(refs), log)
    outcomes.append(outcome)
  return outcomes


def launch(runs: Sequence[Run], runs_dir: str, launcher: str = 'local',
           parallel: int = 1, ray_address: Optional[str] = None,
           log: Callable[[str], None] = _print) -> List[Outcome]:
  """Runs the sweep with the chosen launcher; see launch_local, launch_ray."""
  missing = unknown_presets(pending(runs, runs_dir))
  if missing:
    raise ValueError(
        f"Preset(s) {', '.join(missing)} are not defined in "
        'planet_tf/config.py PRESETS, so these runs cannot start. Use a '
        'checkout that has them, or --aggregate_only to plot existing runs.')
  if launcher == 'local':
    return launch_local(runs, runs_dir, parallel, log)
  if launcher == 'ray':
    return launch_ray(runs, runs_dir, ray_address, log=log)
  raise ValueError(f"Unknown --launcher '{launcher}'. Choose: "
                   f"{', '.join(LAUNCHERS)}.")


def summarize(outcomes: Sequence[Outcome]) -> str:
  """One line: how many ran, were skipped, failed (with their logs)."""
  failed = [o for o in outcomes if not o.ok]
  text = (f'{len(outcomes)} runs: {sum(o.skipped for o in outcomes)} were '
          f'already finished, {sum(o.ok and not o.skipped for o in outcomes)} '
          f'ran now, {len(failed)} failed.')
  if failed:
    text += ' See: ' + ', '.join(o.logdir + '.log' for o in failed)
  return text
