"""What the review widget shows: the cells coloured by their review outcome, the current cell
centred and ringed, and a gallery of its crops (H&E and the relevant IF channels)."""

from __future__ import annotations

import numpy as np
from napari.utils.colormaps.standardize_color import transform_color
from qtpy.QtGui import QImage, QPixmap
from qtpy.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from napari_ifcell._napari.layers import PLUGIN_KEY, remove_layers
from napari_ifcell._napari.palette import CURRENT_COLOUR, REJECTED_COLOUR, class_palette, legend_html
from napari_ifcell._napari.view import camera_of

VIEW_UM = 60.0  # field of view around the current cell
WHITE = np.ones(4, np.float32)


class Gallery(QWidget):
    """A grid of titled crops, scaled up for the eye."""

    def __init__(self, columns: int = 3, display_px: int = 112):
        super().__init__()
        self.columns, self.display_px = columns, display_px
        self.grid = QGridLayout()
        self.setLayout(self.grid)
        self.titles: list[str] = []
        self.pictures: list[QLabel] = []

    def show_crops(self, crops) -> None:
        """Show ``(title, RGB array)`` crops; the same titles as before only swap the pictures
        (no re-layout of the dock on every cell)."""
        titles = [title for title, _ in crops]
        if titles != self.titles:
            self._make_boxes(titles)
        for (_, rgb), picture in zip(crops, self.pictures):
            rgb = np.ascontiguousarray(rgb)
            h, w, _ = rgb.shape
            image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
            picture.setPixmap(QPixmap.fromImage(image).scaled(self.display_px, self.display_px))

    def _make_boxes(self, titles: list[str]) -> None:
        while self.grid.count():
            item = self.grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.titles, self.pictures = titles, []
        for i, title in enumerate(titles):
            picture = QLabel()
            picture.setFixedSize(self.display_px, self.display_px)
            box = QWidget()
            layout = QVBoxLayout(box)
            layout.setContentsMargins(1, 1, 1, 1)
            layout.addWidget(picture)
            layout.addWidget(QLabel(title))
            self.grid.addWidget(box, i // self.columns, i % self.columns)
            self.pictures.append(picture)


class ReviewLayers:
    """The layers the review adds: a ring per decided cell in its class colour (magenta when
    rejected), and a larger ring on the current cell. Points, not a recoloured label image:
    a decision then redraws a few markers instead of re-reading the labels in view."""

    def __init__(self, viewer, pixel_size_um: float, classes):
        self.viewer, self._ps = viewer, pixel_size_um
        palette = class_palette(classes)
        self.legend = legend_html(
            [*((name, palette[name]) for name in classes), ("rejected", REJECTED_COLOUR)],
            title="Rings",
            symbol="&#9711;",
        ) + legend_html([("current cell", CURRENT_COLOUR)], symbol=" &nbsp; &#9711;")
        rgba = transform_color([*(palette[name] for name in classes), REJECTED_COLOUR])
        self.colours, self.rejected = dict(enumerate(rgba[:-1])), rgba[-1]
        self.decided: dict[int, tuple[float, float, np.ndarray]] = {}  # cell -> y, x, RGBA
        remove_layers(viewer, ("reviewed cells", "current cell"))
        self.cells = viewer.add_points(
            np.zeros((0, 2)),
            name="reviewed cells",
            scale=(pixel_size_um, pixel_size_um),
            units=("µm", "µm"),
            size=22,
            face_color="transparent",
            border_width=0.15,
            border_width_is_relative=True,
            metadata={PLUGIN_KEY: {"role": "review"}},
        )
        self.current = viewer.add_points(
            np.zeros((0, 2)),
            name="current cell",
            metadata={PLUGIN_KEY: {"role": "review"}},
            scale=(pixel_size_um, pixel_size_um),
            units=("µm", "µm"),
            size=40,
            face_color="transparent",
            border_color=CURRENT_COLOUR,
            border_width=0.1,
        )

    @property
    def ps(self) -> float:
        """µm per slide pixel as drawn now (the Loader rescales the layers when it is corrected)."""
        return float(self.cells.scale[-1]) if self.cells in self.viewer.layers else self._ps

    def recolour(self, ids, labels, statuses, centres) -> None:
        """Mark decided cells with their class colour, rejected ones magenta; forget others.
        ``centres``: ``(N, 2)`` level-0 row / column of ``ids``."""
        from napari_ifcell.core.review.state import STATUSES

        decided = (STATUSES.index("approved"), STATUSES.index("corrected"))
        for cell, label, status, (y, x) in zip(
            np.asarray(ids).tolist(), np.asarray(labels).tolist(), np.asarray(statuses).tolist(), centres
        ):
            if status in decided and label >= 0:
                self.decided[cell] = (y, x, self.colours.get(label, WHITE))
            elif status == STATUSES.index("rejected"):
                self.decided[cell] = (y, x, self.rejected)
            else:
                self.decided.pop(cell, None)
        values = list(self.decided.values())
        centres = np.array([v[:2] for v in values], float).reshape(-1, 2)
        colours = np.array([v[2] for v in values], np.float32).reshape(-1, 4)
        with self.cells.events.blocker_all():  # the layer's events once, after both are set
            self.cells.data = centres
            self.cells.border_color = colours if len(colours) else "white"
        self.cells.refresh()

    def zoom(self) -> float:
        """The camera zoom showing about ``VIEW_UM`` around a cell."""
        return min(self.viewer.canvas.size) / VIEW_UM

    def focus(self, y_px: float, x_px: float) -> None:
        """Centre the camera on a cell, at a zoom showing about ``VIEW_UM`` around it."""
        with self.current.events.blocker_all():  # a new data array re-derives every layer's extent
            self.current.data = np.array([[y_px, x_px]])
        self.current.refresh()
        zoom = self.zoom()
        if not np.isclose(camera_of(self.viewer).zoom, zoom):  # each camera change re-slices every layer in view
            camera_of(self.viewer).zoom = zoom
        camera_of(self.viewer).center = (y_px * self.ps, x_px * self.ps)
