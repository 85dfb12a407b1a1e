"""Mask tools of the review widget: edit the labels around a cell, merge, split, delete, and
add a cell where SAM segments a click. Every edit goes through ``pipeline.mask_edits`` (one
undoable, durable journal event)."""

from __future__ import annotations

import numpy as np

from napari_ifcell._napari.layers import PLUGIN_KEY
from napari_ifcell._napari.sources import layer_with_role


class MaskTools:
    """Mixed into ``ReviewWidget`` (which provides the viewer, session, buttons and status)."""

    def edit_mask(self) -> None:
        """An editable copy of the labels around the current cell: paint, erase, fill."""
        if not self._ready_for_keys() or (cell := self.current_cell()) is None:
            return
        y, x = (int(v) for v in self._centre(cell))
        # 96 px around the cell, inside the slide: a window reaching past its edge could not be written back
        (height, width), size = self.session.store.shape, 96
        h, w = min(size, height), min(size, width)
        self._edit_origin = (min(max(y - size // 2, 0), height - h), min(max(x - size // 2, 0), width - w))
        window = self.session.store.read(*self._edit_origin, h, w)
        self._edit_window = window
        ps = self.if_slide.pixel_size_um
        if "cell edit" in self.viewer.layers:
            self.viewer.layers.remove("cell edit")
        segmentation = layer_with_role(self.viewer, "segmentation")
        layer = self.viewer.add_labels(
            window.astype(np.int64),
            name="cell edit",
            scale=(ps, ps),
            units=("µm", "µm"),  # as every other layer: no "inconsistent units" warning
            translate=(self._edit_origin[0] * ps, self._edit_origin[1] * ps),
            metadata={PLUGIN_KEY: {"role": "review"}},
        )
        if segmentation is not None:  # the cells keep the colours they have in the segmentation
            layer.colormap = segmentation.colormap
        layer.selected_label, layer.mode = cell, "paint"
        self.status.value = (
            f"Painting cell {cell} in 'cell edit' (a new label number adds a cell): Apply or Discard "
            "to get the review keys back."
        )

    def apply_mask_edit(self) -> None:
        from napari_ifcell.pipeline.review.mask_edits import edit_labels

        if "cell edit" not in self.viewer.layers:
            return self._error(ValueError("press 'Edit this mask' first"))
        layer = self.viewer.layers["cell edit"]
        try:
            edited = fresh_ids_for_new_labels(self._edit_window, np.asarray(layer.data), self.session.store)
            edit_labels(self.session, self._edit_origin, edited)
        except Exception as exc:  # noqa: BLE001
            return self._error(exc)
        self.viewer.layers.remove(layer)
        self._after_mask_edit()

    def discard_mask_edit(self) -> None:
        if "cell edit" in self.viewer.layers:
            self.viewer.layers.remove("cell edit")
        self._back_to_review_keys()
        self.status.value = "Mask edit discarded; the review keys are back."

    def _back_to_review_keys(self) -> None:
        if self.layers is not None and self.layers.cells in self.viewer.layers:
            self.viewer.layers.selection.active = self.layers.cells

    def _mask_op(self, op: str) -> None:
        from napari_ifcell.pipeline.review.mask_edits import delete_cell, merge_cells, split_cell

        if not self._ready_for_keys() or (cell := self.current_cell()) is None:
            return
        try:
            if op == "merge":
                merge_cells(self.session, cell, int(self.merge_with.value))
            elif op == "split":
                split_cell(self.session, cell)
            else:
                delete_cell(self.session, cell)
        except Exception as exc:  # noqa: BLE001
            return self._error(exc)
        self._after_mask_edit()

    def _after_mask_edit(self, record=None) -> None:
        """Redraw after a mask edit (``record``: an undone or redone one; default the latest)."""
        self._crop_futures.clear()  # outlines changed
        record = record or self.session.state.undo_stack[-1]
        self._centres = self.session.table(["Y_centroid", "X_centroid"]).set_index("CellID")[
            ["Y_centroid", "X_centroid"]
        ]
        self._recolour(record["pos_ids"])
        self._refresh_label_layers()
        self._back_to_review_keys()
        cell = self.current_cell()
        if cell is not None and np.isin(cell, self.session.state.ids):  # its gallery shows the new outline
            self._show_current()
        event = record["event"]
        self.status.value = f"{event.get('kind', 'edit')}: {len(record['pos_ids'])} cells changed (saved)."

    def _refresh_label_layers(self) -> None:
        """Label layers showing the store (the Segment widget's) must show the edit."""
        for layer in self.viewer.layers:
            if layer.__class__.__name__ == "Labels":
                layer.refresh()

    def _on_click(self, viewer, event):
        """With 'Click adds a cell' on: SAM segments what is under the click (in a worker); it
        becomes a cell."""
        if not self.sam_click.value or self.session is None or event.type != "mouse_press":
            return
        if self.busy:
            self.status.value = f"Click ignored: wait ({self.busy})."
            return
        from napari_ifcell._napari.workers import run_in_background
        from napari_ifcell.pipeline.review.mask_edits import add_cell_at_point

        ps = self.if_slide.pixel_size_um
        y, x = event.position[-2] / ps, event.position[-1] / ps
        origin = (int(y) - 64, int(x) - 64)
        session, pair, slide, checkpoint = self.session, self.pair, self.if_slide, self.sam_checkpoint.value

        def segment_click():
            from napari_ifcell.io.channels import nuclear_channel_index

            nuclear = None if pair else nuclear_channel_index(slide.channel_names, path=slide.path)  # Hoechst, DAPI
            if self.sam is None:
                from napari_ifcell.core.segment.sam_model import load_sam

                self.sam = load_sam(checkpoint)
            image = (
                pair.read_he_aligned(*origin, 128, 128, um_per_px=ps, fill=255)
                if pair
                else np.repeat(
                    slide.read_region(*origin, 128, 128, level=0, channels=[nuclear])[0, ..., None] // 256,
                    3,
                    axis=2,
                ).astype(np.uint8)
            )
            return add_cell_at_point(session, self.sam, image, origin, (y, x))

        self.busy = "SAM is segmenting the click"
        self.status.value = "SAM: segmenting the clicked point..."
        run_in_background(segment_click, on_done=self._on_click_done, on_error=self._worker_error)

    def _on_click_done(self, _result) -> None:
        self.busy = ""
        self._after_mask_edit()


def fresh_ids_for_new_labels(original: np.ndarray, edited: np.ndarray, store) -> np.ndarray:
    """Labels painted in the editor that were not in the window become new cells with ids the
    store never used (napari's "new label" is only new within the window: its number may
    belong to a cell elsewhere on the slide)."""
    edited = edited.astype(np.int64)
    out = edited.copy()
    for value in np.setdiff1d(np.unique(edited), np.unique(original)):
        if value > 0:
            out[edited == value] = int(store.new_ids(1)[0])
    return out.astype(np.uint32)
