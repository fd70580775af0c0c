"""Process settings: for TensorFlow before it is imported, and for the
child processes planet_tf starts (environments, training runs).

Called by entry points and launchers, never at import time.
"""

import os
import sys
import tempfile
from typing import Dict, List, Mapping, Optional

from planet_tf import devices

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


# Notices TensorFlow prints on every CPU start, before its logging honours
# TF_CPP_MIN_LOG_LEVEL; they say nothing about the run.
_START_NOTICES = (
    'All log messages before absl::InitializeLog() is called',
    'oneDNN custom operations are on', 'Could not find cuda drivers',
    'This TensorFlow binary is optimized to use available CPU instructions',
    'To enable the following instructions:')
_NO_GPU_NOTICE = 'failed call to cuInit'


def import_tensorflow_quietly() -> None:
  """Imports TensorFlow and finds its devices with the start-up notices
  filtered out of stderr; every other line is passed on. The CUDA
  initialisation error is dropped only where this machine has no NVIDIA
  device (on a GPU machine it is a real problem)."""
  prepare_tensorflow()
  if 'tensorflow' in sys.modules:
    return
  notices = _START_NOTICES + (() if has_nvidia_device() else (_NO_GPU_NOTICE,))
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as captured:
    os.dup2(captured.fileno(), 2)
    try:
      import tensorflow as tf  # pylint: disable=import-outside-toplevel
      tf.config.list_physical_devices()  # CUDA initialises here.
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      captured.seek(0)
      for line in captured.read().decode('utf-8', 'replace').splitlines():
        if line.strip() and not any(notice in line for notice in notices):
          print(line, file=sys.stderr)


class DeviceError(RuntimeError):
  """The driver lists a GPU that TensorFlow cannot use (one line)."""


def configure_tensorflow(allow_cpu: bool = False, allow_tf32: bool = False,
                         driver_gpus: Optional[List[str]] = None) -> str:
  """The one place that configures a process's TensorFlow: imports it
  quietly, turns on memory growth on every visible GPU before any op (runs,
  tests and probes may share a GPU) and makes the TF32 choice (off: the
  paper's V100 had none; TF turns it on by default on Ampere and newer).
  Returns the device line. Raises DeviceError when the driver lists a GPU
  (`nvidia-smi -L`; `driver_gpus` overrides) but TensorFlow sees none,
  unless `allow_cpu`."""
  import_tensorflow_quietly()
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  devices.configure(tf, allow_tf32)
  names = devices.gpu_names(tf)
  if driver_gpus is None:
    driver_gpus = [] if names or allow_cpu else devices.nvidia_gpus()
  problem = devices.missing_cuda_build(driver_gpus, names, allow_cpu)
  if problem:
    raise DeviceError(problem)
  return devices.device_line(names)


def has_nvidia_device() -> bool:
  """Whether an NVIDIA driver exposes a device here (no TensorFlow needed)."""
  return os.path.exists('/dev/nvidiactl') or os.path.exists('/dev/nvidia0')


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
