"""Training processes of a sweep: started, logged, signalled, waited for.

Each training process starts in a process group of its own, so that SIGINT
or SIGTERM to the sweep reaches it and its environment processes once
(`Children`), and dies with the sweep even when the sweep is killed
(`die_with_parent_preexec`). `signals_received` holds the sweep's signals
for its main loop to forward.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from typing import IO, Callable, Iterator, List, Mapping, Optional, Sequence

from reproduce import common

# How often a running run's metrics.jsonl is read for progress lines.
POLL_SECONDS = 5.0
# How often the sweep's main loop looks for a signal it received.
TICK_SECONDS = 0.5


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

