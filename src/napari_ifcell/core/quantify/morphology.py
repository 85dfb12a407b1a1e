"""Nuclear morphology of every label of a tile at once, equal to ``regionprops_table``.

Areas, centroids, bounding boxes and second moments come from per-label sums over the
foreground pixels (``np.bincount``), in integers relative to each label's bounding box, so
the central moments are exact; axis lengths, eccentricity and orientation follow from them
with skimage's formulas. Solidity needs each label's convex area: the hull of its boundary
pixels' edge midpoints (skimage's convention), and the pixel centres inside or on it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

# Morphology in MCMICRO's column names, from the nucleus mask (regionprops property -> column).
MORPHOLOGY = {
    "area": "Area",
    "axis_major_length": "MajorAxisLength",
    "axis_minor_length": "MinorAxisLength",
    "eccentricity": "Eccentricity",
    "solidity": "Solidity",
    "extent": "Extent",
    "orientation": "Orientation",
}


def morphology(nuclei: np.ndarray, *, within: tuple[int, int, int, int] | None = None) -> pd.DataFrame:
    """Centroids and nuclear morphology (MCMICRO column names), one row per label, by id.

    Columns ``CellID``, ``Y_centroid``, ``X_centroid`` (array pixels) and the values of
    :data:`MORPHOLOGY`; equal to ``regionprops_table(nuclei, properties=("label",
    "centroid", *MORPHOLOGY))`` within float rounding. ``within`` (y0, x0, y1, x1; end
    exclusive): only the labels whose centroid lies there.
    """
    nuclei = np.asarray(nuclei)
    boxes = ndi.find_objects(nuclei)
    labels = np.array([i + 1 for i, box in enumerate(boxes) if box is not None], dtype=np.int64)
    if labels.size == 0:
        return pd.DataFrame({c: np.zeros(0) for c in ("CellID", "Y_centroid", "X_centroid", *MORPHOLOGY.values())})
    top = len(boxes) + 1
    bbox = np.zeros((top, 4), np.int64)  # y0, x0, y1, x1
    bbox[labels] = [(b[0].start, b[1].start, b[0].stop, b[1].stop) for b in (boxes[i - 1] for i in labels)]

    flat = np.flatnonzero(nuclei)
    ids = nuclei.ravel()[flat]
    rows, cols = np.divmod(flat, nuclei.shape[1])
    dy, dx = rows - bbox[ids, 0], cols - bbox[ids, 1]  # small: sums of squares stay exact

    def sums(weights=None) -> np.ndarray:
        return np.rint(np.bincount(ids, weights=weights, minlength=top)[labels]).astype(np.int64)

    n, sy, sx = sums(), sums(dy), sums(dx)
    if within is not None:
        cy, cx = bbox[labels, 0] + sy / n, bbox[labels, 1] + sx / n
        keep = (cy >= within[0]) & (cy < within[2]) & (cx >= within[1]) & (cx < within[3])
        labels, n, sy, sx = labels[keep], n[keep], sy[keep], sx[keep]  # sums() now gives these labels'
    syy, sxx, sxy = sums(dy * dy), sums(dx * dx), sums(dy * dx)
    # n^2 times the inertia tensor (skimage: T = [[mu02, -mu11], [-mu11, mu20]] / mu00), in integers
    a2, c2, m11 = n * sxx - sx * sx, n * syy - sy * sy, n * sxy - sy * sx
    n2 = (n * n).astype(np.float64)
    a, b, c = a2 / n2, -(m11 / n2), c2 / n2  # b is -0.0 where m11 is 0, as in skimage
    root = np.sqrt(((a - c) / 2) ** 2 + b**2)
    l1, l2 = np.maximum((a + c) / 2 + root, 0), np.maximum((a + c) / 2 - root, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        eccentricity = np.where(l1 == 0, 0.0, np.sqrt(np.maximum(1 - l2 / l1, 0)))
    orientation = np.where(a2 == c2, np.where(b < 0, np.pi / 4, -np.pi / 4), 0.5 * np.arctan2(-2 * b, c - a))
    box = bbox[labels]
    box_area = (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])
    return pd.DataFrame(
        {
            "CellID": labels,
            "Y_centroid": box[:, 0] + sy / n,
            "X_centroid": box[:, 1] + sx / n,
            "Area": n.astype(np.float64),
            "MajorAxisLength": 4 * np.sqrt(l1),
            "MinorAxisLength": 4 * np.sqrt(l2),
            "Eccentricity": eccentricity,
            "Solidity": n / convex_areas(nuclei, labels),
            "Extent": n / box_area,
            "Orientation": orientation,
        }
    )


def boundary_pixels(labels: np.ndarray) -> np.ndarray:
    """Flat indices of the labelled pixels with a 4-neighbour of another value (or on the
    array's edge): the only ones a convex hull can rest on."""
    padded = np.pad(labels, 1)
    core = padded[1:-1, 1:-1]
    edge = (
        (core != padded[:-2, 1:-1])
        | (core != padded[2:, 1:-1])
        | (core != padded[1:-1, :-2])
        | (core != padded[1:-1, 2:])
    )
    return np.flatnonzero(edge & (core != 0))


def convex_areas(nuclei: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Pixel centres inside or on the convex hull of each label (skimage's ``area_convex``).

    The hull is that of the edge midpoints of each label's boundary pixels. In doubled
    coordinates these are integers; per hull row only the leftmost and rightmost matter, the
    hull's left side is their lower convex chain and its right side their upper one (built
    for all labels at once, :func:`_chains`), and each row's pixel count is exact integer
    arithmetic on the chain segment that spans it.
    """
    if labels.size == 0:
        return np.zeros(0)
    height, width = nuclei.shape
    flat = boundary_pixels(nuclei)
    slot = np.full(int(nuclei.max()) + 1, -1, np.int64)
    slot[labels] = np.arange(labels.size)
    cell = slot[nuclei.ravel()[flat]]
    flat, cell = flat[cell >= 0], cell[cell >= 0]
    rows, cols = np.divmod(flat, width)
    # a pixel's edge midpoints, doubled: (2r, 2c+1), (2r+2, 2c+1), (2r+1, 2c), (2r+1, 2c+2)
    ys = np.concatenate((2 * rows, 2 * rows + 2, 2 * rows + 1, 2 * rows + 1))
    xs = np.concatenate((2 * cols + 1, 2 * cols + 1, 2 * cols, 2 * cols + 2))
    span = 2 * height + 3
    packed = np.sort(((np.tile(cell, 4) * span + ys) << 32) | xs)
    keys, xs = packed >> 32, packed & 0xFFFFFFFF
    first = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    last = np.r_[first[1:] - 1, keys.size - 1]
    group_cell, group_y = np.divmod(keys[first], span)
    counts = np.bincount(group_cell, minlength=labels.size)
    starts = np.r_[0, np.cumsum(counts)[:-1]]

    # one query per pixel row of each label: the row of pixel centres y = 2r + 1
    top_y, bottom_y = group_y[starts], group_y[starts + counts - 1]
    n_rows = (bottom_y - top_y) // 2
    query_cell = np.repeat(np.arange(labels.size), n_rows)
    query_y = np.repeat(top_y + 1, n_rows) + 2 * (
        np.arange(n_rows.sum()) - np.repeat(np.cumsum(n_rows) - n_rows, n_rows)
    )

    def side(xs_of_groups: np.ndarray, lower: bool) -> tuple[np.ndarray, np.ndarray]:
        """Numerator and denominator of the chain's x at each query (x = num / den)."""
        vertices = _chains(starts, counts, group_y, xs_of_groups, lower=lower)
        vy, vx = group_y[vertices], xs_of_groups[vertices]
        i = np.searchsorted(group_cell[vertices] * span + vy, query_cell * span + query_y, side="right") - 1
        dy, dx = vy[i + 1] - vy[i], vx[i + 1] - vx[i]
        return vx[i] * dy + dx * (query_y - vy[i]), dy

    num, den = side(xs[first], lower=True)
    x_lo = -((den - num) // (2 * den))  # smallest x with 2x + 1 >= num / den
    num, den = side(xs[last], lower=False)
    x_hi = (num - den) // (2 * den)  # largest x with 2x + 1 <= num / den
    return np.bincount(query_cell, weights=np.maximum(x_hi - x_lo + 1, 0), minlength=labels.size)


def _chains(starts: np.ndarray, counts: np.ndarray, ys: np.ndarray, xs: np.ndarray, *, lower: bool) -> np.ndarray:
    """Andrew's monotone chain run for every group of points at once (groups ``starts`` +
    ``counts`` of points sorted by y): the indices of each group's lower (or upper) convex
    chain of x over y, grouped and sorted like the input. Each step adds the next point of
    every group still going and pops, in lockstep, those whose last turn is not convex."""
    order = np.argsort(-counts, kind="stable")  # groups still going are a prefix
    by_size = counts[order]
    stack = np.zeros((counts.size, int(counts.max())), np.int64)
    depth = np.zeros(counts.size, np.int64)
    going = counts.size
    for step in range(stack.shape[1]):
        while going and by_size[going - 1] <= step:
            going -= 1
        point = starts[order[:going]] + step
        popping = np.flatnonzero(depth[:going] >= 2)
        while popping.size:
            a = stack[popping, depth[popping] - 2]
            b = stack[popping, depth[popping] - 1]
            p = point[popping]
            turn = (ys[b] - ys[a]) * (xs[p] - xs[a]) - (xs[b] - xs[a]) * (ys[p] - ys[a])
            popping = popping[turn <= 0] if lower else popping[turn >= 0]
            depth[popping] -= 1
            popping = popping[depth[popping] >= 2]
        stack[np.arange(going), depth[:going]] = point
        depth[:going] += 1
    kept = np.arange(stack.shape[1]) < depth[:, None]
    vertices = stack[kept]  # by group in size order: put back in the input's order
    group = np.repeat(order, depth)
    return vertices[np.argsort(group, kind="stable")]
