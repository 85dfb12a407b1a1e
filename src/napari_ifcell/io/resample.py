"""Reads at an arbitrary resolution in µm per pixel, from the nearest finer level."""

from __future__ import annotations

import math

import numpy as np


def read_resampled(slide, y, x, h, w, *, um_per_px, channels, fill) -> np.ndarray:
    """Read ``(y, x, h, w)`` given in pixels of ``um_per_px`` and resample to ``(h, w)``.

    The source level is the coarsest one at least as fine as the request, so the result is
    only ever downsampled: smoothed as ``skimage.transform.resize`` anti-aliases, then
    interpolated linearly. Pixel ``i`` of the result is centred where pixel ``y + i`` of the
    requested grid is, ``(y + i + 0.5) * factor - 0.5`` on the level: a fixed grid, so a window
    holds the same values as the same pixels cut from a larger read (a cell's patch does not
    depend on the cells read with it).
    """
    from scipy import ndimage as ndi

    level = slide.level_for_resolution(um_per_px)
    factor = um_per_px / slide.level_pixel_size_um(level)
    if abs(factor - 1) < 1e-6:
        return slide._read_level(level, y, x, h, w, channels, fill)
    sigma = max(0.0, (factor - 1) / 2)  # resize's default anti-aliasing
    margin = math.ceil(4 * sigma) + 2  # the smoothing's reach, and the next pixel to interpolate to
    y0, x0 = math.floor(y * factor) - margin, math.floor(x * factor) - margin
    y1, x1 = math.ceil((y + h) * factor) + margin, math.ceil((x + w) * factor) + margin
    src = slide._read_level(level, y0, x0, y1 - y0, x1 - x0, channels, fill)
    axes = (0, 1) if slide.is_rgb else (1, 2)
    smooth = src.astype(np.float32)
    if sigma > 0:
        sigmas = [sigma if a in axes else 0.0 for a in range(src.ndim)]
        smooth = ndi.gaussian_filter(smooth, sigmas, mode="nearest")
    for axis, start, n, origin in zip(axes, (y, x), (h, w), (y0, x0), strict=True):
        smooth = _linear(smooth, axis, (start + np.arange(n) + 0.5) * factor - 0.5 - origin)
    if np.issubdtype(src.dtype, np.integer):
        info = np.iinfo(src.dtype)
        smooth = np.clip(np.rint(smooth), info.min, info.max)
    return smooth.astype(src.dtype)


def _linear(array: np.ndarray, axis: int, positions: np.ndarray) -> np.ndarray:
    """``array`` sampled along ``axis`` at fractional ``positions`` (linear interpolation)."""
    below = np.floor(positions).astype(np.intp)
    shape = [1] * array.ndim
    shape[axis] = positions.size
    weight = (positions - below).astype(np.float32).reshape(shape)
    return np.take(array, below, axis=axis) * (1 - weight) + np.take(array, below + 1, axis=axis) * weight
