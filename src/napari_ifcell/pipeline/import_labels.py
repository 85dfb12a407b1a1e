"""Cells another tool found (a label TIFF from Cellpose, StarDist, Mesmer, MCMICRO...) written
into a slide's label store with their own ids, so that every later step (quantify, gating,
the classifier, review, exports) works on them as on cells segmented here, and a table already
quantified from that label image matches the store."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_ifcell.io.cell_index import index_from_sums
from napari_ifcell.io.label_store import MAX_CELL_ID
from napari_ifcell.pipeline.label_image import LabelImage
from napari_ifcell.pipeline.tiling import require_labels_on_grid


@dataclass(frozen=True)
class ImportResult:
    cells: int
    removed: int  # the store's earlier cells that are not among the new ones as they were
    seconds: float
    run: int
    source: str
    same_cells: bool = False  # the store held these very cells already (the same label image again)
    backend = "imported"  # what the store's run records, as a segmentation's backend

    @property
    def found_nothing(self) -> str | None:
        """What to say when the label image held no cell, else None."""
        if self.cells:
            return None
        return f"{self.source}: no cell in the label image (every pixel is 0); the store was left as it was"


def import_labels(if_slide, store, labels_path):
    """Generator: write the label image at ``labels_path`` (on ``if_slide``'s level-0 grid) into
    ``store``, replacing the cells it held, block by block. Yields ``("import", i, n)`` before
    block ``i``; returns an :class:`ImportResult`. All or nothing: a failure leaves the store as it was, and so does
    a label image without cells (an error for the caller, as for segmenting)."""
    labels_path = Path(labels_path)
    image = LabelImage(labels_path)
    try:
        require_labels_on_grid(labels_path, image.shape, image.meta.get("pixel_size_um"), if_slide)
        h, w = if_slide.shape
        blocks = image.block_origins()
        start = time.perf_counter()
        store.begin(f"import {labels_path.name}")
        try:
            before = store.index
            run = store.start_run({"backend": "imported", "source": str(labels_path.resolve()), "region": [0, 0, h, w]})
            parts = []
            for i, (y, x) in enumerate(blocks):
                yield ("import", i, len(blocks))
                labels = image.read_block(y, x)
                _check_ids(labels, labels_path, (y, x))
                parts.append(store.write_cells(labels, (y, x)))
            store.index = index_from_sums(parts, run)
            removed = _changed_cells(before, store.index)
            same_cells = removed == 0 and len(before) == len(store.index)
        except BaseException:  # failed or cancelled: the store as it was before
            store.roll_back()
            raise
        if len(store.index) == 0:
            store.roll_back()
            removed, cells, same_cells = 0, 0, False
        else:
            cells = len(store.index)
            store.commit()  # no step after it: a cancel there would be told nothing changed
    finally:
        image.close()
    return ImportResult(cells, removed, time.perf_counter() - start, run, labels_path.name, same_cells)


def _changed_cells(before, after) -> int:
    """The earlier cells not in the new store as they were (same id, box, area and centroid):
    importing the same label image again replaces nothing."""
    same = ["CellID", "y0", "x0", "y1", "x1", "Area", "Y_centroid", "X_centroid"]
    if before.empty:
        return 0
    kept = before[same].merge(after[same], how="inner")
    return len(before) - len(kept)


def _check_ids(labels: np.ndarray, labels_path: Path, origin: tuple[int, int]) -> None:
    """Ids the store can hold: none negative, none above the uint32 range (they would wrap)."""
    if labels.size == 0:
        return
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high > MAX_CELL_ID:
        bad = low if low < 0 else high
        raise ValueError(
            f"{labels_path}: cell id {bad} in the block at y={origin[0]}, x={origin[1]}; "
            f"expected ids from 1 to {MAX_CELL_ID} (0 = background)"
        )
