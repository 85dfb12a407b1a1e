"""Objects found on a tile with a halo: keep those the tile owns, so tiles stitch cleanly.

An object belongs to the tile whose core (the tile without its halo) holds its centroid.
With a halo wider than the largest object, every object is seen whole by its owner and by
no other tile as its own: no duplicates, no objects cut in two.
"""

from __future__ import annotations

import numpy as np


def owned_labels(labels: np.ndarray, core: tuple[int, int, int, int]) -> np.ndarray:
    """``labels`` with only the objects whose centroid lies in ``core`` (y0, x0, y1, x1 in
    array coordinates, end exclusive), renumbered 1..n in centroid raster order."""
    flat = labels.ravel()
    n = int(flat.max(initial=0)) + 1
    count = np.bincount(flat, minlength=n).astype(np.float64)
    yy, xx = np.indices(labels.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        cy = np.bincount(flat, weights=yy.ravel(), minlength=n) / count
        cx = np.bincount(flat, weights=xx.ravel(), minlength=n) / count
    y0, x0, y1, x1 = core
    keep = (count > 0) & (cy >= y0) & (cy < y1) & (cx >= x0) & (cx < x1)
    keep[0] = False
    kept = np.flatnonzero(keep)
    order = kept[np.lexsort((cx[kept], cy[kept]))]
    new_id = np.zeros(n, np.int64)
    new_id[order] = np.arange(1, order.size + 1)
    return new_id[labels]
