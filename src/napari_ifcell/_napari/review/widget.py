"""Review dock widget: step through a queue of cells with the keyboard, approve, reject or
relabel each with one key, fix masks, and watch agreement; every key press is saved at once.

Keys (while the viewer has focus): ``.`` / ``,`` next / previous, ``a`` approve, ``x`` reject,
``1``-``5`` set the class, ``Control-Z`` / ``Control-Shift-Z`` undo / redo (decisions and mask
edits alike). When another layer takes the keys (a labels layer being painted, the mask
editor) the status line says so. Opening, exporting, the gallery and SAM run off the GUI thread.
"""

from __future__ import annotations

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, Label, LineEdit, PushButton, SpinBox, Table
from qtpy.QtCore import QObject, Signal

from napari_ifcell._napari.review.keys import ReviewKeys
from napari_ifcell._napari.review.mask_tools import MaskTools
from napari_ifcell._napari.review.view import Gallery, ReviewLayers
from napari_ifcell._napari.settings_form import settings_fields
from napari_ifcell._napari.sources import TABLE_FILTER, given_path, layer_with_role, open_sources, set_path
from napari_ifcell._napari.state import GATED, LABELS, PREDICTIONS, SLIDES, login_name, workflow_state
from napari_ifcell._napari.torch_guard import keep_triton_out
from napari_ifcell._napari.view import read_ahead
from napari_ifcell._napari.workers import is_sync, run_in_background
from napari_ifcell.core.review.queue import ORDERS, QueueSettings
from napari_ifcell.core.review.state import STATUSES

STATUS_FILTERS = ("unreviewed", "any", *STATUSES[1:4])


class ReviewWidget(ReviewKeys, MaskTools, Container):
    def __init__(self, napari_viewer):
        keep_triton_out()  # SAM (torch) may run in this process
        self.viewer = napari_viewer
        self.session = self.layers = self.sam = None
        self.queue = np.zeros(0, np.int64)
        self.position = -1
        self._crop_futures: dict = {}
        self._reader = None
        self._ahead_of: int | None = None  # the cell whose view is being read ahead
        self.busy = ""  # what runs in the background now ("" when idle): keys wait for it
        self._crops_ready = _CropsReady()
        self._crops_ready.ready.connect(self._show_crops_if_current)
        self.reviewer = LineEdit(label="Reviewer", value="")
        self.table_file = FileEdit(
            label="Cell table (to start)",
            mode="r",
            filter=TABLE_FILTER,
            tooltip="a gated table (auto labels from its phenotypes) or a model's predictions (auto labels: model)",
        )
        self.store_dir = FileEdit(label="Label store (default: project)", mode="d")
        self.auto_from = ComboBox(label="Auto labels from", choices=["phenotype", "model"], value="phenotype")
        self.gates_file = FileEdit(
            label="Gates (optional)",
            mode="r",
            filter="*.yaml *.yml *.json",
            tooltip="for 'near a gate' uncertainty, and to re-gate cells whose mask you edit",
        )
        self.open_button = PushButton(text="Open / start review")
        queue_fields = settings_fields(
            QueueSettings,
            only=("order", "n_per_class"),
            labels={"n_per_class": "Cells per class"},
            choices={"order": ORDERS},
            ranges={"n_per_class": (1, 10**6, 1)},
        )
        self.order, self.per_class = queue_fields["order"], queue_fields["n_per_class"]
        self._class_names: list[str] = []
        self.class_filter = ComboBox(label="Class", choices=lambda _w: ["any", *self._class_names])
        self.status_filter = ComboBox(label="Status", choices=list(STATUS_FILTERS), value="unreviewed")
        self.region_filter = ComboBox(label="Region", choices=self._region_names)
        self.queue_button = PushButton(text="Build queue")
        self.cell_info = Label(value="")
        self.gallery = Gallery()
        self.edit_button = PushButton(text="Edit this mask")
        self.apply_button = PushButton(text="Apply mask edit")
        self.discard_button = PushButton(text="Discard mask edit")
        self.merge_with = SpinBox(label="Merge with cell", min=0, max=2**31 - 1, value=0)
        self.merge_button = PushButton(text="Merge")
        self.split_button = PushButton(text="Split")
        self.delete_button = PushButton(text="Delete cell")
        self.sam_checkpoint = FileEdit(label="SAM checkpoint", mode="r", filter="*.pth *.pt")
        self.sam_click = CheckBox(text="Click adds a cell (SAM point)", value=False)
        self.counts = Label(value="")
        self.legend = Label(value="")
        self.agreement_button = PushButton(text="Show agreement")
        self.agreement = Table(value={"data": [], "index": [], "columns": []})
        self.confusion = Table(value={"data": [], "index": [], "columns": []})
        self.export_button = PushButton(text="Export table, GeoJSON, agreement")
        self.status = Label(value="Open a review, build a queue, then use the keys: . , a x 1-5, Ctrl+Z.")
        super().__init__(
            widgets=[
                self.reviewer,
                self.table_file,
                self.store_dir,
                self.auto_from,
                self.gates_file,
                self.open_button,
                self.order,
                self.per_class,
                self.class_filter,
                self.status_filter,
                self.region_filter,
                self.queue_button,
                self.cell_info,
                self.status,  # key messages right under the cell they are about
                self.counts,
                _row(self.edit_button, self.apply_button, self.discard_button),
                _row(self.merge_with, self.merge_button, labels=True),
                _row(self.split_button, self.delete_button),
                self.sam_checkpoint,
                self.sam_click,
                self.legend,
                self.agreement_button,
                self.agreement,
                self.confusion,
                self.export_button,
            ]
        )
        self.native.layout().insertWidget(15, self.gallery)  # under the counts
        for label in (self.cell_info, self.legend, self.counts, self.status):
            label.native.setWordWrap(True)
        self.max_width = 440
        self.open_button.changed.connect(self.open_review)
        self.queue_button.changed.connect(self.build_queue)
        self.edit_button.changed.connect(self.edit_mask)
        self.apply_button.changed.connect(self.apply_mask_edit)
        self.discard_button.changed.connect(self.discard_mask_edit)
        self.merge_button.changed.connect(lambda: self._mask_op("merge"))
        self.split_button.changed.connect(lambda: self._mask_op("split"))
        self.delete_button.changed.connect(lambda: self._mask_op("delete"))
        self.export_button.changed.connect(self.export)
        self.agreement_button.changed.connect(self.show_agreement)
        self._bind_keys()
        self.viewer.mouse_drag_callbacks.append(self._on_click)
        self.viewer.layers.selection.events.active.connect(self._on_active_layer)
        self.state = workflow_state(napari_viewer)
        self.state.changed.connect(self._on_state_changed)
        self._on_state_changed(SLIDES)
        self.reviewer.changed.connect(self._on_reviewer_named)

    def _on_reviewer_named(self, name: str) -> None:
        """The reviewer is the viewer's user: the gates they move are recorded with this name."""
        self.state.user = name.strip() or login_name()

    def _on_state_changed(self, what: str) -> None:
        """The review starts from the gated table (IF truth) or, without one, a model's predictions.
        New cells (Segment) close an open review: it would go on naming the cells that were there."""
        if what == LABELS and self.session is not None:
            self.session.close()
            self.session = None
            self.status.value = (
                "The cells were segmented or taken from a label image again: this review was closed (its "
                "decisions are saved). Open it again to go on, if its cells are still the store's."
            )
        slide = self.state.slide
        if what == SLIDES and self.session is not None and (slide is None or slide.path != self.if_slide.path):
            self.session.close()  # its layers went with the slide (the Loader removes them)
            self.session = None
            self.status.value = (
                "Another slide was opened or the slide closed: this review was closed (its decisions are saved)."
            )
        if what not in (SLIDES, GATED, PREDICTIONS):
            return
        gated, predictions = self.state.existing("gated_table"), self.state.existing("predictions")
        set_path(self.table_file, gated or predictions)
        self.auto_from.value = "phenotype" if gated is not None or predictions is None else "model"
        set_path(self.gates_file, self.state.existing("gates"))

    # --- opening ---------------------------------------------------------------------------------
    def _region_names(self, _widget=None) -> list[str]:
        layer = layer_with_role(self.viewer, "regions")
        names = layer.features["name"].dropna().tolist() if layer is not None and "name" in layer.features else []
        return ["whole slide", *names]

    def open_review(self, *, sync: bool | None = None):
        """Open (or start) the project's review in a worker; the layers follow on the GUI thread."""
        from napari_ifcell.io.project import project_folder
        from napari_ifcell.pipeline.review.work import open_review

        if self.busy:
            return self._error(RuntimeError(f"wait: {self.busy}"))
        try:
            self.if_slide, self.pair = open_sources(self.viewer)
            project = project_folder(self.if_slide.path)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            return self._error(exc)
        if self.session is not None:  # hand back the review held open (one editing session per project)
            self.session.close()
            self.session = None
        self.busy = "opening the review"
        self.status.value = f"Opening the review in {project}..."
        unread = self._table_not_read(project)
        return run_in_background(
            open_review,
            project,
            reviewer=self.reviewer.value,
            table_path=given_path(self.table_file),
            store_folder=given_path(self.store_dir),
            gates_path=given_path(self.gates_file),
            auto_from=self.auto_from.value,
            if_slide=self.if_slide,
            on_done=lambda session: self._on_open(session, project, unread),
            on_error=self._worker_error,
            sync=sync,
        )

    def _table_not_read(self, project) -> str:
        """Said when a review exists and a table not the project's own was chosen to start one."""
        from napari_ifcell.io.project import Project

        chosen, review = given_path(self.table_file), Project.at(project)
        if not review.has_review or chosen in (None, *map(self.state.existing, ("gated_table", "predictions"))):
            return ""
        return f" {chosen.name} was not read: the review keeps its first auto labels (move {review.review} away to start anew)."

    def _on_open(self, session, project, unread: str = "") -> None:
        self.busy = ""
        self.session = session
        state = self.session.state
        self._class_names = list(state.classes)
        self.class_filter.reset_choices()
        self.layers = ReviewLayers(self.viewer, self.if_slide.pixel_size_um, state.classes)
        centres = self.session.table(["Y_centroid", "X_centroid"]).set_index("CellID")[["Y_centroid", "X_centroid"]]
        self._centres = centres
        done = np.flatnonzero(state.status > 0)
        self.layers.recolour(
            state.ids[done], state.label[done], state.status[done], centres.reindex(state.ids[done]).to_numpy()
        )
        self._bind_keys(self.layers.cells)
        self.viewer.layers.selection.active = self.layers.cells
        self.legend.value = self.layers.legend
        self._show_counts()
        self.status.value = (
            f"Review of {len(state.ids)} cells open in {project}; {state.n_events} saved edits replayed.{unread}"
        )

    def build_queue(self) -> None:
        from napari_ifcell.pipeline.review.work import session_queue

        if self.session is None:
            return self._error(ValueError("open a review first"))
        region = None
        if self.region_filter.value not in (None, "whole slide"):
            from napari_ifcell._napari.region_layer import layer_regions

            try:
                regions = layer_regions(layer_with_role(self.viewer, "regions"), self.if_slide.pixel_size_um)
            except ValueError as exc:  # a line among the regions
                return self._error(exc)
            region = next(r for r in regions if r.name == self.region_filter.value)
        status = self.status_filter.value
        self.queue = session_queue(
            self.session,
            order=self.order.value,
            classes=None if self.class_filter.value in (None, "any") else [self.class_filter.value],
            statuses=None if status == "any" else [status],
            region=region,
            n_per_class=self.per_class.value,
        )
        self.position = -1
        self.viewer.layers.selection.active = self.layers.cells  # where the review keys are bound
        self.status.value = f"{len(self.queue)} cells in the queue ({self.order.value})."
        self.step(+1)

    # --- showing ----------------------------------------------------------------------------------
    def _recolour(self, cells) -> None:
        state = self.session.state
        pos = state.positions(cells)
        self.layers.recolour(
            state.ids[pos], state.label[pos], state.status[pos], [self._centre(c) for c in state.ids[pos]]
        )
        self._show_counts()

    def _show_current(self) -> None:
        cell = self.current_cell()
        if cell is None:
            return
        state = self.session.state
        p = state.positions([cell])[0]
        y, x = self._centre(cell)
        self.layers.focus(y, x)
        names = (*state.classes, None)
        label = names[state.label[p]]
        by = f" by {state.reviewers[state.reviewer[p]]}" if state.reviewer[p] >= 0 else ""
        auto = names[state.auto[p]] or "no class (none from the gates or a model)"
        self.cell_info.value = (
            f"Cell {cell} ({self.position + 1}/{len(self.queue)}): auto {auto}, "
            f"now {label or 'no class: give it one with its number key'}, {STATUSES[state.status[p]]}{by}"
        )
        crops = self._crops(cell, label)
        if is_sync() or crops.done():
            self.gallery.show_crops(crops.result())
        else:  # shown when read, if the cell is still the current one
            crops.add_done_callback(lambda _f, cell=cell, label=label: self._crops_ready.ready.emit((cell, label)))
        if self.position + 1 < len(self.queue):  # read the next cell's crops and view while this one is looked at
            nxt = int(self.queue[self.position + 1])
            self._crops(nxt, names[state.label[state.positions([nxt])[0]]])
            y, x = self._centre(nxt)
            read = read_ahead(self.viewer, (y * self.layers.ps, x * self.layers.ps), self.layers.zoom())
            self._ahead_of = nxt  # keys pressed faster than the reads: skip the ones passed by
            self._background().submit(lambda cell=nxt: read() if self._ahead_of == cell else None)

    def _crops(self, cell: int, label):
        """A future of the cell's gallery crops, read in a background thread (cached per cell)."""
        from napari_ifcell.pipeline.review.work import gallery_crops

        key = (cell, label)
        if key in self._crop_futures:
            return self._crop_futures[key]
        session, pair, limits, centre = self.session, self.pair, self._limits(), self._centre(cell)
        he_alone = self.if_slide if self.if_slide.is_rgb else None

        def read():
            return gallery_crops(session, cell, centre, label, pair=pair, he_slide=he_alone, limits=limits)

        if len(self._crop_futures) > 8:
            self._crop_futures.clear()
        self._crop_futures[key] = self._background().submit(read)
        return self._crop_futures[key]

    def _background(self):
        """The one thread that reads ahead: gallery crops and the next cell's view, in order."""
        from concurrent.futures import ThreadPoolExecutor

        if self._reader is None:
            self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="review-crops")
        return self._reader

    def _show_crops_if_current(self, key) -> None:
        future = self._crop_futures.get(key)
        if future is None or key[0] != self.current_cell():
            return
        try:
            self.gallery.show_crops(future.result())
        except Exception as exc:  # noqa: BLE001 - a crop that cannot be read is said, the review goes on
            self._error(exc)

    def _centre(self, cell: int) -> tuple[float, float]:
        if cell in self._centres.index:
            y, x = self._centres.loc[cell]
            return float(y), float(x)
        rows = self.session.store.index
        row = rows[rows.CellID == cell]
        return (float(row.Y_centroid.iloc[0]), float(row.X_centroid.iloc[0])) if len(row) else (0.0, 0.0)

    def _limits(self) -> dict:
        """The IF layers' contrast limits, so crops look like the viewer."""
        from napari_ifcell._napari.layers import PLUGIN_KEY

        out = {}
        for layer in self.viewer.layers:
            if layer.metadata.get(PLUGIN_KEY, {}).get("role") == "if":
                out[layer.name] = tuple(layer.contrast_limits)
        return out

    def _show_counts(self) -> None:
        from napari_ifcell.core.review.agreement import auto_vs_people

        counts = self.session.status_counts()
        summary = ", ".join(f"{k} {v}" for k, v in counts.items() if v and k != "deleted")
        a = auto_vs_people(self.session.state)  # not every reviewer pair: this runs on each key press
        kappa = (
            f"; auto vs people: kappa {a.kappa:.3f} on {a.n} cells"
            if a.n and np.isfinite(a.kappa)
            else (f"; auto vs people: kappa n/a yet ({a.n} cells, one class)" if a.n else "")
        )
        self.counts.value = summary + kappa

    def show_agreement(self) -> None:
        """Kappa for auto vs people and every reviewer pair; the auto-vs-people confusion matrix."""
        from napari_ifcell.pipeline.review.work import review_agreement

        if self.session is None:
            self.status.value = "Open a review first (Open / start review): agreement compares its decisions."
            return
        table, auto = review_agreement(self.session)
        table, confusion = table.round(3), auto.confusion
        pairs = len(table) - 1  # the first row is auto vs people
        kappa = f"kappa {auto.kappa:.3f}" if np.isfinite(auto.kappa) else "kappa n/a (one class only)"
        said = [
            f"auto vs people {kappa} over {auto.n} reviewed cells with an automatic label"
            if auto.n
            else "no reviewed cell has an automatic label yet"
        ]
        if pairs:
            said.append(f"{pairs} reviewer pair{'' if pairs == 1 else 's'} who share cells")
        self.status.value = "Agreement: " + "; ".join(said) + " (tables below)."
        rows = [[f"{r['first']} vs {r['second']}", r["cells"], r["kappa"], r["agreement"]] for _, r in table.iterrows()]
        self.agreement.value = {
            "data": rows,
            "index": list(range(len(rows))),
            "columns": ["pair", "cells", "kappa", "agreement"],
        }
        self.confusion.value = {
            "data": confusion.to_numpy().tolist(),
            "index": list(confusion.index),
            "columns": list(confusion.columns),
        }

    # --- exports ------------------------------------------------------------------------------------
    def export(self, *, sync: bool | None = None):
        """Reviewed table, GeoJSON, agreement and the state snapshot, written in a worker."""
        from napari_ifcell.pipeline.review.export import export_agreement, export_review

        if self.session is None or self.busy:
            return self._error(RuntimeError(f"wait: {self.busy}" if self.busy else "open a review first"))
        session = self.session
        folder = session.files.folder.parent / "exports"

        def write():
            return [
                export_review(session, folder / "reviewed_cells.parquet"),
                export_review(session, folder / "cells.geojson"),
                *export_agreement(session, folder / "agreement.csv"),
                session.save(),
            ]

        self.busy = "exporting"
        self.status.value = f"Exporting to {folder}..."
        return run_in_background(write, on_done=self._on_exported, on_error=self._worker_error, sync=sync)

    def _on_exported(self, written) -> None:
        self.busy = ""
        self.status.value = "Written: " + ", ".join(p.name for p in written)

    def _error(self, exc: Exception):
        self.status.value = f"Error: {exc}"
        return None

    def _worker_error(self, exc: Exception) -> None:
        self.busy = ""
        self._error(exc)


def _row(*widgets, labels: bool = False) -> Container:
    """Widgets side by side: the mask tools in three rows instead of seven keep the counts and
    messages in view on a 1000 px screen."""
    row = Container(widgets=list(widgets), layout="horizontal", labels=labels)
    row.margins = (0, 0, 0, 0)
    return row


class _CropsReady(QObject):
    """Carries 'this cell's crops are read' from the reader thread to the GUI thread."""

    ready = Signal(object)
