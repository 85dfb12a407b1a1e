"""Gate slider in a real napari viewer on a million cells: time from moving a threshold
handle to the canvas repainted with the cells recoloured (the Gating widget's slider path:
states, counts, histogram spans, the colour lookup, napari re-reading the labels in view and
drawing the frame).

Baseline: napari re-reading and repainting the same view with nothing changed
(``layer.refresh()``: what any refresh of that layer costs), measured in the same run. Goal: <= 100 ms median per move.

The cells: a 1,000 x 1,000 grid of 8 x 8 px nuclei (an 8,000 x 8,000 px label image, with a
4-level pyramid) and a 1,000,000-row cell table (``bench_gating.synthetic_table``) whose rows are
those nuclei. Two views: level 0 at one screen pixel per image pixel (the most labels a screen
shows at full resolution), and the whole slide.

Usage: xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/bench_gating_viewer.py [--moves 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_gating import synthetic_table

GRID = 1000  # cells per side
CELL_PX = 8


class InMemoryLabels:
    """What the widget needs of a label source: levels, shape, pixel size, path."""

    def __init__(self, levels, path: Path):
        self.levels, self.path, self.pixel_size_um = levels, path, 0.325
        self.shape = levels[0].shape


def labels_pyramid() -> list[np.ndarray]:
    ids = np.arange(1, GRID * GRID + 1, dtype=np.uint32).reshape(GRID, GRID)
    nuclei = np.zeros((CELL_PX, CELL_PX), bool)
    nuclei[1:-1, 1:-1] = True  # a one-pixel gap: cells are told apart
    level0 = np.kron(ids, nuclei.astype(np.uint32))
    return [level0, level0[::2, ::2], level0[::4, ::4], level0[::8, ::8]]


def repaint_ms(viewer, change, n: int) -> list[float]:
    from qtpy.QtWidgets import QApplication

    scene = viewer.window._qt_viewer.canvas._scene_canvas
    out = []
    for i in range(n):
        t = time.perf_counter()
        change(i)
        QApplication.processEvents()  # the layer re-reads the labels in view
        scene.render()  # ... and the frame is drawn
        out.append((time.perf_counter() - t) * 1000)
    return out[3:]  # first moves warm caches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=30)
    args = parser.parse_args()

    import napari
    from qtpy.QtWidgets import QApplication

    from napari_ifcell._napari.gating_widget import GatingWidget
    from napari_ifcell._napari.sources import given_path
    from napari_ifcell._napari.view import camera_of
    from napari_ifcell.core.gating.auto import suggested_gateset

    table = synthetic_table(GRID * GRID)
    centre = (np.arange(GRID) * CELL_PX + CELL_PX / 2).astype(float)
    table["Y_centroid"] = np.repeat(centre, GRID)
    table["X_centroid"] = np.tile(centre, GRID)
    gates, suggestions = suggested_gateset(table)
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    widget = GatingWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.labels_file.value = Path("in-memory-labels")
    widget.labels_slide = InMemoryLabels(labels_pyramid(), given_path(widget.labels_file))
    widget._on_table((table, gates, suggestions))
    assert widget.layer is not None, widget.status.text()
    widget.marker.setCurrentText("CD3e")
    QApplication.processEvents()
    lo, hi = widget.slider.minimum(), widget.slider.maximum()
    positions = np.linspace(lo + 0.3 * (hi - lo), lo + 0.7 * (hi - lo), 7)

    def move(i: int) -> None:
        negative, positive, over = widget.slider.value()
        new_positive = float(positions[i % len(positions)])
        widget.slider.setValue((min(negative, new_positive - 1e-3), new_positive, over))

    ps = 0.325
    h, w = widget.labels_slide.shape
    views = {
        "level 0, 1 screen px per px": (h * ps / 2, w * ps / 2, 1 / ps),
        "whole slide": (h * ps / 2, w * ps / 2, None),
    }
    print(f"{GRID * GRID} cells, canvas {viewer.window._qt_viewer.canvas.size} px")
    for name, (cy, cx, zoom) in views.items():
        if zoom is None:
            viewer.reset_view()
        else:
            camera_of(viewer).center, camera_of(viewer).zoom = (cy, cx), zoom
        QApplication.processEvents()
        base = statistics.median(repaint_ms(viewer, lambda i: widget.layer.refresh(), args.moves))
        moves = repaint_ms(viewer, move, args.moves)
        median = statistics.median(moves)
        print(
            f"{name}: slider move -> frame {median:.1f} ms median ({np.percentile(moves, 90):.1f} ms 90th pct), "
            f"refresh with nothing changed {base:.1f} ms: {median / base:.2f}x the baseline; goal <= 100 ms"
        )
    viewer.close()


if __name__ == "__main__":
    main()
