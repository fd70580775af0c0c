import numpy as np
import pytest

from planet_tf import pictures

RED, BLUE = (200, 30, 60), (20, 40, 220)


def _videos(sequences=2, steps=8):
  """Truth and model videos with known solid frames at sequence 0."""
  rng = np.random.default_rng(0)
  truth = rng.integers(0, 256, (sequences, steps, 64, 64, 3), dtype=np.uint8)
  model = rng.integers(0, 256, truth.shape, dtype=np.uint8)
  truth[0, 0], model[0, 0] = RED, BLUE
  return truth, model


def _pixel_at_cell_centre(figure, image, cell):
  """The rendered pixel at the centre of a mosaic cell (top-left y, x)."""
  axis = figure.axes[0]
  x, y = axis.transData.transform((cell[1] + 31.5, cell[0] + 31.5))
  return image[int(round(image.shape[0] - y)), int(round(x))]


def test_rendered_rows_labels_and_pixels():
  truth, model = _videos()
  figure = pictures.openloop_figure(truth, model, context=3, title='a title')
  image = pictures.figure_to_array(figure)
  width, height = figure.get_size_inches() * figure.dpi
  assert image.dtype == np.uint8 and image.shape[2] == 3
  assert np.allclose(image.shape[:2], (height, width), atol=1)
  assert len(np.unique(image.reshape(-1, 3), axis=0)) > 1000
  texts = [t.get_text() for t in figure.axes[0].texts]
  assert texts.count('model') == 2 and texts.count('|error|') == 2
  assert 'seq 1\ntruth' in texts and 'seq 2\ntruth' in texts
  assert [t for t in texts if t.startswith('t=')] == [f't={t}' for t in range(8)]
  assert figure.texts[0].get_text() == 'a title'
  assert 'green: the 3 context frames' in figure.texts[1].get_text()
  # Truth, model and error rows of the first context frame, where drawn.
  _, cells = pictures._mosaic(truth, model)  # pylint: disable=protected-access
  assert tuple(_pixel_at_cell_centre(figure, image, cells[(0, 0, 0)])) == RED
  assert tuple(_pixel_at_cell_centre(figure, image, cells[(0, 1, 0)])) == BLUE
  assert tuple(_pixel_at_cell_centre(figure, image, cells[(0, 2, 0)])) == (
      180, 10, 160)
  # Context frames are framed, predicted ones are not.
  assert len(figure.axes[0].patches) == 2 * 3 * 3


def test_frame_columns_show_context_then_spread_predictions():
  assert pictures.frame_columns(50, 5) == [0, 1, 2, 3, 4, 5, 10, 15, 20, 25,
                                           29, 34, 39, 44, 49]
  assert pictures.frame_columns(8, 3, predicted=10) == list(range(8))
  assert pictures.frame_columns(12, 2, predicted=2) == [0, 1, 2, 11]
  with pytest.raises(ValueError, match='context < steps'):
    pictures.frame_columns(5, 5)


def test_openloop_image_refuses_mismatched_videos():
  truth, model = _videos()
  with pytest.raises(ValueError, match='uint8 videos'):
    pictures.openloop_image(truth, model[:, :4], context=2)
  with pytest.raises(ValueError, match='uint8 videos'):
    pictures.openloop_image(truth.astype(np.float32), model, context=2)
