"""Keep the objects of a label image whose area is in range."""

from __future__ import annotations

import numpy as np


def filter_by_area(labels: np.ndarray, min_px: float, max_px: float) -> np.ndarray:
    """Drop objects outside the area range and renumber 1..n."""
    from skimage.segmentation import relabel_sequential

    areas = np.bincount(labels.ravel())
    bad = (areas < min_px) | (areas > max_px)
    bad[0] = False
    cleaned = np.where(bad[labels], 0, labels)
    return relabel_sequential(cleaned)[0].astype(np.int32)
