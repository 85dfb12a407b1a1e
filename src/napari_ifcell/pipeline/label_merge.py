"""Merge the tiles' nuclei into a label store, one store chunk per task.

Each segmented tile holds its own nuclei numbered 1..n. Cell ids follow tile order: tile k's
nuclei get ids after all nuclei of tiles 0..k-1 (a prefix sum of the counts, known before any
pixel is painted), and where two tiles' nuclei overlap the earlier tile keeps the pixel. So
every store chunk can be built on its own: paint the tiles that reach it, in tile order,
write the chunk whole (no chunk is read back or written twice), and return the sums its
cells' index rows need (pixel count, coordinate sums, bounding box). The chunks run in
parallel on a cluster; the driver only adds the small per-chunk tables. The result is the
one a serial paint in tile order gives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from napari_ifcell.io.cell_index import chunk_index_sums
from napari_ifcell.io.label_store import CHUNK
from napari_ifcell.pipeline.tiling import halo_window

Box = tuple[int, int, int, int]


def tile_file(folder: Path, box: Box) -> Path:
    return folder / f"{box[0]}_{box[1]}.npz"


def tile_counts(folder: Path, boxes: list[Box]) -> np.ndarray:
    """Nuclei per tile file, read without loading the labels (older files: from the labels)."""
    counts = []
    for box in boxes:
        with np.load(tile_file(folder, box)) as data:
            counts.append(int(data["count"]) if "count" in data.files else int(data["labels"].max()))
    return np.asarray(counts, np.int64)


def chunk_jobs(boxes: list[Box], halo: int, shape: tuple[int, int]) -> list[tuple[Box, list[int]]]:
    """Every store chunk some tile window reaches, with the indices of those tiles (in order)."""
    reach: dict[tuple[int, int], list[int]] = {}
    for k, box in enumerate(boxes):
        y0, x0, h, w = halo_window(box, halo, shape)
        y1, x1 = y0 + h, x0 + w
        for cy in range(y0 // CHUNK, (y1 - 1) // CHUNK + 1):
            for cx in range(x0 // CHUNK, (x1 - 1) // CHUNK + 1):
                reach.setdefault((cy, cx), []).append(k)
    jobs = []
    for (cy, cx), tiles in sorted(reach.items()):
        y, x = cy * CHUNK, cx * CHUNK
        jobs.append(((y, x, min(CHUNK, shape[0] - y), min(CHUNK, shape[1] - x)), tiles))
    return jobs


def paint_chunk(tiles_folder: str, store_folder: str, chunk: Box, tiles: list[tuple[Box, int]]) -> pd.DataFrame:
    """Build one level-0 chunk from ``tiles`` (each a box and its first id - 1, in tile order),
    write it, and return its cells' partial index sums."""
    import zarr

    y, x, h, w = chunk
    out = np.zeros((h, w), np.uint32)
    for box, offset in tiles:
        with np.load(tile_file(Path(tiles_folder), box)) as data:
            labels, origin = data["labels"], data["origin"]
        ly, lx = int(origin[0]), int(origin[1])
        top, left = max(y, ly), max(x, lx)
        bottom, right = min(y + h, ly + labels.shape[0]), min(x + w, lx + labels.shape[1])
        if top >= bottom or left >= right:
            continue
        part = labels[top - ly : bottom - ly, left - lx : right - lx]
        window = out[top - y : bottom - y, left - x : right - x]
        free = (window == 0) & (part > 0)
        window[free] = part[free].astype(np.uint32) + np.uint32(offset)
    zarr.open_array(Path(store_folder) / "labels.zarr" / "0", mode="r+")[y : y + h, x : x + w] = out
    return chunk_index_sums(out, (y, x))


def downsample_chunk(store_folder: str, level: int, chunk: Box) -> None:
    """One chunk of display level ``level`` from level ``level - 1`` (every second pixel)."""
    import zarr

    group = zarr.open_group(Path(store_folder) / "labels.zarr", mode="r+")
    y, x, h, w = chunk
    finer = group[str(level - 1)]
    group[str(level)][y : y + h, x : x + w] = finer[2 * y : 2 * (y + h) : 2, 2 * x : 2 * (x + w) : 2]


def level_chunks(shape: tuple[int, int], level: int, area: Box) -> list[Box]:
    """The chunks of display level ``level`` (of ``shape``) over a level-0 ``area``."""
    f = 2**level
    y, x, h, w = area
    y0, x0 = y // f // CHUNK * CHUNK, x // f // CHUNK * CHUNK
    y1, x1 = min(-(-(y + h) // f), shape[0]), min(-(-(x + w) // f), shape[1])
    return [
        (cy, cx, min(CHUNK, shape[0] - cy), min(CHUNK, shape[1] - cx))
        for cy in range(y0, y1, CHUNK)
        for cx in range(x0, x1, CHUNK)
    ]
