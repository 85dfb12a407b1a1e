"""Segment dock widget: nuclei in the visible or a drawn region, into the slide's label store."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from magicgui.widgets import ComboBox, Container, FileEdit, Label, LineEdit, ProgressBar, PushButton

from napari_ifcell._napari.busy import Busy
from napari_ifcell._napari.layers import PLUGIN_KEY
from napari_ifcell._napari.settings_form import settings_fields, settings_from_fields
from napari_ifcell._napari.sources import SLIDE_FILTER, ZARR_TIP, open_sources, set_path
from napari_ifcell._napari.state import LABELS, SLIDES, workflow_state
from napari_ifcell._napari.torch_guard import keep_triton_out
from napari_ifcell._napari.view import visible_region_px

BACKEND_LABELS = {
    "Automatic (Hoechst on IF, H&E on RGB)": "auto",
    "Hoechst watershed (CPU)": "hoechst",
    "H&E hematoxylin watershed (CPU)": "he",
    "SAM, point grid (Immunocto)": "sam",
    "SAM, prompts at Hoechst nuclei": "sam-if-seeded",
    "Cellpose (model name or file)": "cellpose",
    "InstanSeg (model name or file)": "instanseg",
    "Your function (module:function)": "custom",
}
AUTO_NUCLEAR = "auto (Hoechst, DAPI…)"  # short: the choice box is as wide as the dock
MODEL_INPUT_LABELS = {"What the slide is": "", "Nuclear stain channel": "nuclear", "H&E": "he"}


class SegmentWidget(Container):
    """Choose a backend and its parameters, then segment where you look or draw."""

    def __init__(self, napari_viewer):
        from napari_ifcell.core.segment.sam_masks import SAM_TUNABLE, SamSettings
        from napari_ifcell.core.segment.sam_model import MODEL_TYPES
        from napari_ifcell.core.segment.watershed import METHODS, WatershedSettings

        keep_triton_out()
        self.viewer = napari_viewer
        self.state = workflow_state(napari_viewer)
        self.labels_layer = None
        self.store = None
        self._store_made_here = False
        self._run_store = None
        self._importing = False  # what is running: taking a label image's cells, or segmenting
        from napari_ifcell.pipeline import SegmentSettings

        self.backend = ComboBox(label="Backend", choices=list(BACKEND_LABELS))
        self.if_file = FileEdit(label="IF slide", mode="r", filter=SLIDE_FILTER, tooltip=ZARR_TIP)
        self.he_file = FileEdit(label="H&E slide", mode="r", filter=SLIDE_FILTER, tooltip=ZARR_TIP)
        self.checkpoint = FileEdit(label="SAM checkpoint", mode="r", filter="*.pth *.pt")
        self.model = LineEdit(label="Model")
        self.model.tooltip = (
            "Cellpose / InstanSeg: a model name (fetched by the library on first use) or a model file; empty: "
            "the default (cpsam; InstanSeg's model for the image kind). Your function: "
            "'package.module:function' or '/path/to/file.py:function', called as f(image, pixel_size_um) -> labels"
        )
        self.model_input = ComboBox(label="Model reads", choices=list(MODEL_INPUT_LABELS))
        self.nuclear = ComboBox(label="Nuclear stain", choices=[AUTO_NUCLEAR])
        self.nuclear.tooltip = (
            "the IF channel the nuclei are segmented on; the slide's channels once opened. "
            "auto: the channel named as a nuclear stain (Hoechst, DAPI, DNA, nuclei)"
        )
        unit = (0.0, 1.0, 0.01)
        self.sam_fields = settings_fields(
            SamSettings,
            only=SAM_TUNABLE,
            labels={
                "model_type": "SAM model",
                "pred_iou_thresh": "Predicted IoU >",
                "stability_score_thresh": "Stability >=",
                "box_nms_thresh": "Box NMS IoU",
                "min_area_um2": "Min area (µm²)",
                "max_area_um2": "Max area (µm²)",
                "um_per_px": "SAM reads at (µm/px)",
            },
            choices={"model_type": ("auto", *MODEL_TYPES), "device": ("auto", "cuda", "mps", "cpu")},
            ranges={
                "points_per_side": (1, 128, 1),
                "pred_iou_thresh": unit,
                "stability_score_thresh": unit,
                "box_nms_thresh": unit,
                "min_area_um2": (0, 10000, 0.1),
                "max_area_um2": (0, 10000, 1),
                "um_per_px": (0.05, 10.0, 0.005),
            },
        )
        self.segment_fields = settings_fields(
            SegmentSettings, only=("tile",), labels={"tile": "Tile (px)"}, ranges={"tile": (64, 4096, 64)}
        )
        self.watershed_fields = settings_fields(
            WatershedSettings,
            only=("method", "nucleus_radius_um"),
            labels={"method": "CPU method", "nucleus_radius_um": "Nucleus radius (µm)"},
            choices={"method": METHODS},
        )
        self.watershed_fields["nucleus_radius_um"].tooltip = "empty: estimated from the region (adaptive method)"
        self.tile = self.segment_fields["tile"]
        self.visible_button = PushButton(text="Segment visible region")
        self.drawn_button = PushButton(text="Segment drawn region")
        self.all_button = PushButton(text="Segment whole slide")
        self.labels_file = FileEdit(label="Label image", mode="r", filter="*.tif *.tiff")
        self.labels_file.tooltip = (
            "cells another tool found on this slide (Cellpose, StarDist, Mesmer...): a label TIFF on the slide's "
            "grid, integer ids, 0 = background; they replace the store's cells and keep their ids"
        )
        self.import_button = PushButton(text="Take cells from the label image")
        self.cancel_button = PushButton(text="Cancel")
        self.progress = ProgressBar(label="Progress", min=0, max=1, value=0)
        self.status = Label(value="")
        from napari_ifcell._napari.segment_evaluation import SegmentEvaluation

        self.evaluation = SegmentEvaluation(napari_viewer, self._store_to_score)
        super().__init__(
            widgets=[
                self.backend,
                self.if_file,
                self.he_file,
                self.model,
                self.model_input,
                self.nuclear,
                self.checkpoint,
                *self.sam_fields.values(),
                *self.watershed_fields.values(),
                self.tile,
                self.visible_button,
                self.drawn_button,
                self.all_button,
                self.labels_file,
                self.import_button,
                self.cancel_button,
                self.progress,
                self.status,
                self.evaluation,
            ]
        )
        self.status.native.setWordWrap(True)
        self.max_width = 420
        self.visible_button.changed.connect(self.segment_visible)
        self.drawn_button.changed.connect(self.segment_drawn)
        self.all_button.changed.connect(self.segment_all)
        self.import_button.changed.connect(self.import_label_image)
        self.busy = Busy(self.cancel_button, self._say, "Cancelling after the current tile...")
        self.busy.guard(self.visible_button, self.drawn_button, self.all_button, self.import_button)
        self.state.changed.connect(self._on_state_changed)
        self._on_state_changed(SLIDES)
        self.backend.changed.connect(self._show_backend_fields)
        self._show_backend_fields()

    def _fields_read(self) -> str:
        """Which group of fields the chosen backend reads: ``watershed`` (the CPU backends),
        ``sam`` (checkpoint and mask filters) or ``model`` (the learned backends)."""
        from napari_ifcell.core.segment.learned import LEARNED_BACKENDS

        backend = BACKEND_LABELS[self.backend.value]
        return "sam" if backend.startswith("sam") else "model" if backend in LEARNED_BACKENDS else "watershed"

    def _show_backend_fields(self) -> None:
        """Only the fields the chosen backend reads."""
        groups = {
            "watershed": self.watershed_fields.values(),
            "sam": (self.checkpoint, *self.sam_fields.values()),
            "model": (self.model, self.model_input),
        }
        read = self._fields_read()
        for name, widgets in groups.items():
            for widget in widgets:
                widget.visible = name == read

    def _on_state_changed(self, what: str) -> None:
        """The Loader's slides fill the slide fields (still changeable)."""
        if what != SLIDES:
            return
        for field, role in ((self.if_file, "if"), (self.he_file, "he")):
            set_path(field, self.state.path_of(role))
        slide = self.state.slide
        self.nuclear.choices = (AUTO_NUCLEAR, *(() if slide is None or slide.is_rgb else slide.channel_names))
        project = self.state.project
        if self.store is not None and (
            project is None or Path(self.store.folder).resolve() != project.folder.resolve()
        ):
            self.store, self.labels_layer = None, None  # another slide's cells (the Loader removed their layer)

    # --- what to segment ---------------------------------------------------------------
    def _sources(self):
        return open_sources(self.viewer, self.if_file.value, self.he_file.value)

    def settings(self):
        from napari_ifcell.core.segment.sam_masks import SamSettings
        from napari_ifcell.pipeline import SegmentSettings

        backend = BACKEND_LABELS[self.backend.value]
        sam = settings_from_fields(self.sam_fields, SamSettings(checkpoint=str(self.checkpoint.value)))
        segment = replace(settings_from_fields(self.segment_fields, SegmentSettings()), backend=backend, sam=sam)
        chosen = self.nuclear.choices.index(self.nuclear.value) - 1  # by position: names may be digits
        segment = replace(segment, nuclear_channel="" if chosen < 0 else chosen)
        read = self._fields_read()  # a hidden model or watershed field is not read (SAM settings always pass)
        if read == "sam":
            return segment
        if read == "model":
            return replace(
                segment, model=self.model.value.strip(), model_input=MODEL_INPUT_LABELS[self.model_input.value]
            )
        radius_text = self.watershed_fields["nucleus_radius_um"].value.strip()
        try:
            radius = float(radius_text) if radius_text else None
        except ValueError:
            raise ValueError(
                f"Nucleus radius (µm): expected a number, or empty to estimate it; got {radius_text!r}"
            ) from None
        watershed = replace(segment.watershed, method=self.watershed_fields["method"].value, nucleus_radius_um=radius)
        return replace(segment, watershed=watershed)

    def segment_visible(self, *, sync: bool | None = None):
        try:
            if_slide, pair = self._sources()
            region = visible_region_px(self.viewer, if_slide.pixel_size_um, if_slide.shape)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            return self._on_error(exc)
        return self._segment(if_slide, pair, region, sync=sync)

    def segment_drawn(self, *, sync: bool | None = None):
        try:
            if_slide, pair = self._sources()
            region = self._drawn_region(if_slide)
        except Exception as exc:  # noqa: BLE001
            return self._on_error(exc)
        return self._segment(if_slide, pair, region, sync=sync)

    def segment_all(self, *, sync: bool | None = None):
        try:
            if_slide, pair = self._sources()
        except Exception as exc:  # noqa: BLE001
            return self._on_error(exc)
        return self._segment(if_slide, pair, (0, 0, *if_slide.shape), sync=sync)

    def import_label_image(self, *, sync: bool | None = None):
        """Another tool's cells into the slide's label store, as if segmented here."""
        from napari_ifcell._napari.sources import given_path
        from napari_ifcell.pipeline.import_labels import import_labels

        path = given_path(self.labels_file)
        if path is None or not path.is_file():
            return self._on_error(ValueError("choose the label image (a TIFF of cell ids) to take the cells from"))
        try:
            if_slide, _ = self._sources()
            self.store = self._store_to_write(if_slide)
            steps = import_labels(if_slide, self.store, path)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            return self._on_error(exc)
        return self._start(steps, f"Taking the cells of {path.name}...", importing=True, sync=sync)

    def _drawn_region(self, if_slide):
        import numpy as np

        shapes = [layer for layer in self.viewer.layers if layer._type_string == "shapes" and len(layer.data)]
        if not shapes:
            raise ValueError("draw a rectangle in a Shapes layer first")
        layer = shapes[-1]
        chosen = sorted(layer.selected_data) or [len(layer.data) - 1]
        world = np.concatenate([[layer.data_to_world(v) for v in layer.data[i]] for i in chosen])[:, -2:]
        ps = if_slide.pixel_size_um
        y0, x0 = np.floor(world.min(0) / ps).astype(int)
        y1, x1 = np.ceil(world.max(0) / ps).astype(int)
        y0, x0 = max(y0, 0), max(x0, 0)
        y1, x1 = min(y1, if_slide.shape[0]), min(x1, if_slide.shape[1])
        if y1 <= y0 or x1 <= x0:
            raise ValueError("the drawn shape lies outside the slide")
        return int(y0), int(x0), int(y1 - y0), int(x1 - x0)

    def _store_to_score(self):
        """``(label store, pixel size)`` of the slide now in the fields; its store must hold cells."""
        from napari_ifcell.io.project import project_folder
        from napari_ifcell.pipeline import slide_store

        if_slide, _ = self._sources()
        has_store = (project_folder(if_slide.path) / "store.json").is_file()  # never made just to look
        store = slide_store(if_slide) if has_store else None
        if store is None or not len(store.index):
            raise ValueError(f"{if_slide.path.name} has no cells yet: segment a region first")
        return store, if_slide.pixel_size_um

    # --- running -------------------------------------------------------------------------
    def _segment(self, if_slide, pair, region, *, sync):
        from napari_ifcell.pipeline import segment_slide

        try:
            settings = self.settings()
        except ValueError as exc:
            return self._on_error(exc)
        problems = settings.problems()
        if problems:
            return self._on_error(ValueError("; ".join(problems)))
        if settings.backend.startswith("sam") and settings.sam.checkpoint in ("", ".", None):
            return self._on_error(
                ValueError("the SAM backends need a checkpoint file (SAM weights cannot be downloaded here)")
            )
        try:
            self.store = self._store_to_write(if_slide)
        except Exception as exc:  # noqa: BLE001
            return self._on_error(exc)
        steps = segment_slide(if_slide, self.store, pair=pair, region=region, settings=settings)
        message = f"Segmenting {region[2]} x {region[3]} px with {settings.backend}..."
        return self._start(steps, message, importing=False, sync=sync)

    def _store_to_write(self, if_slide):
        """The slide's label store, unless a review of its cells is open in another session (this
        viewer's own review is closed once the cells change)."""
        from napari_ifcell.pipeline.slide_store import require_review_closed, slide_store, store_folder

        folder = store_folder(if_slide)
        require_review_closed(folder, here_ok=True)
        made_here = not (folder / "store.json").exists()
        store = slide_store(if_slide)
        self._store_made_here = made_here  # removed again if no cell comes of it
        return store

    def _removed_if_left_empty(self) -> bool:
        """A store this widget made for cells that never came is removed (as the CLI does)."""
        from napari_ifcell.pipeline.slide_store import remove_if_left_empty

        made_here, self._store_made_here = self._store_made_here, False
        store, self._run_store = self._run_store, None
        if store is None or not remove_if_left_empty(store, made_here):
            return False
        if self.store is store:
            self.store = None
        return True

    def _start(self, steps, message: str, *, importing: bool, sync):
        """Run segmenting or importing steps off the GUI thread, with progress and cancel."""
        self._run_store = self.store  # the store this run writes, even if the slide changes meanwhile
        self._started, self._importing = time.perf_counter(), importing
        self.status.value = message
        return self.busy.run_steps(
            steps, on_progress=self._on_progress, on_done=self._on_done, on_error=self._on_error, sync=sync
        )

    def cancel(self) -> None:
        self.busy.cancel()

    def _say(self, message: str) -> None:
        self.status.value = message

    def _on_progress(self, step) -> None:
        _, i, n = step
        self.progress.max = max(n, 1)
        self.progress.value = i

    def _on_done(self, result) -> None:
        self.progress.value = self.progress.max
        removed_store = self._removed_if_left_empty()
        if self.store is None and not removed_store:  # the slide was closed or changed while this ran
            self.status.value = "Done; the slide was closed or changed meanwhile, so its cells are not drawn."
            return
        if not removed_store:
            self._show_labels()
        if result is None:
            changed = not (self._importing or removed_store)  # a cancelled segmentation keeps its finished tiles
        else:
            changed = not result.found_nothing and not (result.backend == "imported" and result.same_cells)
        if changed:
            self.state.announce(LABELS)  # the store Gating, Classifier and Review read next
        seconds = time.perf_counter() - self._started
        if result is None and self._importing:
            self.status.value = f"Cancelled after {seconds:.1f} s; the store's cells are as they were."
        elif result is None:
            kept = "no tile had finished with cells" if removed_store else "the cells of finished tiles are kept"
            self.status.value = f"Cancelled after {seconds:.1f} s; {kept}."
        elif result.found_nothing:
            self.status.value = "Warning: " + result.found_nothing
        elif result.backend == "imported":
            self.status.value = (
                f"{result.cells} cells taken from {result.source} in {seconds:.1f} s "
                + ("(the cells the store held already)." if result.same_cells else f"({result.removed} replaced).")
                + self._stale_note(result.removed, kept_ids=True)
            )
        else:
            self.status.value = (
                f"{result.cells} cells found in {seconds:.1f} s with {result.backend}"
                f" ({result.tiles} tiles, {result.removed} replaced)." + self._stale_note(result.removed)
            )

    def _stale_note(self, removed: int, *, kept_ids: bool = False) -> str:
        """A warning when cells that later steps were made from were replaced."""
        from napari_ifcell.pipeline.slide_store import replaced_cells_note

        project = self.state.project
        note = replaced_cells_note(project.folder, removed, kept_ids=kept_ids) if project is not None else ""
        return f" Warning: {note}." if note else ""

    def _on_error(self, exc: Exception):
        self._removed_if_left_empty()
        self.status.value = f"Error: {exc}"
        return None

    def _show_labels(self) -> None:
        """The store's labels as a (multiscale) Labels layer on the slide's grid, refreshed."""
        levels = self.store.levels
        layer = self.labels_layer
        if layer is not None and layer in self.viewer.layers:
            if layer.metadata[PLUGIN_KEY]["path"] == str(self.store.folder):
                layer.refresh()
                return
            self.viewer.layers.remove(layer)  # another slide's cells (its slide chosen in the fields)
        ps = self.store.meta.get("pixel_size_um") or 1.0
        data = levels if len(levels) > 1 else levels[0]
        self.labels_layer = self.viewer.add_labels(
            data,
            name=f"nuclei ({Path(self.store.folder).name})",
            multiscale=len(levels) > 1,
            scale=(ps, ps),
            units=("µm", "µm"),
            metadata={PLUGIN_KEY: {"role": "segmentation", "path": str(self.store.folder)}},
        )
