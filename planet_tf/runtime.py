"""Process settings that must be made before TensorFlow is imported.

Called at the start of each entry point's main(), never at import time.
"""

import os
import sys


def prepare_tensorflow() -> None:
  """Turns on oneDNN kernels unless the user chose otherwise.

  TF 2.21's CPU wheel leaves them off on this machine; measured here
  (python -m planet_tf.benchmark, 2 cores) they make the paper's training
  step 2.1x faster (11.06 s -> 5.33 s), because the convolutions' backward
  passes are 2-3x faster. No effect on a GPU. `TF_ENABLE_ONEDNN_OPTS=0`
  turns them off.
  """
  if 'tensorflow' in sys.modules:
    return  # Too late to matter; the caller imported TensorFlow already.
  os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')
