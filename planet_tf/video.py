"""Episode videos: the camera frames, episodes side by side, the return so
far written above each, optionally the model's reconstruction beside it.

Frames stay 64x64 and are scaled up by nearest neighbour (each pixel a
`SCALE` x `SCALE` block, no smoothing), so a video shows exactly what the
agent saw. MP4 through imageio's ffmpeg plugin (imageio-ffmpeg ships the
encoder in its wheel); GIF through Pillow where no ffmpeg is available.
Videos are encoded in memory and written atomically (`rundir.write_atomic`).
"""

from __future__ import annotations

import os
from typing import List, Optional, Sequence

import numpy as np

from planet_tf import rundir

SCALE = 4  # 64 x 64 -> 256 x 256: multiples of ffmpeg's 16-pixel blocks.
CAPTION = 16  # Pixels of the caption band above each episode.
GAP = 16  # Pixels between episodes.
FPS = 20
FORMATS = ('.mp4', '.gif')
STRIP_FRAMES = 8  # Frames of a still strip (`frame_strip`).


class VideoError(ValueError):
  """A video cannot be written: the path or the encoder."""


def has_ffmpeg() -> bool:
  """Whether imageio-ffmpeg and its encoder binary are available."""
  try:
    import imageio_ffmpeg  # pylint: disable=import-outside-toplevel
    return os.path.exists(imageio_ffmpeg.get_ffmpeg_exe())
  except (ImportError, RuntimeError):
    return False


def check_path(path: str, ffmpeg: Optional[bool] = None) -> str:
  """The path a video for `path` will be written to, checked before any
  work: `.mp4` becomes `.gif` without ffmpeg (`ffmpeg` overrides the
  check). Raises VideoError for another format or an unwritable place."""
  stem, suffix = os.path.splitext(path)
  if suffix.lower() not in FORMATS:
    raise VideoError(f'--video={path}: cannot encode {suffix or "no suffix"}; '
                     'name an .mp4 or a .gif file.')
  if suffix.lower() == '.mp4' and not (has_ffmpeg() if ffmpeg is None
                                       else ffmpeg):
    path = stem + '.gif'
  _check_place('video', path)
  return path


def check_image_path(path: str) -> str:
  """`path` for a still (`--strip`), checked before any work: a .png in a
  writable directory. Raises VideoError naming the problem."""
  if os.path.splitext(path)[1].lower() != '.png':
    raise VideoError(f'--strip={path}: name a .png file.')
  _check_place('strip', path)
  return path


def _check_place(flag: str, path: str) -> None:
  directory = os.path.dirname(os.path.abspath(path))
  if not os.path.isdir(directory):
    raise VideoError(f'--{flag}={path}: the directory {directory} does not '
                     'exist; create it or pick another path.')
  if os.path.isdir(path) or not os.access(directory, os.W_OK):
    raise VideoError(f'--{flag}={path}: cannot write there (a directory, or '
                     'no permission); pick another path.')


def upscale(frames: np.ndarray, scale: int = SCALE) -> np.ndarray:
  """(..., H, W, C) -> (..., H*scale, W*scale, C) by nearest neighbour."""
  return np.repeat(np.repeat(frames, scale, axis=-3), scale, axis=-2)


def _caption(width: int, text: str) -> np.ndarray:
  from PIL import Image, ImageDraw  # pylint: disable=import-outside-toplevel
  band = Image.new('RGB', (width, CAPTION), (0, 0, 0))
  ImageDraw.Draw(band).text((3, 2), text, fill=(255, 255, 255))
  return np.asarray(band)


def episode_panel(images: np.ndarray, rewards: np.ndarray, label: str = '',
                  model: Optional[np.ndarray] = None) -> np.ndarray:
  """One episode as video frames (T, CAPTION + 256, W, 3): the caption
  '<label> return <so far>' above the scaled-up frame, and the model's
  reconstruction of it to its right if `model` (T, 64, 64, 3) is given."""
  frames = upscale(np.asarray(images, np.uint8))
  if model is not None:
    frames = np.concatenate([frames, upscale(np.asarray(model, np.uint8))], 2)
  so_far = np.cumsum(rewards)
  prefix = f'{label} ' if label else ''
  captions = np.stack([_caption(frames.shape[2], f'{prefix}return {value:.1f}')
                       for value in so_far])
  return np.concatenate([captions, frames], 1)


def side_by_side(panels: Sequence[np.ndarray]) -> np.ndarray:
  """Episodes' panels next to each other, GAP pixels apart; a shorter
  episode holds its last frame."""
  length = max(len(panel) for panel in panels)
  padded = [np.concatenate([panel, np.repeat(panel[-1:], length - len(panel),
                                             0)]) for panel in panels]
  height = padded[0].shape[1]
  gap = np.zeros((length, height, GAP, 3), np.uint8)
  columns: List[np.ndarray] = []
  for panel in padded:
    columns += [gap, panel] if columns else [panel]
  return np.concatenate(columns, 2)


def encode(frames: np.ndarray, suffix: str, fps: int = FPS) -> bytes:
  """The video (T, H, W, 3) uint8 as the bytes of an .mp4 or .gif file."""
  import imageio.v3 as iio  # pylint: disable=import-outside-toplevel
  if suffix.lower() == '.mp4':
    # yuv420p: what browsers and players decode. H and W are multiples of
    # 16, so imageio need not resize.
    return iio.imwrite('<bytes>', frames, extension='.mp4', plugin='FFMPEG',
                       fps=fps, codec='libx264', macro_block_size=16,
                       quality=8)
  return iio.imwrite('<bytes>', frames, extension='.gif', plugin='pillow',
                     duration=1000 / fps, loop=0)


def write(path: str, frames: np.ndarray, fps: int = FPS) -> str:
  """Writes `frames` to `path` (checked and resolved by `check_path`:
  GIF without ffmpeg) atomically; returns the path written. Raises
  VideoError naming the problem."""
  path = check_path(path)
  try:
    data = encode(frames, os.path.splitext(path)[1], fps)
  except (OSError, RuntimeError, ValueError) as error:
    first = str(error).strip().splitlines()[0] if str(error).strip() else ''
    raise VideoError(f'Could not encode {path} ({type(error).__name__}: '
                     f'{first}); install imageio-ffmpeg from requirements.txt '
                     'or name a .gif file.') from error
  try:
    rundir.write_atomic(path, data)
  except OSError as error:
    raise VideoError(f'Could not write {path}: {error}.') from error
  return path


def _spread(length: int, count: int) -> List[int]:
  """`count` indices (at most `length`) spread evenly over 0..length-1,
  first and last included."""
  return [int(i) for i in np.linspace(0, length - 1, min(count, length)).round()]


def frame_strip(panel: np.ndarray, count: int = STRIP_FRAMES) -> np.ndarray:
  """`count` frames spread over one episode's panel (`episode_panel`, with
  its caption), side by side GAP pixels apart: a still of a video."""
  return side_by_side([panel[i][None] for i in _spread(len(panel), count)])[0]


def write_image(path: str, image: np.ndarray) -> str:
  """Writes `image` (H, W, 3) uint8 to the .png `path` atomically; returns
  the path. Raises VideoError naming the problem."""
  import imageio.v3 as iio  # pylint: disable=import-outside-toplevel
  path = check_image_path(path)
  try:
    rundir.write_atomic(path, iio.imwrite('<bytes>', image, extension='.png'))
  except OSError as error:
    raise VideoError(f'Could not write {path}: {error}.') from error
  return path


def strip(images: np.ndarray, count: int = 10) -> np.ndarray:
  """`count` frames spread over an episode, side by side at 64x64
  (a TensorBoard image of the video)."""
  return np.concatenate([images[i] for i in _spread(len(images), count)], 1)
