"""Display defaults computed from pixels: contrast limits."""

from __future__ import annotations

import numpy as np


def contrast_limits(
    channels: np.ndarray, *, low: float = 1.0, high: float = 99.9, saturation: int | None = None
) -> list[tuple[float, float]]:
    """Per-channel (low, high) percentiles of a ``(C, Y, X)`` thumbnail.

    Saturated pixels (``saturation``, default the dtype's maximum for integers) are left
    out so that a few over-exposed artefacts do not wash out a marker.
    """
    if saturation is None and np.issubdtype(channels.dtype, np.integer):
        saturation = np.iinfo(channels.dtype).max
    limits = []
    for img in channels:
        values = img[img < saturation] if saturation is not None else img.ravel()
        if values.size == 0:
            values = img.ravel()
        lo, hi = np.percentile(values, [low, high]) if values.size else (0.0, 1.0)
        limits.append((float(lo), float(max(hi, lo + 1))))
    return limits
