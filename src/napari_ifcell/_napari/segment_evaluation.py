"""The Segment step's check against annotated nuclei: the slide's cells scored against a
Labels layer of truth (one-to-one matches, F1 and AP at IoU 0.5-0.9) over the region in view."""

from __future__ import annotations

from magicgui.widgets import ComboBox, Container, Label, PushButton

from napari_ifcell._napari.layers import PLUGIN_KEY
from napari_ifcell._napari.view import visible_region_px
from napari_ifcell._napari.workers import run_in_background


class SegmentEvaluation(Container):
    """Pick the Labels layer that holds the truth, then *Evaluate visible region*."""

    def __init__(self, viewer, store_of):
        self.viewer = viewer
        self._store_of = store_of  # () -> (the slide's label store, its pixel size), or an error
        self.truth = ComboBox(label="Truth labels", choices=self._truth_layers, nullable=True)
        self.truth.tooltip = "a Labels layer of annotated nuclei on the slide's pixel grid"
        self.button = PushButton(text="Evaluate visible region against truth")
        self.result = Label(value="")
        super().__init__(widgets=[self.truth, self.button, self.result], labels=True)
        self.margins = (0, 0, 0, 0)
        self.result.native.setWordWrap(True)
        self.button.changed.connect(self.evaluate)
        viewer.layers.events.inserted.connect(self.truth.reset_choices)
        viewer.layers.events.removed.connect(self.truth.reset_choices)

    def _truth_layers(self, _widget=None) -> list[str]:
        """Labels layers that are not our own segmentation (which is what gets scored)."""
        return [
            layer.name
            for layer in self.viewer.layers
            if layer._type_string == "labels" and layer.metadata.get(PLUGIN_KEY, {}).get("role") != "segmentation"
        ]

    def evaluate(self, *, sync: bool | None = None):
        from napari_ifcell.pipeline.evaluate_segmentation import evaluate_segmentation

        try:
            name = self.truth.value
            if not name:
                raise ValueError("choose the Labels layer that holds the annotated nuclei (Truth labels)")
            layer = self.viewer.layers[name]
            truth = layer.data[0] if layer.multiscale else layer.data
            if truth.ndim != 2:
                raise ValueError(
                    f"the layer {name!r} has {truth.ndim} dimensions; the truth must be one 2-D label image"
                )
            store, pixel_size_um = self._store_of()
            if tuple(truth.shape) != tuple(store.shape):
                raise ValueError(
                    f"the layer {name!r} is {truth.shape[-2]} x {truth.shape[-1]} px but the slide's cells are "
                    f"{store.shape[0]} x {store.shape[1]} px: the truth must be on the slide's pixel grid"
                )
            region = visible_region_px(self.viewer, pixel_size_um, store.shape)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            self.result.value = f"Error: {exc}"
            return None
        self.result.value = "Evaluating..."
        names = (f"the cells of {store.folder.name}", f"the layer {name!r}")
        return run_in_background(
            evaluate_segmentation,
            store.levels[0],
            truth,
            region=region,
            names=names,
            on_done=lambda table: self._show(table, region),
            on_error=lambda exc: setattr(self.result, "value", f"Error: {exc}"),
            sync=sync,
        )

    def _show(self, table, region) -> None:
        rows = table.set_index("iou")
        at5, at7 = rows.loc[0.5], rows.loc[0.7]
        self.result.value = (
            f"In the visible {region[2]} x {region[3]} px: F1 {at5.f1:.3f} at IoU 0.5, {at7.f1:.3f} at 0.7 "
            f"(precision {at5.precision:.3f}, recall {at5.recall:.3f}; {int(at5.tp + at5.fn)} annotated, "
            f"{int(at5.tp + at5.fp)} found); AP 0.5-0.9 {rows['ap'].mean():.3f}"
        )
        self.scores = table
