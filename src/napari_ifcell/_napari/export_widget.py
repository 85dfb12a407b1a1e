"""Export dock widget: the slide on screen and its cells to QuPath GeoJSON, OME-Zarr,
SpatialData, AnnData or a cell table — what the CLI's ``export`` writes."""

from __future__ import annotations

from pathlib import Path

from magicgui.widgets import ComboBox, Container, FileEdit, Label, LineEdit, PushButton

from napari_ifcell._napari.layers import PLUGIN_KEY
from napari_ifcell._napari.region_layer import layer_regions
from napari_ifcell._napari.sources import (
    TABLE_FILTER,
    given_path,
    layer_with_role,
    nuclei_field,
    open_sources,
    set_path,
    slide_layer,
)
from napari_ifcell._napari.state import SLIDES, workflow_state
from napari_ifcell._napari.workers import run_in_background
from napari_ifcell.notes import recording_notes

ON_HE = "QuPath GeoJSON on the H&E (.geojson)"  # outlines in the registered H&E's pixels
CHOICES = {
    "QuPath GeoJSON (.geojson)": ".geojson",
    ON_HE: ".geojson",
    "OME-Zarr image + labels (.ome.zarr)": ".ome.zarr",
    "SpatialData (.zarr)": ".zarr",
    "AnnData for scimap / squidpy (.h5ad)": ".h5ad",
    "Cell table (.parquet)": ".parquet",
    "Cell table (.csv)": ".csv",
}


class ExportWidget(Container):
    def __init__(self, napari_viewer):
        self.viewer = napari_viewer
        self.format = ComboBox(label="Format", choices=list(CHOICES), value=next(iter(CHOICES)))
        self.table_file = FileEdit(
            label="Cell table",
            mode="r",
            filter=TABLE_FILTER,
            tooltip="empty: the project's predictions, gated or quantified table (the first that exists)",
        )
        self.labels_file = nuclei_field(
            "Labels", "empty: the project's label store; or another label store folder, or a label image (File...)"
        )
        self.classes = LineEdit(label="Class column", value="", tooltip="empty: predicted, class or phenotype")
        self.output = LineEdit(label="Export to", value="", tooltip="empty: <slide>.ifcell/exports/<slide><suffix>")
        self.export_button = PushButton(text="Export")
        self.status = Label(value="Open a slide (Loader), then choose a format.")
        super().__init__(
            widgets=[
                self.format,
                self.table_file,
                self.labels_file,
                self.classes,
                self.output,
                self.export_button,
                self.status,
            ]
        )
        self.status.native.setWordWrap(True)
        self.max_width = 460
        self.export_button.changed.connect(lambda: self.export())
        self.format.changed.connect(self._suggest_output)
        workflow_state(napari_viewer).changed.connect(self._on_state_changed)
        self._suggest_output()

    def _on_state_changed(self, what: str) -> None:
        if what == SLIDES:  # a new slide: its own exports folder, and its own project's cells
            self.output.value = ""
            set_path(self.table_file, None)
            set_path(self.labels_file, None)
            self._suggest_output()

    def _suggest_output(self, *_) -> None:
        """The project's exports folder, the format's suffix; a typed path keeps its folder."""
        from napari_ifcell.io.project import Project, slide_name

        layer = slide_layer(self.viewer)
        if layer is None:
            return
        path = layer.metadata[PLUGIN_KEY]["path"]
        folder = Path(self.output.value).parent if self.output.value else Project.for_slide(path).exports
        on_he = "_on_he" if self.format.value == ON_HE else ""
        self.output.value = str(folder / f"{slide_name(path)}{on_he}{CHOICES[self.format.value]}")

    def export(self, *, sync: bool | None = None):
        from napari_ifcell.pipeline.export import export_cells, export_format, export_inputs, geojson_frame

        try:
            if slide_layer(self.viewer) is None:
                raise ValueError("open a slide first (Loader)")
            if not self.output.value:
                self._suggest_output()
            out = Path(self.output.value)
            suffix = export_format(out)
            slide, pair = open_sources(self.viewer)
            geojson_on = "he" if self.format.value == ON_HE else "if"
            if suffix == ".geojson":
                geojson_frame(slide, pair, geojson_on)  # outlines on the H&E need one
            layer = layer_with_role(self.viewer, "regions")
            regions = (
                layer_regions(layer, float(slide_layer(self.viewer).scale[-1]), lines_refused=False)
                if layer is not None
                else None
            )
        except (ValueError, OSError) as exc:
            self.status.value = f"Cannot export: {exc}"
            return None
        table_path, labels = given_path(self.table_file), given_path(self.labels_file)
        classes = self.classes.value or None

        def work():
            table, used, store, project_regions = export_inputs(slide, table_path=table_path, store_folder=labels)
            try:
                with recording_notes() as notes:  # which image the outlines are on, for the status
                    written = export_cells(
                        out,
                        slide=slide,
                        table=table,
                        store=store,
                        regions=project_regions if regions is None else regions,
                        pair=pair,
                        classes_from=classes,
                        geojson_on=geojson_on,
                    )
                return written, len(table) if table is not None else len(store.index), used, notes
            finally:
                if hasattr(store, "close"):
                    store.close()  # a label image's file handle

        self.status.value = f"Exporting to {out.name}…"
        self.export_button.enabled = False
        return run_in_background(work, on_done=self._done, on_error=self._failed, sync=sync)

    def _done(self, result) -> None:
        written, n, used, notes = result
        self.export_button.enabled = True
        source = f" from {Path(used).name}" if used else " (outlines only: no cell table yet)"
        self.status.value = "; ".join([f"Exported {n} cells{source} to {written}", *notes])

    def _failed(self, exc: Exception) -> None:
        self.export_button.enabled = True
        self.status.value = f"Export failed: {exc}"
