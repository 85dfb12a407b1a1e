"""A label image file from another tool (Cellpose, Mesmer's or MCMICRO's cell masks, an earlier
export) read where exports take a label store: the same reads, levels and cell index, read-only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

BLOCK = 2048  # the index is gathered block by block: a whole slide's labels never sit in memory


class LabelImage:
    """Read-only stand-in for a :class:`~napari_ifcell.io.label_store.LabelStore` over a label
    image file (checked as ``quantify --labels`` checks it); its cell index (centroids, boxes,
    areas) is gathered from the pixels on first use."""

    def __init__(self, path: str | Path):
        from napari_ifcell.pipeline.tiling import open_nuclei

        self.folder = Path(path)  # where a store keeps its files: exports refuse to write over it
        self._slide = open_nuclei(self.folder)
        self.levels = list(self._slide.levels)
        self.meta = {"pixel_size_um": self._slide.pixel_size_um}
        self._index: pd.DataFrame | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self._slide.shape)

    def read(self, y: int, x: int, h: int, w: int) -> np.ndarray:
        """Level-0 labels of a window; outside the image is 0."""
        from napari_ifcell.io.label_store import read_window

        return read_window(self.levels[0], y, x, h, w)

    @property
    def index(self) -> pd.DataFrame:
        if self._index is None:
            from napari_ifcell.io.cell_index import chunk_index_sums, index_from_sums

            h, w = self.shape
            parts = [
                chunk_index_sums(self.read(y, x, min(BLOCK, h - y), min(BLOCK, w - x)), (y, x))
                for y in range(0, h, BLOCK)
                for x in range(0, w, BLOCK)
            ]
            self._index = index_from_sums(parts, run=0)
        return self._index

    def require_shape(self, shape, slide_name: str) -> None:
        if tuple(self.shape) != tuple(shape):
            raise ValueError(f"{self.folder}: the label image is {self.shape} px but {slide_name} is {tuple(shape)} px")

    def require_cells(self, cell_ids, table_name) -> None:
        """Refuse a table whose cells are not this image's labels (another segmentation's table)."""
        ids = pd.Series(np.asarray(cell_ids, np.int64))
        unknown = ~ids.isin(self.index["CellID"])
        if unknown.any():
            raise ValueError(
                f"{table_name}: {int(unknown.sum())} of {len(ids)} cells (CellID {int(ids[unknown].iloc[0])}, ...) "
                f"have no label in {self.folder}: the table is of another segmentation"
            )

    def close(self) -> None:
        self._slide.close()
