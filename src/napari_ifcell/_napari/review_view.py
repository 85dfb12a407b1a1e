"""What the review widget shows: the cells coloured by their review outcome, the current cell
centred and ringed, and a gallery of its crops (H&E and the relevant IF channels)."""

from __future__ import annotations

import numpy as np
from qtpy.QtGui import QImage, QPixmap
from qtpy.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from napari_ifcell._napari.layers import PLUGIN_KEY

CLASS_COLOURS = ("#00c8ff", "#ffd700", "#ff4040", "#ff8c00", "#969696")  # the classes, in order
REJECTED_COLOUR = "#ff00ff"
VIEW_UM = 60.0  # field of view around the current cell


class Gallery(QWidget):
    """A grid of titled crops, scaled up for the eye."""

    def __init__(self, columns: int = 3, display_px: int = 112):
        super().__init__()
        self.columns, self.display_px = columns, display_px
        self.grid = QGridLayout()
        self.setLayout(self.grid)
        self.titles: list[str] = []

    def show_crops(self, crops) -> None:
        while self.grid.count():
            item = self.grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.titles = [title for title, _ in crops]
        for i, (title, rgb) in enumerate(crops):
            rgb = np.ascontiguousarray(rgb)
            h, w, _ = rgb.shape
            image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
            picture = QLabel()
            picture.setPixmap(QPixmap.fromImage(image).scaled(self.display_px, self.display_px))
            caption = QLabel(title)
            box = QWidget()
            layout = QVBoxLayout(box)
            layout.setContentsMargins(1, 1, 1, 1)
            layout.addWidget(picture)
            layout.addWidget(caption)
            self.grid.addWidget(box, i // self.columns, i % self.columns)


class ReviewLayers:
    """The layers the review adds: cells coloured by decision, and a ring on the current cell."""

    def __init__(self, viewer, store, pixel_size_um: float, classes):
        from napari.utils.colormaps import DirectLabelColormap

        from napari_ifcell.core.lookup_view import LookupView

        self.viewer, self.ps = viewer, pixel_size_um
        self.lut = np.zeros(int(store.meta["next_id"]) + 1, np.uint8)
        colours = {None: "transparent", 0: "transparent", **{i + 1: c for i, c in enumerate(CLASS_COLOURS[: len(classes)])},
                   len(classes) + 1: REJECTED_COLOUR}  # fmt: skip
        data = [LookupView(level, self.lut) for level in store.levels]
        for name in ("reviewed cells", "current cell"):
            if name in viewer.layers:
                viewer.layers.remove(name)
        self.cells = viewer.add_labels(data if len(data) > 1 else data[0], name="reviewed cells", multiscale=len(data) > 1,
                                       scale=(self.ps, self.ps), units=("µm", "µm"), opacity=0.45,
                                       colormap=DirectLabelColormap(color_dict=colours),
                                       metadata={PLUGIN_KEY: {"role": "review"}})  # fmt: skip
        self.current = viewer.add_points(np.zeros((0, 2)), name="current cell", scale=(self.ps, self.ps), size=40,
                                         face_color="transparent", border_color="yellow", border_width=0.08)  # fmt: skip
        self.n_classes = len(classes)

    def recolour(self, ids, labels, statuses) -> None:
        """Decided cells take their class colour, rejected ones magenta, others none."""
        from napari_ifcell.core.review_state import STATUSES

        ids = np.asarray(ids, np.int64)
        if len(ids) and ids.max() >= len(self.lut):
            grown = np.zeros(int(ids.max()) + 1024, np.uint8)
            grown[: len(self.lut)] = self.lut
            self.lut = grown
            for level in list(self.cells.data) if self.cells.multiscale else [self.cells.data]:
                level.lut = self.lut
        decided = np.isin(statuses, (STATUSES.index("approved"), STATUSES.index("corrected")))
        rejected = np.asarray(statuses) == STATUSES.index("rejected")
        self.lut[ids] = np.where(decided, np.asarray(labels) + 1, np.where(rejected, self.n_classes + 1, 0))
        self.cells.refresh()

    def focus(self, y_px: float, x_px: float) -> None:
        """Centre the camera on a cell, at a zoom showing about ``VIEW_UM`` around it."""
        self.current.data = np.array([[y_px, x_px]])
        self.viewer.camera.center = (y_px * self.ps, x_px * self.ps)
        self.viewer.camera.zoom = min(self.viewer.canvas.size) / VIEW_UM
