"""Figures in the paper's style: one panel per task, median lines with
shaded 5-95 percentile bands; A3C and D4PG as labelled markers at the right
edge of each panel.

Each variant has its own colour, line style and marker, so that curves that
coincide stay visible. The quoted A3C and D4PG values (100,000 episodes) do
not set the y-range: at small budgets they would flatten the measured
curves, so a value outside the measured range is drawn as an arrow head on
the top (or bottom) edge, labelled with its number. Episode axes have
integer ticks. Files are written atomically, as PNG and PDF.
"""

from __future__ import annotations

import io
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from reproduce import common
from reproduce.aggregate import Curve

# Per curve label in order of appearance; references are grey tones.
COLORS = ('#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b')
LINESTYLES = ('-', '--', '-.', ':')
MARKERS = ('o', 's', '^', 'D', 'v', 'P')
REFERENCE_COLORS = {'A3C': '#7f7f7f', 'D4PG': '#000000'}
REFERENCE_LABEL = ('A3C, D4PG: final returns quoted from the paper '
                   '(100k episodes), right edge; \u2191 above the range')


def new_figure(**kwargs):
  """A matplotlib Figure outside pyplot: no display, no global figure list
  to close; `save_figure` renders it with Agg."""
  from matplotlib.figure import Figure  # pylint: disable=import-outside-toplevel
  return Figure(**kwargs)


def references(tasks: Sequence[str]) -> Dict[str, Dict[str, float]]:
  """task -> {'A3C': value, 'D4PG': value}, quoted from the paper's Table 1."""
  return {task: {name: float(common.PAPER_TABLE1[name]['values'][task])
                 for name in REFERENCE_COLORS}
          for task in tasks if task in common.PAPER_TABLE1['A3C']['values']}


def save_figure(figure, stem: str) -> List[str]:
  """Saves `figure` as `<stem>.png` and `<stem>.pdf`, each atomically."""
  paths = []
  for fmt in ('png', 'pdf'):
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=120, bbox_inches='tight')
    path = f'{stem}.{fmt}'
    common.write_atomic(path, buffer.getvalue())
    paths.append(path)
  return paths


def variant_style(index: int) -> dict:
  """Colour, line style and marker of the index-th curve of a figure."""
  return dict(color=COLORS[index % len(COLORS)],
              linestyle=LINESTYLES[index % len(LINESTYLES)],
              marker=MARKERS[index % len(MARKERS)])


def integer_episodes(axis) -> None:
  """Episode counts are whole: no fractional ticks on the x-axis."""
  from matplotlib.ticker import MaxNLocator  # pylint: disable=import-outside-toplevel
  axis.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))


def reference_handle():
  """The legend entry of the quoted references' markers."""
  from matplotlib.lines import Line2D  # pylint: disable=import-outside-toplevel
  return Line2D([], [], marker='<', color='#555555', linestyle='none')


def plot_curves(curves: Mapping[str, Mapping[str, Optional[Curve]]],
                title: str, stem: str,
                refs: Optional[Mapping[str, Mapping[str, float]]] = None,
                columns: int = 3) -> List[str]:
  """Writes `curves_figure(...)` to `<stem>.{png,pdf}`; returns the paths."""
  return save_figure(curves_figure(curves, title, refs, columns), stem)


def curves_figure(curves: Mapping[str, Mapping[str, Optional[Curve]]],
                  title: str,
                  refs: Optional[Mapping[str, Mapping[str, float]]] = None,
                  columns: int = 3):
  """One panel per task: curves[task][label] as median + 5-95 band, each
  label in its own colour, line style and marker.

  refs[task][name] (A3C, D4PG) are drawn as labelled markers at the right
  edge of the panel (`reference_markers`); the y-range fits the curves.
  Returns a matplotlib Figure.
  """
  tasks = list(curves)
  rows = max(1, -(-len(tasks) // columns))
  cols = min(columns, max(1, len(tasks)))
  figure = new_figure(figsize=(4.6 * cols, 3.2 * rows))
  axes = figure.subplots(rows, cols, squeeze=False)
  labels = list(dict.fromkeys(l for per in curves.values() for l in per))
  styles = {label: variant_style(i) for i, label in enumerate(labels)}
  for axis, task in zip(axes.flat, tasks):
    _panel(axis, task, curves[task], styles, (refs or {}).get(task, {}))
  for axis in list(axes.flat)[len(tasks):]:
    axis.axis('off')
  handles = {}
  for axis in axes.flat:
    for handle, label in zip(*axis.get_legend_handles_labels()):
      handles.setdefault(label, handle)
  if any((refs or {}).values()):
    handles[REFERENCE_LABEL] = reference_handle()
  figure.legend(list(handles.values()), list(handles), loc='lower center',
                ncol=min(len(handles), 4), frameon=False, fontsize=8,
                bbox_to_anchor=(0.5, -0.02))
  figure.suptitle(title, fontsize=9)
  figure.tight_layout(rect=(0, 0.1, 1, 0.93))
  return figure


def _panel(axis, task: str, per_label: Mapping[str, Optional[Curve]],
           styles: Mapping[str, dict], refs: Mapping[str, float]) -> None:
  drawn = {label: c for label, c in per_label.items() if c is not None}
  for label, curve in drawn.items():
    x = np.asarray(curve.episodes)
    style = styles[label]
    axis.plot(x, curve.median, label=label, lw=1.5, markersize=5,
              markevery=max(1, len(x) // 12), **style)
    axis.fill_between(x, curve.low, curve.high, color=style['color'],
                      alpha=0.15, lw=0)
  measured = [v for c in drawn.values() for v in (*c.low, *c.high, *c.median)]
  axis.set_ylim(*value_range(measured or list(refs.values()) or [0.0]))
  reference_markers(axis, refs)
  axis.set_title(common.TASK_TITLES.get(task, task), fontsize=10)
  axis.set_xlabel('collected episodes', fontsize=8)
  axis.set_ylabel('test return', fontsize=8)
  axis.tick_params(labelsize=7)
  integer_episodes(axis)
  axis.grid(alpha=0.3)
  if not drawn:
    axis.set_xticks([])
    axis.text(0.5, 0.5, 'no runs yet', ha='center', va='center',
              transform=axis.transAxes, color='#999999')


def value_range(values: Sequence[float], margin: float = 0.08) -> Tuple[float, float]:
  """A y-range holding `values` with a margin (at least 1 wide)."""
  low, high = float(np.min(values)), float(np.max(values))
  pad = max(margin * (high - low), 0.5)
  return low - pad, high + pad


def reference_markers(axis, refs: Mapping[str, float]) -> None:
  """The quoted returns as markers just outside the right edge, each named
  with its value, without changing the y-range: a value above (below) the
  range becomes an up (down) arrow head at the top (bottom) corner, several
  stacked inwards from the corner."""
  from matplotlib import transforms  # pylint: disable=import-outside-toplevel
  low, high = axis.get_ylim()
  edge = transforms.blended_transform_factory(axis.transAxes, axis.transData)
  above = sorted((v, n) for n, v in refs.items() if v > high)[::-1]
  below = sorted((v, n) for n, v in refs.items() if v < low)
  inside = [(v, n) for n, v in refs.items() if low <= v <= high]
  placed = ([(n, v, high, '^', -9 * i, ' \u2191') for i, (v, n) in enumerate(above)]
            + [(n, v, low, 'v', 9 * i, ' \u2193') for i, (v, n) in enumerate(below)]
            + [(n, v, v, '<', 0, '') for v, n in inside])
  for name, value, y, marker, offset, arrow in placed:
    color = REFERENCE_COLORS.get(name, '#555555')
    shifted = transforms.offset_copy(edge, fig=axis.figure, y=offset,
                                     units='points')
    axis.plot([1.02], [y], marker=marker, color=color, markersize=6,
              linestyle='none', transform=shifted, clip_on=False)
    axis.annotate(f'{name} {value:g}{arrow}', (1.02, y), xycoords=shifted,
                  xytext=(6, 0), textcoords='offset points', va='center',
                  fontsize=7, color=color, annotation_clip=False)
