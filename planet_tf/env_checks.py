"""Checks before any environment is made: task names, cameras, rendering.

Each check that needs dm_control or MuJoCo runs in a child process, as the
environments do (dm_control imported next to TensorFlow aborts the process
at exit); the config's own checks start nothing (`config.validate`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import List, Sequence

from planet_tf.tasks import PAPER_TASKS, TaskSpec


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


