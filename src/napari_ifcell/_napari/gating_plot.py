"""Histogram of one marker with the four gate ranges shaded (matplotlib in Qt)."""

from __future__ import annotations

import numpy as np

STATE_COLOURS = ("#4c78a8", "#bbbbbb", "#e45756", "#b279a2")  # negative, uncertain, positive, over-exposed
STATE_LABELS = ("negative", "uncertain", "positive", "over-exposed")


class HistogramPlot:
    """A matplotlib canvas: counts per bin (log y) and the four ranges as shaded spans."""

    def __init__(self):
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(4, 2.4), tight_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.axes = self.figure.add_subplot(111)
        self.spans = []

    def show(self, counts: np.ndarray, edges: np.ndarray, thresholds_x, *, title: str) -> None:
        ax = self.axes
        ax.clear()
        ax.stairs(counts, edges, fill=True, color="#333333")
        ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
        self.spans = [ax.axvspan(edges[0], edges[0], color=c, alpha=0.3, lw=0) for c in STATE_COLOURS]
        self.move(thresholds_x, edges)

    def move(self, thresholds_x, edges) -> None:
        """Place the shaded ranges at the thresholds (display-axis units)."""
        bounds = [edges[0], *np.clip(thresholds_x, edges[0], edges[-1]), edges[-1]]
        for span, (lo, hi) in zip(self.spans, zip(bounds[:-1], bounds[1:])):
            span.set_x(lo)
            span.set_width(max(hi - lo, 0))
        self.canvas.draw_idle()
