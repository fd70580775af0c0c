"""Runs a sweep of `Run`s: locally in a process pool, or on a Ray cluster.

Both launchers run the same command per run (`Run.command`), a
`planet_tf.train` process whose output goes to `<logdir>.log` (appended).
Both are resumable: a finished run (`rundir.is_finished`) is skipped, and an
interrupted one resumes from its last checkpoint because `planet_tf.train`
does so when rerun in the same run directory.

While runs go, each one's metrics.jsonl is followed (`MetricsFollower`): one console
line per collected episode. Each training process starts in a process group
of its own, so that SIGINT or SIGTERM to the sweep reaches it and its
environment processes once (`Children`), and the sweep waits for them before
it raises `Interrupted`.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import (IO, Callable, Dict, Iterator, List, Mapping, Optional,
                    Sequence, Tuple)

import numpy as np

from planet_tf import config as config_lib
from planet_tf import devices, progress, rundir, runtime
from reproduce import common
from reproduce.common import Run

ON_LOCKED = ('skip', 'wait')
LAUNCHERS = ('local', 'ray')
# How often a running run's metrics.jsonl is read for progress lines.
POLL_SECONDS = 5.0
# How often the sweep's main loop looks for a signal it received.
_TICK_SECONDS = 0.5


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


def die_with_parent_preexec() -> Optional[Callable[[], None]]:
  """A Popen `preexec_fn` that makes the child receive SIGTERM when this
  process dies, even by SIGKILL (Linux `PR_SET_PDEATHSIG`), so a sweep
  killed by a scheduler leaves no training run behind; the run stops as
  on Ctrl-C and closes its environment processes. None off Linux."""
  if not sys.platform.startswith('linux'):
    return None
  import ctypes  # pylint: disable=import-outside-toplevel
  libc = ctypes.CDLL(None, use_errno=True)  # Loaded before any fork.
  parent = os.getpid()

  def preexec() -> None:
    libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # 1: PR_SET_PDEATHSIG.
    if os.getppid() != parent:  # The sweep died before prctl took effect.
      os.kill(os.getpid(), signal.SIGTERM)
  return preexec


def _signal_group(process: subprocess.Popen, signum: int) -> None:
  """Sends `signum` to the process group `process` leads (its own)."""
  try:
    os.killpg(process.pid, signum)
  except ProcessLookupError:
    pass  # It has ended.


class Children:
  """The training processes of a sweep, each the leader of its own process
  group, so that one signal reaches a run and its environment processes.
  Once `stop` was called, `start` starts nothing more."""

  def __init__(self):
    self._lock = threading.Lock()
    self._running: set = set()
    self.signum: Optional[int] = None
    self._preexec = die_with_parent_preexec()

  def start(self, command: Sequence[str], log: IO[bytes], cwd: str,
            env: Mapping[str, str]) -> Optional[subprocess.Popen]:
    """Starts `command` (None if the sweep is stopping)."""
    with self._lock:
      if self.signum is not None:
        return None
      process = subprocess.Popen(
          list(command), stdin=subprocess.DEVNULL, stdout=log,
          stderr=subprocess.STDOUT, cwd=cwd, env=dict(env),
          start_new_session=True, preexec_fn=self._preexec)
      self._running.add(process)
      return process

  def done(self, process: subprocess.Popen) -> None:
    with self._lock:
      self._running.discard(process)

  def stop(self, signum: int) -> int:
    """Forwards `signum` to every running process group; returns how many."""
    with self._lock:
      self.signum = signum
      for process in self._running:
        _signal_group(process, signum)
      return len(self._running)


def run_logged(command: Sequence[str], log_path: str, children: Children,
               env: Mapping[str, str], header: str = '',
               poll: Optional[Callable[[], None]] = None,
               poll_seconds: float = POLL_SECONDS) -> Optional[int]:
  """Runs `command` in the repository root, appending its output to
  `log_path`, calling `poll()` every `poll_seconds` while it runs; returns
  its exit code (None if `children` is stopping and it was not started).

  If this thread is interrupted (a Ray task cancelled), the process group
  gets SIGTERM and is waited for before the exception goes on.
  """
  os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
  with open(log_path, 'ab') as log:
    log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {header}"
              f"{' '.join(command)}\n".encode())
    log.flush()
    process = children.start(command, log, common.REPO_ROOT, env)
    if process is None:
      return None
    try:
      while True:
        try:
          return process.wait(timeout=poll_seconds)
        except subprocess.TimeoutExpired:
          if poll:
            poll()
    except BaseException:
      _signal_group(process, signal.SIGTERM)
      process.wait()
      raise
    finally:
      children.done(process)


@contextlib.contextmanager
def signals_received() -> Iterator[List[int]]:
  """Within: SIGINT and SIGTERM are appended to the yielded list instead of
  ending the process, so that the sweep's loop can forward them to its runs
  and wait for them. The previous handlers are restored on exit. Outside
  the main thread (where Python cannot set handlers) nothing changes."""
  received: List[int] = []
  if threading.current_thread() is not threading.main_thread():
    yield received
    return
  handled = (signal.SIGINT, signal.SIGTERM)
  previous = {signum: signal.signal(signum, lambda n, _: received.append(n))
              for signum in handled}
  try:
    yield received
  finally:
    for signum, handler in previous.items():
      signal.signal(signum, signal.SIG_DFL if handler is None else handler)


def run_name(run: Run) -> str:
  """variant/task/seed<k>: how progress lines name a run."""
  return f"{run.variant}/{run.task or 'all_tasks'}/seed{run.seed}"


def progress_line(name: str, row: dict,
                  config: Optional[Mapping[str, object]],
                  rows: Sequence[dict]) -> str:
  """One metrics row as a console line: run, episode k/N, train return,
  test returns when tested, and the run's ETA (`progress.run_eta`, the
  estimate the run's own log shows)."""
  if config and config.get('planner') == 'true_simulator':
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
    except rundir.RunDirError:
      config = None
    for row in new:
      self.log(progress_line(self.name, row, config,
                             [r for r in rows if r['episode'] <= row['episode']]))
    self.seen = max(row['episode'] for row in new)


def unknown_presets(runs: Sequence[Run]) -> List[str]:
  """Presets the runs name that planet_tf/config.py does not define."""
  from planet_tf.config import PRESETS  # No TensorFlow behind this import.
  names = dict.fromkeys(p for run in runs for p in run.all_presets())
  return [name for name in names if name not in PRESETS]


def pending(runs: Sequence[Run], runs_dir: str) -> List[Run]:
  """The runs that are not finished yet."""
  return [run for run in runs if not rundir.is_finished(run.logdir(runs_dir))]


def _print(message: str) -> None:
  print(message, flush=True)


def _report(outcome: Outcome, done: int, total: int,
            log: Callable[[str], None]) -> None:
  if outcome.interrupted:
    state = 'interrupted'
  else:
    state = 'ok' if outcome.ok else f'FAILED (exit {outcome.returncode})'
  log(f'[{done}/{total}] {state} in {outcome.seconds:.0f}s: {outcome.logdir} '
      f'(log: {outcome.logdir}.log)')


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
                 log: Callable[[str], None] = _print,
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
          futures, _TICK_SECONDS, concurrent.futures.FIRST_COMPLETED)
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
          _report(outcomes[-1], finished, len(todo), log)
  if received:
    raise Interrupted(received[0], outcomes)
  return outcomes


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
               log: Callable[[str], None] = _print,
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
                                  timeout=_TICK_SECONDS)
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
        _report(outcomes[-1], finished, len(todo), log)
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


def launch(runs: Sequence[Run], runs_dir: str, launcher: str = 'local',
           parallel: int = 1, ray_address: Optional[str] = None,
           log: Callable[[str], None] = _print,
           gpus_per_run: Optional[float] = None,
           on_locked: str = 'skip') -> List[Outcome]:
  """Runs the sweep with the chosen launcher; see launch_local, launch_ray."""
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
    return launch_ray(runs, runs_dir, ray_address, gpus_per_run=gpus_per_run,
                      log=log)
  raise ValueError(f"Unknown --launcher '{launcher}'. Choose: "
                   f"{', '.join(LAUNCHERS)}.")


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
