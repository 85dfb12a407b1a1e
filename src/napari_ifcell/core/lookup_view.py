"""A label image seen through a per-label lookup table, computed only where it is read.

Recolouring a million cells then means changing a small array, not rewriting a label
image; the viewer reads just the tiles it shows.
"""

from __future__ import annotations

import numpy as np


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
        return np.where(labels < lut.size, lut[np.minimum(labels, lut.size - 1)], 0).astype(lut.dtype, copy=False)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self[...]
        return out if dtype is None else out.astype(dtype)
