"""Regions of a slide: tiles that cover them, and label windows read from any source."""

from __future__ import annotations

import numpy as np


def tiles(region: tuple[int, int, int, int], tile: int) -> list[tuple[int, int, int, int]]:
    """``(y, x, h, w)`` tiles covering ``region`` row by row."""
    y, x, h, w = region
    return [(ty, tx, min(tile, y + h - ty), min(tile, x + w - tx)) for ty in range(y, y + h, tile) for tx in range(x, x + w, tile)]


def read_labels(source, y: int, x: int, h: int, w: int) -> np.ndarray:
    """A level-0 window of a label image (a label Slide, or any 2-D array-like); outside is 0."""
    if hasattr(source, "read_region"):
        window = source.read_region(y, x, h, w, level=0)
        return window[0] if window.ndim == 3 else window
    out = np.zeros((h, w), dtype=source.dtype)
    y0, x0 = max(y, 0), max(x, 0)
    y1, x1 = min(y + h, source.shape[0]), min(x + w, source.shape[1])
    if y0 < y1 and x0 < x1:
        out[y0 - y : y1 - y, x0 - x : x1 - x] = np.asarray(source[y0:y1, x0:x1])
    return out
