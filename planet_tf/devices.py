"""Which devices a process computes on: the driver's GPU list (`nvidia-smi
-L`, no TensorFlow needed), TensorFlow's, the start-up device line, and the
one-line stop when the driver lists a GPU that TensorFlow cannot use.

Nothing here imports TensorFlow; `runtime.configure_tensorflow` passes it in.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Callable, List, Optional, Sequence

SETUP_COMMAND = 'PLANET_TF_GPU=1 bash scripts/setup.sh'


def nvidia_gpus(which: Callable[[str], Optional[str]] = shutil.which,
                timeout: float = 20.0) -> List[str]:
  """The GPUs the NVIDIA driver lists (`nvidia-smi -L` lines that start
  with 'GPU '); none without nvidia-smi on PATH or when it fails."""
  program = which('nvidia-smi')
  if not program:
    return []
  try:
    result = subprocess.run([program, '-L'], capture_output=True, text=True,
                            timeout=timeout, check=False)
  except (OSError, subprocess.TimeoutExpired):
    return []
  if result.returncode != 0:
    return []
  return [line.strip() for line in result.stdout.splitlines()
          if line.strip().startswith('GPU ')]


def device_line(gpu_names: Sequence[str], cores: Optional[int] = None) -> str:
  """'device: GPU:0 <name>[, GPU:1 <name>...]', or 'device: CPU, N cores,
  no GPU visible' when TensorFlow sees no GPU."""
  if gpu_names:
    return 'device: ' + ', '.join(f'GPU:{index} {name}'
                                  for index, name in enumerate(gpu_names))
  cores = cores or os.cpu_count() or 1
  return f"device: CPU, {cores} core{'s' if cores != 1 else ''}, no GPU visible"


def missing_cuda_build(driver_gpus: Sequence[str], tf_gpus: Sequence[str],
                       allow_cpu: bool) -> Optional[str]:
  """The one-line problem when the driver lists a GPU but TensorFlow sees
  none (the CUDA build is not installed), unless the CPU was asked for."""
  if not driver_gpus or tf_gpus or allow_cpu:
    return None
  return (f'the NVIDIA driver lists {len(driver_gpus)} GPU(s) ('
          f'{driver_gpus[0]}) but TensorFlow sees none: the CUDA build of '
          f'TensorFlow is not installed. Run `{SETUP_COMMAND}`, or pass '
          '--allow_cpu to train on the CPU anyway.')


def gpu_names(tf) -> List[str]:
  """TensorFlow's visible GPUs' names ('NVIDIA H100 80GB HBM3'), in order."""
  names = []
  for device in tf.config.list_physical_devices('GPU'):
    details = tf.config.experimental.get_device_details(device)
    names.append(details.get('device_name') or device.name)
  return names


def configure(tf, allow_tf32: bool = False) -> None:
  """Memory growth on every visible GPU (runs, tests and probes share a GPU)
  and the TF32 choice; must run before TensorFlow's first op."""
  for device in tf.config.list_physical_devices('GPU'):
    try:
      tf.config.experimental.set_memory_growth(device, True)
    except RuntimeError:
      pass  # Initialised already, by an earlier call of this function.
  tf.config.experimental.enable_tensor_float_32_execution(allow_tf32)
