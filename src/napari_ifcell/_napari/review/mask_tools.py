"""Mask tools of the review widget: edit the labels around a cell, merge, split, delete, and
add a cell where SAM segments a click. Every edit goes through ``pipeline.mask_edits`` (one
undoable, durable journal event)."""

from __future__ import annotations

import numpy as np


class MaskTools:
    """Mixed into ``ReviewWidget`` (which provides the viewer, session, buttons and status)."""

    def edit_mask(self) -> None:
        """An editable copy of the labels around the current cell: paint, erase, fill."""
        cell = self.current_cell()
        if cell is None:
            return
        y, x = (int(v) for v in self._centre(cell))
        self._edit_origin = (y - 48, x - 48)
        window = self.session.store.read(*self._edit_origin, 96, 96)
        self._edit_window = window
        ps = self.if_slide.pixel_size_um
        if "cell edit" in self.viewer.layers:
            self.viewer.layers.remove("cell edit")
        layer = self.viewer.add_labels(
            window.astype(np.int64),
            name="cell edit",
            scale=(ps, ps),
            translate=(self._edit_origin[0] * ps, self._edit_origin[1] * ps),
        )
        layer.selected_label, layer.mode = cell, "paint"
        self.status.value = "Paint / erase in 'cell edit', then Apply. A new label number adds a cell."

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

    def _mask_op(self, op: str) -> None:
        from napari_ifcell.pipeline.review.mask_edits import delete_cell, merge_cells, split_cell

        cell = self.current_cell()
        if cell is None:
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

    def _after_mask_edit(self) -> None:
        self._crop_futures.clear()  # outlines changed
        record = self.session.state.undo_stack[-1]
        self._centres = self.session.table(["Y_centroid", "X_centroid"]).set_index("CellID")[
            ["Y_centroid", "X_centroid"]
        ]
        self._recolour(record["pos_ids"])
        self._refresh_label_layers()
        event = record["event"]
        self.status.value = f"{event.get('kind', 'edit')}: {len(record['pos_ids'])} cells changed (saved)."

    def _refresh_label_layers(self) -> None:
        """Label layers showing the store (the Segment widget's) must show the edit."""
        for layer in self.viewer.layers:
            if layer.__class__.__name__ == "Labels":
                layer.refresh()

    def _on_click(self, viewer, event):
        """With 'Click adds a cell' on: SAM segments what is under the click; it becomes a cell."""
        if not self.sam_click.value or self.session is None or event.type != "mouse_press":
            return
        from napari_ifcell.pipeline.review.mask_edits import add_cell_at_point

        ps = self.if_slide.pixel_size_um
        y, x = event.position[-2] / ps, event.position[-1] / ps
        origin = (int(y) - 64, int(x) - 64)
        try:
            if self.sam is None:
                from napari_ifcell.core.segment.sam_model import load_sam

                self.sam = load_sam(self.sam_checkpoint.value)
            image = (
                self.pair.read_he_aligned(*origin, 128, 128, um_per_px=ps, fill=255)
                if self.pair
                else np.repeat(
                    self.if_slide.read_region(*origin, 128, 128, level=0, channels=["Hoechst"])[0, ..., None] // 256,
                    3,
                    axis=2,
                ).astype(np.uint8)
            )
            add_cell_at_point(self.session, self.sam, image, origin, (y, x))
        except Exception as exc:  # noqa: BLE001
            return self._error(exc)
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
