"""Figures in the paper's style: one panel per task, median lines with
shaded 5-95 percentile bands, A3C and D4PG as dashed horizontal lines.

Files are written atomically (temporary file, then rename), as PNG and PDF.
"""

from __future__ import annotations

import io
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

from reproduce import common
from reproduce.aggregate import Curve

# Colours per curve label in order of appearance; references are grey tones.
COLORS = ('#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b')
REFERENCE_STYLES = {'A3C': dict(color='#7f7f7f', linestyle=':'),
                    'D4PG': dict(color='#000000', linestyle='--')}


def pyplot():
  """matplotlib.pyplot on the Agg backend (no display needed)."""
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  return plt


def references(tasks: Sequence[str]) -> Dict[str, Dict[str, float]]:
  """task -> {'A3C': value, 'D4PG': value}, quoted from the paper's Table 1."""
  return {task: {name: float(common.PAPER_TABLE1[name]['values'][task])
                 for name in REFERENCE_STYLES}
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


def plot_curves(curves: Mapping[str, Mapping[str, Optional[Curve]]],
                title: str, stem: str,
                refs: Optional[Mapping[str, Mapping[str, float]]] = None,
                columns: int = 3) -> List[str]:
  """One panel per task: curves[task][label] as median + 5-95 band.

  refs[task][name] draws dashed horizontal lines (A3C, D4PG). Returns the
  written paths (PNG, PDF).
  """
  plt = pyplot()
  tasks = list(curves)
  rows = max(1, -(-len(tasks) // columns))
  cols = min(columns, max(1, len(tasks)))
  figure, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows),
                              squeeze=False)
  labels = list(dict.fromkeys(l for per in curves.values() for l in per))
  colors = {label: COLORS[i % len(COLORS)] for i, label in enumerate(labels)}
  for axis, task in zip(axes.flat, tasks):
    _panel(axis, task, curves[task], colors, (refs or {}).get(task, {}))
  for axis in list(axes.flat)[len(tasks):]:
    axis.axis('off')
  handles = {}
  for axis in axes.flat:
    for handle, label in zip(*axis.get_legend_handles_labels()):
      handles.setdefault(label, handle)
  figure.legend(list(handles.values()), list(handles), loc='lower center',
                ncol=min(len(handles), 5), frameon=False,
                bbox_to_anchor=(0.5, -0.02))
  figure.suptitle(title, fontsize=10)
  figure.tight_layout(rect=(0, 0.06, 1, 0.95))
  try:
    return save_figure(figure, stem)
  finally:
    plt.close(figure)


def _panel(axis, task: str, per_label: Mapping[str, Optional[Curve]],
           colors: Mapping[str, str], refs: Mapping[str, float]) -> None:
  for label, curve in per_label.items():
    if curve is None:
      continue
    x = np.asarray(curve.episodes)
    axis.plot(x, curve.median, color=colors[label], label=label, lw=1.5,
              marker='.' if len(x) < 3 else None)
    axis.fill_between(x, curve.low, curve.high, color=colors[label],
                      alpha=0.2, lw=0)
  for name, value in refs.items():
    axis.axhline(value, lw=1.2, label=f'{name} (paper, 100k episodes)',
                 **REFERENCE_STYLES[name])
  axis.set_title(common.TASK_TITLES.get(task, task), fontsize=10)
  axis.set_xlabel('collected episodes', fontsize=8)
  axis.set_ylabel('test return', fontsize=8)
  axis.tick_params(labelsize=7)
  axis.grid(alpha=0.3)
  if not any(c is not None for c in per_label.values()):
    axis.text(0.5, 0.5, 'no runs yet', ha='center', va='center',
              transform=axis.transAxes, color='#999999')
