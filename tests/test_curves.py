from reproduce import plotting
from reproduce.aggregate import Curve


def test_figure4_panels_fit_the_data_with_distinct_styles_and_whole_episodes():
  def curve(values):
    return Curve([2, 4], values, values, values, [1, 1], [1, 1])

  same = curve([1.0, 4.0])
  figure = plotting.curves_figure(
      {'cheetah_run': {'a': same, 'b': same, 'c': curve([0.5, 2.0])}},
      'title', plotting.references(['cheetah_run']))
  axis = figure.axes[0]
  low, high = axis.get_ylim()
  assert -1 < low < 0.5 and 4 < high < 5, 'quoted 214 and 524 set no range'
  left, right = axis.get_xlim()
  ticks = [t for t in axis.get_xticks() if left <= t <= right]
  assert ticks and all(float(t).is_integer() for t in ticks)
  styles = [(line.get_linestyle(), line.get_marker(), line.get_color())
            for line in axis.get_lines()
            if line.get_label() in ('a', 'b', 'c')]
  assert len(styles) == 3 and len(set(styles)) == 3
  for part in (0, 1, 2):
    assert len({style[part] for style in styles}) == 3
  labels = [t.get_text() for t in axis.texts]
  assert 'D4PG 524 \u2191' in labels and 'A3C 214 \u2191' in labels
