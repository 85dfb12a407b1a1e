"""What the viewer shows, computed without napari: contrast limits, and label images
recoloured through a per-label lookup table (a million cells recoloured by changing a
small array, read only where the viewer looks)."""

from __future__ import annotations

import numpy as np


def contrast_limits(
    channels: np.ndarray, *, low: float = 1.0, high: float = 99.9, saturation: int | None = None
) -> list[tuple[float, float]]:
    """Per-channel (low, high) percentiles of a ``(C, Y, X)`` thumbnail.

    Saturated pixels (``saturation``, default the dtype's maximum for integers) are left
    out so that a few over-exposed artefacts do not wash out a marker. Integer limits are at
    least one level apart; floating-point ones (0-1 intensities) are the percentiles as they are.
    """
    integer = np.issubdtype(channels.dtype, np.integer)
    if saturation is None and integer:
        saturation = np.iinfo(channels.dtype).max
    limits = []
    for img in channels:
        values = img[img < saturation] if saturation is not None else img.ravel()
        if values.size == 0:
            values = img.ravel()
        lo, hi = np.percentile(values, [low, high]) if values.size else (0.0, 1.0)
        if hi <= lo or integer:
            hi = max(hi, lo + 1)  # a flat channel still needs a range
        limits.append((float(lo), float(hi)))
    return limits


class LookupView:
    """Array-like ``lut[base]``; ``lut`` may be changed in place between reads.

    Labels beyond the lookup table map to 0 (not coloured).
    """

    def __init__(self, base, lut: np.ndarray):
        self.base = base
        self.lut = lut

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.base.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.lut.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key) -> np.ndarray:
        labels = np.asarray(self.base[key])
        lut = self.lut
        if lut[-1] == 0 and lut[0] == 0:  # clipping maps labels beyond the table to its last entry: 0
            return lut.take(labels, mode="clip")
        return np.where(labels < lut.size, lut[np.minimum(labels, lut.size - 1)], 0).astype(lut.dtype, copy=False)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self[...]
        return out if dtype is None else out.astype(dtype)
