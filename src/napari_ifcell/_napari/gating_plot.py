"""Histogram of one marker with the four gate ranges shaded (matplotlib in Qt): the display
transform on the bottom axis, raw intensities on the top one."""

from __future__ import annotations

import numpy as np

from napari_ifcell._napari.palette import STATE_COLOURS

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
        self.raw_axis = None
        self.background = None  # the figure without the ranges, for redrawing only them on a move
        self.canvas.mpl_connect("draw_event", self._on_draw)
        self.empty("No cells yet: segment the slide, then Quantify cells (or Load cell table).")

    def empty(self, message: str) -> None:
        """Before there is a table: a blank plot that says what to do, not an empty 0-1 chart."""
        self._reset()
        self.axes.set_axis_off()
        self.axes.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize=9, color="#555555")
        self.canvas.draw_idle()

    def _reset(self) -> None:
        if self.raw_axis is not None:
            self.raw_axis.remove()
            self.raw_axis = None
        self.axes.clear()
        self.axes.set_axis_on()
        self.spans = []
        self.background = None

    def show(self, counts: np.ndarray, edges: np.ndarray, thresholds_x, *, title: str, to_raw=None, from_raw=None):
        """Counts per bin on the display axis; with ``to_raw`` / ``from_raw`` (the transform's
        inverse and forward) a top axis in raw intensities."""
        self._reset()
        ax = self.axes
        ax.stairs(counts, edges, fill=True, color="#333333")
        ax.set_yscale("log" if np.any(counts > 0) else "linear")  # no cells (e.g. none in view): no log axis
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
        if to_raw is not None and from_raw is not None:
            self.raw_axis = ax.secondary_xaxis("top", functions=(to_raw, from_raw))
            self.raw_axis.tick_params(labelsize=7)
            self.raw_axis.set_xlabel("raw intensity", fontsize=7, labelpad=1)
            self.raw_axis.set_xticks(raw_ticks(edges[0], edges[-1], to_raw))
        self.spans = [ax.axvspan(edges[0], edges[0], color=c, alpha=0.3, lw=0, animated=True) for c in STATE_COLOURS]
        self.move(thresholds_x, edges)

    def move(self, thresholds_x, edges) -> None:
        """Place the shaded ranges at the thresholds (display-axis units)."""
        bounds = [edges[0], *np.clip(thresholds_x, edges[0], edges[-1]), edges[-1]]
        for span, (lo, hi) in zip(self.spans, zip(bounds[:-1], bounds[1:])):
            span.set_x(lo)
            span.set_width(max(hi - lo, 0))
        if self.background is None:  # a full draw (layout, ticks, text) only when the plot changed
            self.canvas.draw_idle()
            return
        # a drag: the saved figure and the four ranges on it; Qt paints it with the next frame
        # (update, not blit: blit repaints at once, which costs a full widget paint per move)
        self.canvas.restore_region(self.background)
        self._draw_spans()
        self.canvas.update()

    def _on_draw(self, _event) -> None:
        """After a full draw: keep the figure without the ranges, then draw them on it."""
        self.background = self.canvas.copy_from_bbox(self.figure.bbox)
        self._draw_spans()

    def _draw_spans(self) -> None:
        for span in self.spans:
            self.axes.draw_artist(span)


def raw_ticks(lo: float, hi: float, to_raw, n: int = 6) -> list[float]:
    """Raw intensities for the top axis, about evenly spaced along the display axis from ``lo``
    to ``hi`` and rounded to two significant figures (more where a narrow range needs them to
    stay apart). Evenly spaced raw values would crowd together where a transform such as
    asinh or log compresses the high end."""
    raw = np.asarray(to_raw(np.linspace(lo, hi, n)), float)
    for figures in range(2, 7):
        ticks = list(dict.fromkeys(float(f"{value:.{figures}g}") for value in raw))
        if len(ticks) >= n - 1:
            break
    return ticks
