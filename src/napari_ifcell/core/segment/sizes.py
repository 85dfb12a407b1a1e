"""Keep the objects of a label image whose area is in range."""

from __future__ import annotations

import numpy as np


def filter_by_area(labels: np.ndarray, min_px: float, max_px: float) -> np.ndarray:
    """Drop objects outside the area range and renumber 1..n in the order of their labels."""
    areas = np.bincount(labels.ravel())
    keep = (areas >= min_px) & (areas <= max_px) & (areas > 0)
    keep[0] = False
    new_id = np.where(keep, np.cumsum(keep), 0).astype(np.int32)
    return new_id[labels]
