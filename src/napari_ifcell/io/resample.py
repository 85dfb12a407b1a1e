"""Reads at an arbitrary resolution in µm per pixel, from the nearest finer level."""

from __future__ import annotations

import math

import numpy as np


def read_resampled(slide, y, x, h, w, *, um_per_px, channels, fill) -> np.ndarray:
    """Read ``(y, x, h, w)`` given in pixels of ``um_per_px`` and resample to ``(h, w)``.

    The source level is the coarsest one at least as fine as the request, so the result
    is only ever downsampled (area-averaged by ``skimage.transform.resize``).
    """
    from skimage.transform import resize

    level = slide.level_for_resolution(um_per_px)
    factor = um_per_px / slide.level_pixel_size_um(level)
    if abs(factor - 1) < 1e-6:
        return slide._read_level(level, y, x, h, w, channels, fill)
    y0, x0 = math.floor(y * factor), math.floor(x * factor)
    y1, x1 = math.ceil((y + h) * factor), math.ceil((x + w) * factor)
    src = slide._read_level(level, y0, x0, y1 - y0, x1 - x0, channels, fill)
    out_shape = (h, w, 3) if slide.is_rgb else (src.shape[0], h, w)
    out = resize(src, out_shape, order=1, anti_aliasing=factor > 1, preserve_range=True)
    if np.issubdtype(src.dtype, np.integer):
        info = np.iinfo(src.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(src.dtype)
