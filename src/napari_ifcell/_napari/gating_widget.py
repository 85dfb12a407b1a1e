"""Gating dock widget: per-marker histograms with three draggable thresholds, cells
recoloured live by the selected marker's state or by phenotype. The gates and the gated
table (marker states, phenotypes) are saved in the slide's project as the gates move."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
from qtpy.QtCore import QSignalBlocker, QTimer
from qtpy.QtWidgets import QComboBox, QFormLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from napari_ifcell._napari.busy import Busy
from napari_ifcell._napari.gated_saves import GatedTableSaves
from napari_ifcell._napari.gating_files import GateFiles
from napari_ifcell._napari.gating_plot import STATE_LABELS, HistogramPlot
from napari_ifcell._napari.gating_thresholds import ThresholdControls
from napari_ifcell._napari.layers import PLUGIN_KEY, redraw_lookup, world_scale
from napari_ifcell._napari.palette import STATE_COLOURS, class_palette, legend_html
from napari_ifcell._napari.sources import SLIDE_FILTER, TABLE_FILTER, ZARR_TIP, given_path, nuclei_field, set_path
from napari_ifcell._napari.state import GATED, LABELS, SLIDES, workflow_state
from napari_ifcell._napari.view import camera_of, visible_region_px
from napari_ifcell.io.project import slide_name


class GatingWidget(GateFiles, QWidget):
    """Tune per-marker gates against live histograms; the cells follow in the viewer."""

    def __init__(self, napari_viewer):
        from magicgui.widgets import FileEdit

        super().__init__()
        self.viewer = napari_viewer
        self.state = workflow_state(napari_viewer)
        self.session = None
        self.layer = None
        self.lut = np.zeros(1, np.uint8)
        self.labels_slide = None
        self._session_slide = self._loading_for = None  # the Loader's slide when the table was asked for
        self.if_file = FileEdit(label="IF slide", mode="r", filter=SLIDE_FILTER, tooltip=ZARR_TIP)
        self.labels_file = nuclei_field(
            "Nuclei", "the label store folder Segment writes (<slide>.ifcell), or a label image (File...)"
        )
        self.table_file = FileEdit(label="Cell table", mode="w", filter=TABLE_FILTER)
        self.gates_file = FileEdit(label="Gate file", mode="w", filter="*.yaml *.yml *.json *.csv")
        self.gated_file = FileEdit(
            label="Gated table",
            mode="w",
            filter="*.parquet *.csv *.tsv",
            tooltip="saved as the gates move: the cell table plus marker states and phenotypes",
        )
        self.saves = GatedTableSaves(self, self._save_snapshot, self._on_saved, self._on_save_error)
        self.quantify_button = QPushButton("Quantify cells")
        self.load_button = QPushButton("Load cell table")
        self.cancel_button = QPushButton("Cancel")
        self.busy = Busy(self.cancel_button, lambda message: self.status.setText(message))
        self.busy.guard(self.quantify_button, self.load_button)
        self.marker = QComboBox()
        self.colour_by = QComboBox()
        self.colour_by.addItems(["marker state", "phenotype"])
        self.scope = QComboBox()
        self.scope.addItems(["whole slide", "cells in view"])
        self.thresholds = ThresholdControls()
        self.slider, self.threshold_fields = self.thresholds.slider, self.thresholds.fields
        self.plot = HistogramPlot()
        self.range_counts = QLabel()
        self.phenotypes = QLabel()
        self.hierarchy = QLabel()
        self.status = QLabel()
        self.save_status = QLabel()
        self.save_button, self.load_gates_button, self.reset_button = (
            QPushButton("Save gates"),
            QPushButton("Load gates"),
            QPushButton("Reset marker to suggestion"),
        )
        self._layout()
        self._enable_gating(False)
        self.quantify_button.clicked.connect(self.quantify)
        self.load_button.clicked.connect(self.load_table)
        self.marker.currentTextChanged.connect(self._show_marker)
        self.colour_by.currentTextChanged.connect(lambda _: self._recolour())
        self.scope.currentTextChanged.connect(lambda _: self._show_marker(self.marker.currentText()))
        self._view_moved = QTimer(self, singleShot=True, interval=250)  # once a pan or zoom settles
        self._view_moved.timeout.connect(self._follow_view)
        camera_of(self.viewer).events.center.connect(self._on_camera)
        camera_of(self.viewer).events.zoom.connect(self._on_camera)
        self.thresholds.dragged.connect(self._on_dragged)
        self.thresholds.typed.connect(self._on_typed)
        self.save_button.clicked.connect(self.save_gates)
        self.load_gates_button.clicked.connect(self.load_gates)
        self.reset_button.clicked.connect(self.reset_marker)
        self.state.changed.connect(self._on_state_changed)
        self._on_state_changed(SLIDES)

    def _on_state_changed(self, what: str) -> None:
        """The Loader's slide and its project fill the fields (still changeable)."""
        project = self.state.project
        if what == SLIDES:
            if self.session is not None and self._session_slide != self._slide_now():
                self._forget_session()
            set_path(self.if_file, self.state.path_of("if"))
            set_path(self.labels_file, self.state.existing("labels"))
            for field, path in (
                (self.table_file, "cell_table"),
                (self.gates_file, "gates"),
                (self.gated_file, "gated_table"),
            ):
                set_path(field, getattr(project, path) if project is not None else None)
        elif what == LABELS and project is not None:
            set_path(self.labels_file, project.labels)

    def _slide_now(self) -> str | None:
        return None if self.state.slide is None else str(self.state.slide.path)

    def _forget_session(self) -> None:
        """Another slide (or none) in the Loader: this table's gates and cells are not its own,
        and the fields now name its project, so a later save would write into it."""
        self.saves.flush()  # the last move is saved where the fields still say
        self.session, self.labels_slide = None, None
        if self.layer is not None and self.layer in self.viewer.layers:
            self.viewer.layers.remove(self.layer)
        self.layer = None
        with QSignalBlocker(self.marker):
            self.marker.clear()
        self._enable_gating(False)
        self.plot.empty("Another slide: Quantify cells (or Load cell table) for it.")
        self.status.setText("The slide changed: its cells are not gated yet.")

    def _layout(self) -> None:
        form = QFormLayout()
        for w in (self.if_file, self.labels_file, self.table_file, self.gated_file):
            form.addRow(w.label, w.native)
        buttons = QHBoxLayout()
        buttons.addWidget(self.quantify_button)
        buttons.addWidget(self.load_button)
        buttons.addWidget(self.cancel_button)
        form.addRow(buttons)
        form.addRow("Marker", self.marker)
        form.addRow("Colour cells by", self.colour_by)
        form.addRow("Histogram of", self.scope)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        self.plot.canvas.setMinimumHeight(170)
        layout.addWidget(self.plot.canvas)
        layout.addWidget(self.thresholds)
        for label in (self.range_counts, self.phenotypes, self.hierarchy, self.status, self.save_status):
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

    def _enable_gating(self, enabled: bool) -> None:
        """Controls that need a cell table are off (and the plot says why) until one is loaded."""
        for w in (self.thresholds, self.save_button, self.load_gates_button, self.reset_button):
            w.setEnabled(enabled)

    # --- getting a table -----------------------------------------------------------------
    def _table_path(self) -> Path:
        given = given_path(self.table_file)
        if given is not None:
            return given
        labels = self._labels_path()
        return labels.with_name(slide_name(labels) + "_cells.parquet")

    def _labels_path(self) -> Path:
        labels = given_path(self.labels_file)
        if labels is None:
            raise ValueError("Nuclei: segment the slide first (Segment), or choose a label store folder or label TIFF")
        return labels

    def quantify(self, *, sync: bool | None = None):
        from napari_ifcell.notes import steps_with_notes
        from napari_ifcell.pipeline.gating import quantify_slide_steps

        try:
            if_path = given_path(self.if_file)
            if if_path is None:
                raise ValueError("IF slide: open it in the Loader or choose its file")
            steps = quantify_slide_steps(
                if_path, self._labels_path(), self._table_path(), **self._loader_settings(if_path)
            )
        except ValueError as exc:
            return self._on_error(exc)
        self._loading_for = self._slide_now()
        self.status.setText("Quantifying every cell...")
        return self.busy.run_steps(
            steps_with_notes(steps),
            on_progress=lambda step: self.status.setText(f"Quantifying: tile {step[1]} of {step[2]}"),
            on_done=self._on_table,
            on_error=self._on_error,
            sync=sync,
        )

    def _loader_settings(self, if_path: Path) -> dict:
        """The pixel size and channel names the Loader has for ``if_path`` (the user may have
        typed them), and where a missing pixel size is given."""
        on_screen = self.state.if_slide
        if on_screen is None or Path(on_screen.path).resolve() != Path(if_path).resolve():
            return {"pixel_size_option": "the Loader's 'IF µm/px' (open this slide there)"}
        return {
            "pixel_size_um": on_screen.pixel_size_um,
            "channel_names": list(on_screen.channel_names),
            "pixel_size_option": "the Loader's 'IF µm/px'",
        }

    def load_table(self, *, sync: bool | None = None):
        from napari_ifcell.notes import with_notes
        from napari_ifcell.pipeline.gating import load_table_with_suggestions

        try:
            table_path, labels = self._table_path(), self._labels_path()
        except ValueError as exc:
            return self._on_error(exc)
        self._loading_for = self._slide_now()
        self.status.setText("Loading the cell table...")
        slide = given_path(self.if_file)
        return self.busy.run(
            with_notes,
            load_table_with_suggestions,
            table_path,
            slide.name if slide is not None else "",
            labels=labels,
            on_done=self._on_table,
            on_error=self._on_error,
            sync=sync,
        )

    def _on_error(self, exc: Exception) -> None:
        self.status.setText(f"Error: {exc}")

    def _on_table(self, result) -> None:
        """``result``: ``((table, gates, suggestions), notes)``, or None when cancelled."""
        from napari_ifcell.core.gating.session import GatingSession
        from napari_ifcell.pipeline.tiling import NucleiLevels

        if result is None:
            self.status.setText("Quantify cancelled: no new cell table was written.")
            return
        if self._loading_for != self._slide_now():
            self.status.setText("The slide changed while the table was read: load the new slide's table.")
            return
        (table, gateset, suggestions), notes = result
        try:
            labels = self._labels_path()
            if self.labels_slide is None or str(self.labels_slide.path) != str(labels):
                self.labels_slide = NucleiLevels(labels)
        except Exception as exc:  # noqa: BLE001 - reported; no session without its cells on screen
            return self._on_error(exc)
        self.session = GatingSession(table, gateset, suggestions=suggestions)
        self._session_slide = self._loading_for
        kept = self._use_saved_gates()
        self._add_layer()
        self._enable_gating(True)
        self._show_gates()
        said = f"gates from {self.gates_file.value}." if kept else f"gates suggested for {len(suggestions)} markers."
        # what the CLI prints after its output (MCMICRO columns, rules left out, cells without values)
        self.status.setText(" ".join([f"{len(table)} cells; {said}", *(f"Note: {n}" for n in notes)]))
        self.save_gated()  # the gated table matches these gates from the start

    # --- saving as the gates move ---------------------------------------------------------
    def _gates_changed(self) -> None:
        self.saves.soon()

    def save_gated(self, *, sync: bool | None = None):
        """Write the gated table and the gates (atomically, in a worker) for the current gates."""
        return self.saves.save(sync=sync)

    def _save_snapshot(self):
        gated_path = given_path(self.gated_file)
        if self.session is None or gated_path is None:
            return None
        # the gates copied: the user may keep dragging while the worker writes
        return self.session.table, copy.deepcopy(self.session.gates), gated_path, given_path(self.gates_file)

    def _on_saved(self, gated, path: Path) -> None:
        self.save_status.setText(f"Gated table saved: {path.name} ({len(gated)} cells)")
        self.state.announce(GATED)

    def _on_save_error(self, exc: Exception) -> None:
        self.save_status.setText(f"Error saving the gated table: {exc}")

    def _show_gates(self) -> None:
        """Marker list, hierarchy and the first marker's histogram, for the current gates."""
        hierarchy = self.session.gates.hierarchy
        self.hierarchy.setText("Hierarchy (child -> parent): " + ", ".join(f"{c} -> {p}" for c, p in hierarchy.items()))
        current = self.marker.currentText()
        with QSignalBlocker(self.marker):
            self.marker.clear()
            self.marker.addItems(self.session.markers)
            if current in self.session.markers:  # the marker being tuned stays in view
                self.marker.setCurrentText(current)
        self._show_marker(self.marker.currentText())

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

    def _recolour(self, *, changed_only: bool = False) -> None:
        """Refill the per-cell lookup (after a move, the cells it changed) and redraw."""
        if self.session is None:
            return
        from napari.utils.colormaps import DirectLabelColormap

        by_state = self.colour_by.currentText() == "marker state"
        cells = self.session.changed if changed_only else None
        mode = "state" if by_state else "phenotype"
        self.session.label_lookup(mode, self.marker.currentText(), out=self.lut, cells=cells)
        colours = self._colours(by_state)
        colour_dict = {None: "transparent", 0: "transparent", **{i + 1: c for i, c in enumerate(colours)}}
        if self.layer.colormap.color_dict.keys() != colour_dict.keys() or by_state != getattr(self, "_by_state", None):
            self.layer.colormap = DirectLabelColormap(color_dict=colour_dict)
            self._by_state = by_state
        redraw_lookup(self.layer)

    def _colours(self, by_state: bool) -> list[str]:
        """The colour of each lookup value (after 0): the gate states, or the phenotypes."""
        if by_state:
            return list(STATE_COLOURS)
        palette = class_palette(self.session.phenotype_names)
        return [palette[n] for n in self.session.phenotype_names]

    # --- marker, histogram, thresholds -------------------------------------------------------
    def _subset(self):
        if self.scope.currentText() != "cells in view":
            return None
        ps = world_scale(self.labels_slide)[0]
        y, x, h, w = visible_region_px(self.viewer, ps, self.labels_slide.shape)
        return self.session.cells_in(y, x, y + h, x + w)

    def _on_camera(self, _event=None) -> None:
        try:
            if self.session is not None and self.scope.currentText() == "cells in view":
                self._view_moved.start()
        except RuntimeError:  # the dock was closed: its Qt widgets are gone, the viewer stays
            camera_of(self.viewer).events.center.disconnect(self._on_camera)
            camera_of(self.viewer).events.zoom.disconnect(self._on_camera)

    def _follow_view(self) -> None:
        """The histogram and counts of the cells now in view (their colours do not change)."""
        if self.session is not None and self.scope.currentText() == "cells in view" and self.marker.currentText():
            self._show_histogram(self.marker.currentText())

    def _show_marker(self, marker: str) -> None:
        if self.session is not None and marker:
            self._show_histogram(marker)
            self._recolour()

    def _show_histogram(self, marker: str) -> None:
        from napari_ifcell.core.gating import forward, inverse

        gate = self.session.gates.gates[marker]
        counts, edges = self.session.histogram(marker, self._subset())
        self.thresholds.show_gate(gate, edges)
        self.plot.show(
            counts,
            edges,
            self.thresholds.to_display(gate.thresholds),
            title=f"{marker} ({gate.compartment} mean; bottom: {gate.transform}, top: raw)",
            to_raw=lambda v: inverse(v, gate.transform, gate.cofactor),
            from_raw=lambda r: forward(r, gate.transform, gate.cofactor),
        )
        self._update_counts()

    def _on_dragged(self, raw) -> None:
        marker = self.marker.currentText()
        try:
            self.set_thresholds(marker, raw)
        except ValueError as exc:  # e.g. handles set out of order from code: said, never raised into Qt
            self.status.setText(f"Error: {exc}")
            return
        self.plot.move(self.thresholds.to_display(raw), self.thresholds.edges)
        self.thresholds.follow(self.session.gates.gates[marker])

    def _on_typed(self) -> None:
        """Thresholds typed in raw intensity: exactly these values (the slider follows)."""
        if self.session is None:
            return
        marker = self.marker.currentText()
        try:
            self.set_thresholds(marker, self.thresholds.typed_thresholds())
        except ValueError as exc:
            self.status.setText(f"Error: {exc}")
            return
        self._show_marker(marker)

    def set_thresholds(self, marker: str, raw_thresholds) -> None:
        """What dragging the slider does; also callable from scripts and tests."""
        self.session.set_thresholds(marker, raw_thresholds, set_by=self.state.user)
        self._update_counts()
        self._recolour(changed_only=True)
        self._gates_changed()

    def _update_counts(self) -> None:
        marker = self.marker.currentText()
        subset = self._subset()
        counts = self.session.state_counts(marker, subset)
        # the legends of both colourings, with each colour's count
        self.range_counts.setText(
            legend_html(
                [(f"{name} {n}", c) for name, n, c in zip(STATE_LABELS, counts, STATE_COLOURS)],
                title=marker,
            )
        )
        pheno = self.session.phenotype_counts(subset)
        colour = dict(zip(self.session.phenotype_names, self._colours(False)))
        self.phenotypes.setText(
            legend_html([(f"{k} {v}", colour.get(k, "#7f7f7f")) for k, v in pheno.items()], title="Phenotypes")
        )

    def reset_marker(self) -> None:
        if self.session is None:
            return
        self.session.reset(self.marker.currentText())
        self._show_marker(self.marker.currentText())
        self._gates_changed()
