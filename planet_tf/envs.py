"""DeepMind Control tasks from pixels, as the paper uses them.

Observations are 64x64x3 uint8 frames rendered from the task's camera; each
agent action is repeated R times and the rewards of the repeats are summed
(Algorithm 1, lines 13-15); an episode lasts 1000 environment steps, so
ceil(1000 / R) agent steps, the last repeat cut short if R does not divide
1000 (the official code's cup used R = 6); actions
live in [-1, 1].

MuJoCo's EGL renderer (Mesa on CPU) and TensorFlow crash when loaded into one
process (a segfault on the first render after `import tensorflow`). So the trainer talks to `ProcessEnv`, which runs `DMControlEnv`
in a child Python process that never imports TensorFlow. This module itself
imports neither TensorFlow nor dm_control at import time.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import select
import signal
import subprocess
import sys
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from planet_tf.tasks import PAPER_TASKS, TaskSpec

os.environ.setdefault('MUJOCO_GL', 'egl')


def resolve_task(name: str, suite_tasks=None) -> TaskSpec:
  """Maps a task name to its suite domain and task.

  Accepts the six paper names and any suite task as `domain_task`
  (e.g. `hopper_hop`, `ball_in_cup_catch`). `suite_tasks` is the suite's
  (domain, task) list; by default it is read in a child process, since
  dm_control imported next to TensorFlow aborts the process at exit
  ('free(): invalid pointer').
  """
  if name in PAPER_TASKS:
    domain, task, repeat = PAPER_TASKS[name]
    return TaskSpec(name, domain, task, repeat)
  if suite_tasks is None:
    suite_tasks = _suite_tasks_in_child()
  for domain, task in suite_tasks:
    if f'{domain}_{task}' == name:
      return TaskSpec(name, domain, task, None)
  known = sorted(PAPER_TASKS) + ['<domain>_<task> of dm_control.suite']
  raise ValueError(f"Unknown task '{name}'. Use one of: {', '.join(known)}.")


def camera_count(spec: TaskSpec) -> int:
  """The number of cameras of a task's model (read in a child process)."""
  code = ('from dm_control import suite; '
          f'print(suite.load({spec.domain!r}, {spec.task!r}).physics.model.ncam)')
  result = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, check=True)
  return int(result.stdout.strip().splitlines()[-1])


def check_environments(task_names: Sequence[str], camera_id: int) -> None:
  """Raises ValueError listing every problem of making these environments:
  task names unknown to the suite, a camera a task lacks, a renderer that
  cannot render here. Each check that needs dm_control or MuJoCo runs in a
  child process (as environments do); the config itself is checked
  already (`config.validate`, which starts nothing)."""
  problems = task_problems(task_names, camera_id)
  try:
    check_rendering()
  except ValueError as error:
    problems.append(str(error))
  if len(problems) == 1:
    raise ValueError(problems[0])
  if problems:
    raise ValueError('Cannot make the environments:\n  '
                     + '\n  '.join(problems))


def task_problems(task_names: Sequence[str], camera_id: int) -> List[str]:
  """One message per task that the suite does not know or whose model has
  no camera `camera_id`; the suite is read once, only for tasks outside
  the paper's six."""
  others = [name for name in task_names if name not in PAPER_TASKS]
  suite_tasks = _suite_tasks_in_child() if others else []
  problems = []
  for name in task_names:
    try:
      spec = resolve_task(name, suite_tasks)
    except ValueError as error:
      problems.append(str(error))
      continue
    if camera_id > 0:
      cameras = camera_count(spec)
      if camera_id >= cameras:
        problems.append(
            f'--camera_id={camera_id} does not exist: {name} has {cameras} '
            f'camera(s), 0..{cameras - 1} (or -1, the free camera).')
  return problems


def check_rendering() -> None:
  """Raises ValueError naming the fix if MUJOCO_GL cannot render here."""
  import ctypes.util  # pylint: disable=import-outside-toplevel
  backend = os.environ.get('MUJOCO_GL', 'egl')
  if backend not in ('egl', 'osmesa', 'glfw'):
    raise ValueError(
        f'MUJOCO_GL={backend!r} is not a MuJoCo rendering backend: use '
        'MUJOCO_GL=egl (headless, the default), osmesa or glfw (a display).')
  if backend == 'egl' and not ctypes.util.find_library('EGL'):
    raise ValueError('MUJOCO_GL=egl but libEGL is not installed: run '
                     'scripts/setup.sh (Debian: apt-get install libegl1 '
                     'libgl1-mesa-dri).')
  if backend == 'osmesa' and not ctypes.util.find_library('OSMesa'):
    raise ValueError('MUJOCO_GL=osmesa but the OSMesa library is not '
                     'installed: install it (Debian: libosmesa6) or use '
                     'MUJOCO_GL=egl.')
  if backend == 'glfw' and not (os.environ.get('DISPLAY') or
                                os.environ.get('WAYLAND_DISPLAY')):
    raise ValueError('MUJOCO_GL=glfw needs a display and none is set: use '
                     'MUJOCO_GL=egl to render without one.')
  _render_one_frame_in_child(backend)


# A one-body model: enough for MuJoCo to open a context and draw a frame.
_PROBE = ('import mujoco; m = mujoco.MjModel.from_xml_string("<mujoco><worldbody>'
          '<geom size=\'1\'/></worldbody></mujoco>"); r = mujoco.Renderer(m, 8, 8); '
          'd = mujoco.MjData(m); r.update_scene(d); r.render(); print("ok")')


def _render_one_frame_in_child(backend: str, timeout: float = 60.0) -> None:
  """Renders one frame in a child process, as environments run (a renderer
  that fails can take its process down); raises ValueError naming the fix."""
  try:
    result = subprocess.run([sys.executable, '-c', _PROBE],
                            capture_output=True, text=True, timeout=timeout)
    failed = result.returncode != 0 or 'ok' not in result.stdout
    cause = (result.stderr.strip().splitlines() or ['no output'])[-1]
  except subprocess.TimeoutExpired:
    failed, cause = True, f'no frame within {timeout:.0f} s'
  if failed:
    others = ' or '.join(f'MUJOCO_GL={b}' for b in ('egl', 'osmesa')
                         if b != backend)
    raise ValueError(f'MUJOCO_GL={backend} cannot render here ({cause[:200]}): '
                     f'try {others}, or run scripts/setup.sh to install EGL.')


def _suite_tasks_in_child() -> list:
  code = ('import json; from dm_control import suite; '
          'print(json.dumps(list(suite.ALL_TASKS)))')
  result = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, check=True)
  return json.loads(result.stdout.strip().splitlines()[-1])


class DMControlEnv:
  """One DM Control task from pixels with action repeat, in this process.

  `reset(seed)` reseeds the task's random state, so an episode is determined
  by its seed and the actions taken.
  """

  def __init__(self, task: str, action_repeat: int, episode_length: int = 1000,
               image_size: int = 64, camera_id: int = 0):
    from dm_control import suite
    spec = resolve_task(task, suite.ALL_TASKS)
    self._random = np.random.RandomState(0)
    self._env = suite.load(spec.domain, spec.task,
                           task_kwargs={'random': self._random})
    self._repeat = action_repeat
    self._length = episode_length
    self._size = image_size
    self._camera = camera_id
    self._step = 0
    action_spec = self._env.action_spec()
    if not (np.allclose(action_spec.minimum, -1) and
            np.allclose(action_spec.maximum, 1)):
      raise ValueError(f'Task {task} has actions outside [-1, 1].')
    self.action_size = int(np.prod(action_spec.shape))

  def _render(self) -> np.ndarray:
    return self._env.physics.render(self._size, self._size,
                                    camera_id=self._camera)

  def reset(self, seed: int) -> np.ndarray:
    """Starts an episode seeded by `seed`; returns the first frame."""
    self._random.seed(seed % 2**32)
    self._env.reset()
    self._step = 0
    return self._render()

  def step(self, action: np.ndarray) -> Tuple[np.ndarray, float, bool]:
    """Applies `action` R times; returns (frame, summed reward, done)."""
    action = np.asarray(action, np.float64).reshape(self.action_size)
    if not np.all(np.isfinite(action)):
      raise ValueError(f'Non-finite action {action}.')
    action = np.clip(action, -1.0, 1.0)
    reward, done = 0.0, False
    for _ in range(self._repeat):
      time_step = self._env.step(action)
      reward += time_step.reward or 0.0
      self._step += 1
      done = time_step.last() or self._step >= self._length
      if done:
        break
    return self._render(), float(reward), done

  def candidate_returns(self, actions: np.ndarray) -> np.ndarray:
    """The true returns of action sequences (J, H, A) from the current
    physics state, each with the action repeat and the task's own reward;
    the state is restored after (the rollouts of Table 1's 'CEM + true
    simulator', planned by `planning.cem` in the parent)."""
    physics = self._env.physics
    start = physics.get_state().copy()
    actions = np.clip(np.asarray(actions, np.float64), -1.0, 1.0)
    returns = np.array([self._simulate(start, plan) for plan in actions],
                       np.float32)
    with physics.reset_context():
      physics.set_state(start)
    return returns

  def _simulate(self, start: np.ndarray, plan: np.ndarray) -> float:
    """Sum of true rewards of `plan` from physics state `start`."""
    env, physics = self._env, self._env.physics
    substeps = int(round(env.control_timestep() / physics.timestep()))
    with physics.reset_context():
      physics.set_state(start)
    total = 0.0
    for action in plan:
      for _ in range(self._repeat):
        env.task.before_step(action, physics)
        physics.step(substeps)
        env.task.after_step(physics)
        total += env.task.get_reward(physics) or 0.0
    return total

  def close(self) -> None:
    self._env.close()


class PaddedActions:
  """Presents an env with a larger action space, ignoring the extra
  elements (paper Fig. 7: one agent on tasks with different action sizes)."""

  def __init__(self, env, action_size: int):
    if action_size < env.action_size:
      raise ValueError(f'Cannot pad {env.action_size} actions to {action_size}.')
    self._env = env
    self.action_size = action_size

  def reset(self, seed: int) -> np.ndarray:
    return self._env.reset(seed)

  def step(self, action: np.ndarray) -> Tuple[np.ndarray, float, bool]:
    return self._env.step(np.asarray(action)[:self._env.action_size])

  @property
  def concurrent(self) -> bool:
    """Whether the wrapped environment steps in a process of its own."""
    return getattr(self._env, 'concurrent', False)

  def reset_async(self, seed: int) -> None:
    self._env.reset_async(seed)

  def reset_wait(self) -> np.ndarray:
    return self._env.reset_wait()

  def step_async(self, action: np.ndarray) -> None:
    self._env.step_async(np.asarray(action)[:self._env.action_size])

  def step_wait(self) -> Tuple[np.ndarray, float, bool]:
    return self._env.step_wait()

  def candidate_returns(self, actions: np.ndarray) -> np.ndarray:
    """The inner env's true returns of `actions` (J, H, A), padding cut."""
    return self._env.candidate_returns(
        np.asarray(actions)[..., :self._env.action_size])

  def close(self) -> None:
    self._env.close()

  def restart(self) -> None:
    """Replaces a dead environment process (`ProcessEnv.restart`)."""
    self._env.restart()


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
        [sys.executable, '-m', 'planet_tf.envs'], stdin=subprocess.PIPE,
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


def random_action(action_size: int, rng: np.random.Generator) -> np.ndarray:
  """A uniformly random action in [-1, 1]^action_size."""
  return rng.uniform(-1.0, 1.0, action_size).astype(np.float32)


if __name__ == '__main__':
  _serve()
