"""A label image file from another tool (Cellpose, Mesmer's or MCMICRO's cell masks, an earlier
export) read where exports take a label store: the same reads, levels and cell index, read-only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from napari_ifcell.io.label_store import LabelStore

BLOCK = 2048  # the index is gathered block by block: a whole slide's labels never sit in memory


class LabelImage:
    """Read-only stand-in for a :class:`~napari_ifcell.io.label_store.LabelStore` over a label
    image file (checked as ``quantify --labels`` checks it); its cell index (centroids, boxes,
    areas) is gathered from the pixels on first use."""

    # the store's checks, on this image's shape, index and path
    require_shape = LabelStore.require_shape
    require_cells = LabelStore.require_cells

    def __init__(self, path: str | Path):
        from napari_ifcell.pipeline.tiling import open_nuclei

        self.folder = Path(path)  # where a store keeps its files: exports refuse to write over it
        self._slide = open_nuclei(self.folder)
        # level 0 only: another tool's lower levels may be averaged, not labels; exports sample level 0
        self.levels = [self._slide.levels[0]]
        self.meta = {"pixel_size_um": self._slide.pixel_size_um}
        self._index: pd.DataFrame | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self._slide.shape)

    def read(self, y: int, x: int, h: int, w: int) -> np.ndarray:
        """Level-0 labels of a window; outside the image is 0."""
        from napari_ifcell.pipeline.tiling import read_labels

        return read_labels(self._slide, y, x, h, w)

    def block_origins(self) -> list[tuple[int, int]]:
        """Where the blocks the image is read in start (``BLOCK`` px a side, row by row)."""
        h, w = self.shape
        return [(y, x) for y in range(0, h, BLOCK) for x in range(0, w, BLOCK)]

    def read_block(self, y: int, x: int) -> np.ndarray:
        """The block starting at ``(y, x)``, cut at the image's edge."""
        h, w = self.shape
        return self.read(y, x, min(BLOCK, h - y), min(BLOCK, w - x))

    @property
    def index(self) -> pd.DataFrame:
        if self._index is None:
            from napari_ifcell.io.cell_index import chunk_index_sums, index_from_sums

            parts = [chunk_index_sums(self.read_block(y, x), (y, x)) for y, x in self.block_origins()]
            self._index = index_from_sums(parts, run=0)
        return self._index

    def close(self) -> None:
        self._slide.close()
