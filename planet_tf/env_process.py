"""Environments in child processes: `ProcessEnv` and the child's loop.

The child (`python -m planet_tf.env_process`) runs one `envs.DMControlEnv`
and never imports TensorFlow. Every call has a timeout, so a frozen renderer
is handled like a dead process (`EnvDiedError`), and the child dies with its
trainer (Linux parent-death signal). `reset_all` and `step_all` drive
several environments at once.
"""

from __future__ import annotations

import logging
import os
import pickle
import select
import signal
import subprocess
import sys
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from planet_tf.envs import DMControlEnv


class EnvDiedError(RuntimeError):
  """An environment process died or stopped answering; `code` is its exit
  code (None if it was frozen and killed after the timeout)."""

  def __init__(self, message: str, code: Optional[int]):
    super().__init__(message)
    self.code = code


class ProcessEnv:
  """`DMControlEnv` run in a child process that never imports TensorFlow.

  Same interface as `DMControlEnv`, plus `reset_async`/`reset_wait` and
  `step_async`/`step_wait`, which let several environments work at once.
  Messages are pickled over the child's stdin and a private copy of its
  stdout; the child's own prints go to stderr.
  """

  concurrent = True

  def __init__(self, task: str, action_repeat: int, episode_length: int = 1000,
               image_size: int = 64, camera_id: int = 0,
               timeout: float = 60.0):
    # Every answer must come within `timeout` seconds: a frozen renderer
    # (a stopped or hung child) is then handled as a dead one.
    self.timeout = timeout
    self._args = (task, action_repeat, episode_length, image_size, camera_id)
    self._start()

  def _start(self) -> None:
    from planet_tf import runtime  # pylint: disable=import-outside-toplevel
    self._process = subprocess.Popen(
        [sys.executable, '-m', 'planet_tf.env_process'], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, env=runtime.child_env())
    self._pending: Optional[str] = None
    self.action_size = self._call('init', *self._args)

  def restart(self) -> None:
    """Kills the child process (dead or frozen) and starts a new one."""
    self._kill()
    self._start()

  def _kill(self) -> Optional[int]:
    if self._process.poll() is None:
      self._process.kill()
    code = self._process.wait()
    for pipe in (self._process.stdin, self._process.stdout):
      try:
        pipe.close()
      except OSError:
        pass
    return code

  def _send(self, method: str, *args: Any) -> None:
    if self._process.poll() is not None:
      raise EnvDiedError(f'The environment process exited with code '
                         f'{self._process.returncode}; see its stderr above.',
                         self._process.returncode)
    if self._pending is not None:
      raise RuntimeError(f'{method} called before the answer to '
                         f'{self._pending} was received.')
    try:
      pickle.dump((method, args), self._process.stdin,
                  protocol=pickle.HIGHEST_PROTOCOL)
      self._process.stdin.flush()
    except BrokenPipeError:
      code = self._kill()
      raise EnvDiedError(f'The environment process died (exit code {code}) '
                         f'before {method}.', code) from None
    self._pending = method

  def _receive(self) -> Any:
    method, self._pending = self._pending, None
    # One answer per call, read whole: nothing is left buffered between
    # calls, so the pipe's readiness tells whether an answer has begun.
    ready, _, _ = select.select([self._process.stdout], [], [], self.timeout)
    if not ready:
      self._kill()
      raise EnvDiedError(f'The environment process did not answer {method} '
                         f'within {self.timeout:g} s (--env_timeout); it was '
                         'killed.', None)
    try:
      ok, result = pickle.load(self._process.stdout)
    except EOFError:
      code = self._process.wait()
      raise EnvDiedError(f'The environment process died (exit code {code}) '
                         f'during {method}; see its stderr above.',
                         code) from None
    if not ok:
      raise result
    return result

  def _call(self, method: str, *args: Any) -> Any:
    self._send(method, *args)
    return self._receive()

  def reset(self, seed: int) -> np.ndarray:
    return self._call('reset', seed)

  def step(self, action: np.ndarray) -> Tuple[np.ndarray, float, bool]:
    return self._call('step', np.asarray(action, np.float32))

  def reset_async(self, seed: int) -> None:
    """Starts `reset(seed)` in the child; `reset_wait` returns its frame."""
    self._send('reset', seed)

  def reset_wait(self) -> np.ndarray:
    return self._receive()

  def step_async(self, action: np.ndarray) -> None:
    """Starts `step(action)` in the child; `step_wait` returns its result."""
    self._send('step', np.asarray(action, np.float32))

  def step_wait(self) -> Tuple[np.ndarray, float, bool]:
    return self._receive()

  def candidate_returns(self, actions: np.ndarray) -> np.ndarray:
    """`DMControlEnv.candidate_returns` in the child process."""
    return self._call('candidate_returns',
                      np.asarray(actions, np.float32))

  def close(self) -> None:
    if self._process.poll() is None:
      try:
        self._call('close')
      except (BrokenPipeError, RuntimeError):
        pass
      try:
        self._process.wait(timeout=30)
      except subprocess.TimeoutExpired:
        self._kill()

  def __enter__(self) -> 'ProcessEnv':
    return self

  def __exit__(self, *exc: Any) -> None:
    self.close()

  def __del__(self) -> None:
    if getattr(self, '_process', None) and self._process.poll() is None:
      self._process.kill()


class _DropDeprecatedTotalMass(logging.Filter):
  """dm_control's own models use a MuJoCo attribute that MuJoCo deprecates;
  the warning (one per environment process) says nothing to our users."""

  def filter(self, record: logging.LogRecord) -> bool:
    return "'settotalmass' is deprecated" not in record.getMessage()


def _die_with_parent() -> None:
  """Makes this process get SIGKILL when its trainer dies, even by SIGKILL
  (Linux `PR_SET_PDEATHSIG`): no environment process outlives its run."""
  if not sys.platform.startswith('linux'):
    return
  import ctypes  # pylint: disable=import-outside-toplevel
  ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
  if os.getppid() == 1:  # The trainer died before prctl took effect.
    os._exit(1)  # pylint: disable=protected-access


def _serve() -> None:
  """The child side of `ProcessEnv`: answers calls until 'close'."""
  # Ctrl-C reaches the whole process group: the parent handles it and
  # closes this process, which must not die mid-reply with a traceback.
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  _die_with_parent()
  logging.getLogger('absl').addFilter(_DropDeprecatedTotalMass())
  protocol_out = os.fdopen(os.dup(1), 'wb')
  os.dup2(2, 1)  # Stray prints of the libraries must not corrupt the channel.
  sys.stdout = sys.stderr
  protocol_in = sys.stdin.buffer
  env = None
  while True:
    try:
      method, args = pickle.load(protocol_in)
    except EOFError:
      break
    try:
      if method == 'init':
        env = DMControlEnv(*args)
        result = env.action_size
      elif method == 'close':
        result = env and env.close()
      else:
        result = getattr(env, method)(*args)
      reply = (True, result)
    except Exception as error:  # Sent back and raised in the parent.
      reply = (False, error)
    pickle.dump(reply, protocol_out, protocol=pickle.HIGHEST_PROTOCOL)
    protocol_out.flush()
    if method == 'close':
      break


def reset_all(environments: Sequence[Any], seeds: Sequence[int]) -> List[np.ndarray]:
  """Resets every environment with its seed, concurrently where they run in
  processes; returns their first frames."""
  if all(getattr(env, 'concurrent', False) for env in environments):
    for env, seed in zip(environments, seeds):
      env.reset_async(seed)
    return [env.reset_wait() for env in environments]
  return [env.reset(seed) for env, seed in zip(environments, seeds)]


def step_all(environments: Sequence[Any],
             actions: Sequence[np.ndarray]) -> List[Tuple[np.ndarray, float, bool]]:
  """Steps every environment with its action, concurrently where they run
  in processes; returns (frame, reward, done) of each."""
  if all(getattr(env, 'concurrent', False) for env in environments):
    for env, action in zip(environments, actions):
      env.step_async(action)
    return [env.step_wait() for env in environments]
  return [env.step(action) for env, action in zip(environments, actions)]


if __name__ == '__main__':
  _serve()
