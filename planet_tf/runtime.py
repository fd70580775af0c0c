"""Process settings: for TensorFlow before it is imported, and for the
child processes planet_tf starts (environments, training runs).

Called by entry points and launchers, never at import time.
"""

import os
import sys
from typing import Dict, Mapping, Optional

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def prepare_tensorflow() -> None:
  """Turns on oneDNN kernels unless the user chose otherwise.

  TF 2.21's CPU wheel leaves them off on some CPUs, and the convolutions'
  backward passes are then several times slower (docs/performance.md). No
  effect on a GPU. `TF_ENABLE_ONEDNN_OPTS=0` turns them off.
  """
  if 'tensorflow' in sys.modules:
    return  # Too late to matter; the caller imported TensorFlow already.
  os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')


def child_env(base: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
  """The environment of a child process (an environment server, a training
  run): headless rendering, quiet TensorFlow, GPU memory taken as needed
  (parallel runs may share a GPU), and this checkout first on PYTHONPATH so
  that the child runs the same code as its parent."""
  env = dict(os.environ if base is None else base)
  env.setdefault('MUJOCO_GL', 'egl')
  env.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  env.setdefault('TF_FORCE_GPU_ALLOW_GROWTH', 'true')
  paths = [PACKAGE_ROOT] + [p for p in env.get('PYTHONPATH', '').split(
      os.pathsep) if p]
  env['PYTHONPATH'] = os.pathsep.join(dict.fromkeys(paths))
  return env
