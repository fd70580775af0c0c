"""Labelled pictures of the model: open-loop video predictions.

One renderer for the training-time summaries (PNG files and TensorBoard)
and for `reproduce/openloop.py`. matplotlib is imported only when a picture
is drawn, and only through its Agg canvas: no display, no pyplot state.
"""

from __future__ import annotations

from typing import List

import numpy as np

CONTEXT_COLOR = '#2ca02c'  # Frames the model filtered from observations.
PREDICTED_COLOR = '#bbbbbb'
ROW_NAMES = ('truth', 'model', '|error|')
CELL_INCHES = 0.8


def frame_columns(steps: int, context: int, predicted: int = 10) -> List[int]:
  """The time steps shown: every context frame, then up to `predicted`
  predicted frames spread evenly from the first predicted one to the last."""
  if not 0 < context < steps:
    raise ValueError(f'Need 0 < context < steps, got context {context} of '
                     f'{steps} steps.')
  later = np.linspace(context, steps - 1, min(predicted, steps - context))
  return list(range(context)) + sorted({int(round(t)) for t in later})


def openloop_figure(truth: np.ndarray, model: np.ndarray, context: int,
                    title: str = '', predicted: int = 10, dpi: int = 100,
                    scale: float = 1.25):
  """A matplotlib Figure of open-loop predictions.

  truth, model: uint8 videos (B, T, H, W, 3), as `WorldModel.openloop`
  returns them; the first `context` frames of `model` are reconstructions
  of observed frames, the rest predicted from the actions alone. Per
  sequence three rows: truth, model and |truth - model|; columns labelled
  with their time step, context frames framed in green. Shows every context
  frame and up to `predicted` predicted ones (`frame_columns`), each frame
  `scale` x its size in pixels at `dpi`.
  """
  from matplotlib.figure import Figure  # pylint: disable=import-outside-toplevel
  from matplotlib.patches import Rectangle  # pylint: disable=import-outside-toplevel
  truth, model = np.asarray(truth), np.asarray(model)
  if truth.shape != model.shape or truth.ndim != 5 or truth.dtype != np.uint8:
    raise ValueError(f'Need two uint8 videos (B, T, H, W, 3) of one shape, '
                     f'got {truth.shape} {truth.dtype} and {model.shape}.')
  columns = frame_columns(truth.shape[1], context, predicted)
  mosaic, cells = _mosaic(truth[:, columns], model[:, columns])
  # One image in one axes: a figure of 180 small axes took 5 s of CPU.
  margins = dict(left=0.8, right=0.1, top=0.5 + 0.16 * title.count('\n'),
                 bottom=0.3)  # Inches.
  width = mosaic.shape[1] * scale / dpi + margins['left'] + margins['right']
  height = mosaic.shape[0] * scale / dpi + margins['top'] + margins['bottom']
  figure = Figure(figsize=(width, height), dpi=dpi)
  axis = figure.add_axes((margins['left'] / width, margins['bottom'] / height,
                          1 - (margins['left'] + margins['right']) / width,
                          1 - (margins['top'] + margins['bottom']) / height))
  axis.imshow(mosaic, interpolation='nearest')
  axis.set_axis_off()
  size = truth.shape[2:4]
  for (b, r, c), (y, x) in cells.items():
    if c < context:
      axis.add_patch(Rectangle((x - 1.5, y - 1.5), size[1] + 2, size[0] + 2,
                               fill=False, edgecolor=CONTEXT_COLOR, lw=1.5,
                               clip_on=False))
    if b == 0 and r == 0:
      axis.text(x + size[1] / 2, y - 3, f't={columns[c]}', ha='center',
                va='bottom', fontsize=7,
                color=CONTEXT_COLOR if c < context else 'black')
    if c == 0:
      axis.text(x - 4, y + size[0] / 2,
                f'seq {b + 1}\n{ROW_NAMES[r]}' if r == 0 else ROW_NAMES[r],
                ha='right', va='center', fontsize=7)
  figure.suptitle(title, fontsize=8)
  figure.text(0.5, 0.06 / height, f'green: the {context} context frames, '
              'filtered from observations; the others predicted from the '
              'actions alone', ha='center', va='bottom', fontsize=7)
  return figure


def _mosaic(truth: np.ndarray, model: np.ndarray, gap: int = 3,
            sequence_gap: int = 10):
  """The frames as one white-spaced uint8 image, and the top-left pixel of
  each (sequence, row, column) cell in it."""
  error = np.abs(truth.astype(np.int16) - model.astype(np.int16)).astype(np.uint8)
  sequences, steps, height, width, _ = truth.shape
  block = 3 * height + 2 * gap
  mosaic = np.full((sequences * block + (sequences - 1) * sequence_gap,
                    steps * width + (steps - 1) * gap, 3), 255, np.uint8)
  cells = {}
  for b in range(sequences):
    for r, video in enumerate((truth, model, error)):
      for c in range(steps):
        y = b * (block + sequence_gap) + r * (height + gap)
        x = c * (width + gap)
        mosaic[y:y + height, x:x + width] = video[b, c]
        cells[(b, r, c)] = (y, x)
  return mosaic, cells


def figure_to_array(figure) -> np.ndarray:
  """The figure drawn by Agg as a uint8 RGB array (H, W, 3), e.g. for
  `tf.io.encode_png` or `tf.summary.image`."""
  from matplotlib.backends.backend_agg import FigureCanvasAgg  # pylint: disable=import-outside-toplevel
  canvas = FigureCanvasAgg(figure)
  canvas.draw()
  return np.ascontiguousarray(np.asarray(canvas.buffer_rgba())[..., :3])


def openloop_image(truth: np.ndarray, model: np.ndarray, context: int,
                   title: str = '', predicted: int = 10) -> np.ndarray:
  """`openloop_figure` drawn as a uint8 RGB array (H, W, 3)."""
  return figure_to_array(openloop_figure(truth, model, context, title,
                                         predicted))
