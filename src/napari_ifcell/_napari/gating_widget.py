"""Gating dock widget: per-marker histograms with three draggable thresholds, cells
recoloured live by the selected marker's state or by phenotype."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QComboBox, QFormLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from napari_ifcell._napari.gating_plot import STATE_COLOURS, STATE_LABELS, HistogramPlot
from napari_ifcell._napari.layers import PLUGIN_KEY, world_scale
from napari_ifcell._napari.view import visible_region_px
from napari_ifcell._napari.workers import run_in_background, run_steps_in_background
from napari_ifcell.io.project import slide_name

PHENOTYPE_COLOURS = ("#f58518", "#54a24b", "#e45756", "#4c78a8", "#b279a2", "#9d755d", "#72b7b2", "#eeca3b")
RESERVED_COLOURS = {"other": "#999999", "unknown": "#ffffff", "inconsistent": "#000000"}
SLIDER_STEPS = 1000


class GatingWidget(QWidget):
    """Tune per-marker gates against live histograms; the cells follow in the viewer."""

    def __init__(self, napari_viewer):
        from magicgui.widgets import FileEdit
        from superqt import QLabeledDoubleRangeSlider

        super().__init__()
        self.viewer = napari_viewer
        self.session = None
        self.layer = None
        self.lut = np.zeros(1, np.uint8)
        self.labels_slide = None
        self.if_file = FileEdit(label="IF slide", mode="r", filter="*.tif *.tiff")
        self.labels_file = FileEdit(label="Nuclei labels", mode="r", filter="*.tif *.tiff")
        self.table_file = FileEdit(label="Cell table", mode="w", filter="*.parquet *.csv *.tsv")
        self.gates_file = FileEdit(label="Gate file", mode="w", filter="*.yaml *.yml *.json")
        self.quantify_button = QPushButton("Quantify cells")
        self.load_button = QPushButton("Load cell table")
        self.marker = QComboBox()
        self.colour_by = QComboBox()
        self.colour_by.addItems(["marker state", "phenotype"])
        self.scope = QComboBox()
        self.scope.addItems(["whole slide", "cells in view"])
        self.slider = QLabeledDoubleRangeSlider(Qt.Orientation.Horizontal)
        self.slider.setDecimals(2)
        self.plot = HistogramPlot()
        self.range_counts = QLabel()
        self.phenotypes = QLabel()
        self.hierarchy = QLabel()
        self.status = QLabel()
        self.save_button, self.load_gates_button, self.reset_button = (
            QPushButton("Save gates"),
            QPushButton("Load gates"),
            QPushButton("Reset marker to suggestion"),
        )
        self._layout()
        self.quantify_button.clicked.connect(self.quantify)
        self.load_button.clicked.connect(self.load_table)
        self.marker.currentTextChanged.connect(self._show_marker)
        self.colour_by.currentTextChanged.connect(lambda _: self._recolour())
        self.scope.currentTextChanged.connect(lambda _: self._show_marker(self.marker.currentText()))
        self.slider.valueChanged.connect(self._on_slider)
        self.save_button.clicked.connect(self.save_gates)
        self.load_gates_button.clicked.connect(self.load_gates)
        self.reset_button.clicked.connect(self.reset_marker)

    def _layout(self) -> None:
        form = QFormLayout()
        for w in (self.if_file, self.labels_file, self.table_file):
            form.addRow(w.label, w.native)
        buttons = QHBoxLayout()
        buttons.addWidget(self.quantify_button)
        buttons.addWidget(self.load_button)
        form.addRow(buttons)
        form.addRow("Marker", self.marker)
        form.addRow("Colour cells by", self.colour_by)
        form.addRow("Histogram of", self.scope)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        self.plot.canvas.setMinimumHeight(170)
        layout.addWidget(self.plot.canvas)
        layout.addWidget(QLabel("Thresholds: negative | uncertain | positive | over-exposed"))
        layout.addWidget(self.slider)
        for label in (self.range_counts, self.phenotypes, self.hierarchy, self.status):
            label.setWordWrap(True)
            layout.addWidget(label)
        gates = QFormLayout()
        gates.addRow(self.gates_file.label, self.gates_file.native)
        row = QHBoxLayout()
        for b in (self.save_button, self.load_gates_button, self.reset_button):
            row.addWidget(b)
        gates.addRow(row)
        layout.addLayout(gates)
        self.setMaximumWidth(460)

    # --- getting a table -----------------------------------------------------------------
    def _table_path(self) -> Path:
        given = str(self.table_file.value)
        if given not in ("", "."):
            return Path(given)
        labels = Path(self.labels_file.value)
        return labels.with_name(slide_name(labels) + "_cells.parquet")

    def quantify(self, *, sync: bool | None = None):
        from napari_ifcell.pipeline.gating import quantify_slide_steps

        self.status.setText("Quantifying every cell...")
        self._cancel = threading.Event()
        return run_steps_in_background(
            quantify_slide_steps(self.if_file.value, self.labels_file.value, self._table_path()),
            on_progress=lambda step: self.status.setText(f"Quantifying: tile {step[1]} of {step[2]}"),
            on_done=self._on_table,
            on_error=self._on_error,
            cancel=self._cancel,
            sync=sync,
        )

    def load_table(self, *, sync: bool | None = None):
        from napari_ifcell.pipeline.gating import load_table_with_suggestions

        self.status.setText("Loading the cell table...")
        slide_name = Path(self.if_file.value).name if str(self.if_file.value) not in ("", ".") else ""
        return run_in_background(
            load_table_with_suggestions,
            self._table_path(),
            slide_name,
            on_done=self._on_table,
            on_error=self._on_error,
            sync=sync,
        )

    def _on_error(self, exc: Exception) -> None:
        self.status.setText(f"Error: {exc}")

    def _on_table(self, result) -> None:
        from napari_ifcell.core.gating.session import GatingSession
        from napari_ifcell.pipeline.tiling import NucleiLevels

        if result is None:
            self.status.setText("Cancelled.")
            return
        table, gateset, suggestions = result
        self.session = GatingSession(table, gateset, suggestions=suggestions)
        if self.labels_slide is None or str(self.labels_slide.path) != str(self.labels_file.value):
            self.labels_slide = NucleiLevels(self.labels_file.value)
        self._add_layer()
        self._show_gates()
        self.status.setText(f"{len(table)} cells; gates suggested for {len(suggestions)} markers.")

    def _show_gates(self) -> None:
        """Marker list, hierarchy and the first marker's histogram, for the current gates."""
        hierarchy = self.session.gates.hierarchy
        self.hierarchy.setText("Hierarchy (child -> parent): " + ", ".join(f"{c} -> {p}" for c, p in hierarchy.items()))
        with _blocked(self.marker):
            self.marker.clear()
            self.marker.addItems(self.session.markers)
        self._show_marker(self.session.markers[0])

    # --- the layer ------------------------------------------------------------------------
    def _add_layer(self) -> None:
        from napari.utils.colormaps import DirectLabelColormap

        from napari_ifcell.core.display import LookupView

        if self.layer is not None and self.layer in self.viewer.layers:
            self.viewer.layers.remove(self.layer)
        self.lut = self.session.label_lookup("state", self.session.markers[0])
        levels = [LookupView(level, self.lut) for level in self.labels_slide.levels]
        data = levels if len(levels) > 1 else levels[0]
        self.layer = self.viewer.add_labels(
            data,
            name="cells by gate",
            multiscale=len(levels) > 1,
            scale=world_scale(self.labels_slide),
            opacity=0.8,
            colormap=DirectLabelColormap(color_dict={None: "transparent", 0: "transparent"}),
            units=("µm", "µm"),
            metadata={PLUGIN_KEY: {"role": "gating"}},
        )

    def _recolour(self) -> None:
        """Refill the per-cell lookup and let napari redraw the visible tiles."""
        if self.session is None:
            return
        from napari.utils.colormaps import DirectLabelColormap

        by_state = self.colour_by.currentText() == "marker state"
        self.session.label_lookup("state" if by_state else "phenotype", self.marker.currentText(), out=self.lut)
        colours = (
            STATE_COLOURS
            if by_state
            else [
                RESERVED_COLOURS.get(n, PHENOTYPE_COLOURS[i % len(PHENOTYPE_COLOURS)])
                for i, n in enumerate(self.session.phenotype_names)
            ]
        )
        colour_dict = {None: "transparent", 0: "transparent", **{i + 1: c for i, c in enumerate(colours)}}
        if self.layer.colormap.color_dict.keys() != colour_dict.keys() or by_state != getattr(self, "_by_state", None):
            self.layer.colormap = DirectLabelColormap(color_dict=colour_dict)
            self._by_state = by_state
        self.layer.refresh()

    # --- marker, histogram, thresholds -------------------------------------------------------
    def _subset(self):
        if self.scope.currentText() != "cells in view":
            return None
        ps = world_scale(self.labels_slide)[0]
        y, x, h, w = visible_region_px(self.viewer, ps, self.labels_slide.shape)
        return self.session.cells_in(y, x, y + h, x + w)

    def _show_marker(self, marker: str) -> None:
        if self.session is None or not marker:
            return
        from napari_ifcell.core.gating import forward

        gate = self.session.gates.gates[marker]
        counts, edges = self.session.histogram(marker, self._subset())
        tx = forward(np.minimum(gate.thresholds, 1e300), gate.transform, gate.cofactor)
        self.plot.show(counts, edges, tx, title=f"{marker} ({gate.compartment} mean, {gate.transform})")
        with _blocked(self.slider):
            self.slider.setRange(float(edges[0]), float(edges[-1]))
            self.slider.setSingleStep((edges[-1] - edges[0]) / SLIDER_STEPS)
            self.slider.setValue(tuple(float(np.clip(v, edges[0], edges[-1])) for v in tx))
        self._update_counts()
        self._recolour()

    def _on_slider(self, values) -> None:
        marker = self.marker.currentText()
        gate = self.session.gates.gates[marker]
        from napari_ifcell.core.gating import forward, inverse

        _, edges, _ = self.session.display_axis(marker)
        raw = [float(inverse(v, gate.transform, gate.cofactor)) for v in values]
        if values[2] >= edges[-1] and math.isinf(gate.thresholds[2]):
            raw[2] = math.inf  # a slider at the top keeps "no over-exposure limit"
        self.set_thresholds(marker, raw)
        self.plot.move(forward(np.minimum(raw, 1e300), gate.transform, gate.cofactor), edges)

    def set_thresholds(self, marker: str, raw_thresholds) -> None:
        """What dragging the slider does; also callable from scripts and tests."""
        self.session.set_thresholds(marker, raw_thresholds)
        self._update_counts()
        self._recolour()

    def _update_counts(self) -> None:
        marker = self.marker.currentText()
        subset = self._subset()
        counts = self.session.state_counts(marker, subset)
        self.range_counts.setText(f"{marker}: " + ", ".join(f"{name} {n}" for name, n in zip(STATE_LABELS, counts)))
        pheno = self.session.phenotype_counts(subset)
        self.phenotypes.setText("Phenotypes: " + ", ".join(f"{k} {v}" for k, v in pheno.items()))

    # --- gate files ----------------------------------------------------------------------------
    def save_gates(self) -> None:
        from napari_ifcell.io.gate_file import save_gates

        try:
            path = save_gates(self.session.gates, Path(self.gates_file.value))
            self.status.setText(f"Gates saved to {path}")
        except Exception as exc:  # noqa: BLE001 - reported, the session is untouched
            self._on_error(exc)

    def load_gates(self) -> None:
        from napari_ifcell.io.gate_file import load_gates

        try:
            self.session.use_gates(load_gates(Path(self.gates_file.value), columns=self.session.table.columns))
        except Exception as exc:  # noqa: BLE001 - reported; the current gates stay
            self._on_error(exc)
            return
        self._show_gates()
        self.status.setText(f"Gates loaded from {self.gates_file.value}")

    def reset_marker(self) -> None:
        self.session.reset(self.marker.currentText())
        self._show_marker(self.marker.currentText())


class _blocked:
    def __init__(self, widget):
        self.widget = widget

    def __enter__(self):
        self.widget.blockSignals(True)

    def __exit__(self, *exc):
        self.widget.blockSignals(False)
