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
# Edge midpoints of a pixel, twice over (so that hull vertices are integers).
_DIAMOND_2X = np.array([[-1, 0], [1, 0], [0, -1], [0, 1]])


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
    """Pixel centres inside or on the convex hull of each label (skimage's ``area_convex``)."""
    from scipy.spatial import ConvexHull

    flat = boundary_pixels(nuclei)
    ids = nuclei.ravel()[flat]
    order = np.argsort(ids, kind="stable")
    flat, ids = flat[order], ids[order]
    starts = np.searchsorted(ids, labels)
    stops = np.searchsorted(ids, labels, side="right")
    rows, cols = np.divmod(flat, nuclei.shape[1])
    out = np.empty(labels.size)
    for i, (start, stop) in enumerate(zip(starts, stops)):
        pixels = np.column_stack((rows[start:stop], cols[start:stop]))
        points = (2 * pixels[:, None, :] + _DIAMOND_2X + 1).reshape(-1, 2)  # + 1: non-negative codes
        points = np.unique(points[:, 0] * (1 << 32) + points[:, 1])
        points = (np.column_stack(np.divmod(points, 1 << 32)) - 1) / 2
        hull = ConvexHull(points)
        (y0, x0), (y1, x1) = pixels.min(axis=0), pixels.max(axis=0)
        grid = np.mgrid[y0 : y1 + 1, x0 : x1 + 1].reshape(2, -1).astype(np.float64)
        inside = np.all(hull.equations[:, :2] @ grid + hull.equations[:, 2:] < 1e-10, axis=0)
        out[i] = np.count_nonzero(inside)
    return out
