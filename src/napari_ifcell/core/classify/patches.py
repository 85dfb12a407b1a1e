"""Image patches centred on cells, read block by block (never one slide read per cell)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

BLOCK = 1024  # level-0 px: cells are grouped by block and each block is read once


def extract_patches(
    read: Callable[[int, int, int, int], np.ndarray],
    centres_yx: np.ndarray,
    size: int,
    *,
    channels_last: bool = True,
) -> np.ndarray:
    """``(N, size, size, C)`` patches whose centre pixel is each cell's centre.

    ``read(y, x, h, w)`` returns the level-0 window ``(h, w, C)`` (``channels_last``) or
    ``(C, h, w)``, filling what lies outside the slide (cells at the edge keep their
    place in the patch). Centres are in pixels whose centres are whole numbers (a centroid's
    convention); the patch spans ``centre - size // 2`` to ``centre + size - size // 2`` around
    the pixel a centre lies in.
    """
    centres = np.floor(np.asarray(centres_yx, dtype=np.float64) + 0.5).astype(np.int64)
    out: np.ndarray | None = None
    if len(centres) == 0:
        return np.zeros((0, size, size, 0))
    half = size // 2
    block_of = centres // BLOCK
    keys = block_of[:, 0] * (1 << 32) + block_of[:, 1]
    for key in np.unique(keys):
        rows = np.flatnonzero(keys == key)
        tops = centres[rows] - half
        y0, x0 = tops.min(axis=0)
        y1, x1 = tops.max(axis=0) + size
        window = read(int(y0), int(x0), int(y1 - y0), int(x1 - x0))
        if not channels_last:
            window = np.moveaxis(window, 0, -1)
        if out is None:
            out = np.zeros((len(centres), size, size, window.shape[-1]), dtype=window.dtype)
        for row, (ty, tx) in zip(rows, tops - (y0, x0)):
            out[row] = window[ty : ty + size, tx : tx + size]
    assert out is not None  # centres is not empty, so at least one block was read
    return out


def mask_patches(
    read_labels: Callable[[int, int, int, int], np.ndarray], centres_yx: np.ndarray, cell_ids, size: int
) -> np.ndarray:
    """``(N, size, size)`` bool: each cell's own nucleus in its patch."""
    labels = extract_patches(lambda y, x, h, w: read_labels(y, x, h, w)[..., None], centres_yx, size)[..., 0]
    return labels == np.asarray(cell_ids)[:, None, None]
