"""Reads at an arbitrary resolution in µm per pixel, from the nearest finer level."""

from __future__ import annotations

import math

import numpy as np


def read_resampled(slide, y, x, h, w, *, um_per_px, channels, fill) -> np.ndarray:
    """Read ``(y, x, h, w)`` given in pixels of ``um_per_px`` and resample to ``(h, w)``.

    The source level is the coarsest one at least as fine as the request (level 0 when the
    request is finer still: then upsampled). Downsampling smooths as ``skimage.transform.resize``
    anti-aliases; both interpolate linearly. Pixel ``i`` of the result is centred where pixel
    ``y + i`` of the requested grid is, ``(y + i + 0.5) * factor - 0.5`` on the level: a fixed
    grid, so a window holds the same values as the same pixels cut from a larger read (a cell's
    patch does not depend on the cells read with it). The slide's edge pixels are held out to
    its edge, and pixels centred off the slide are ``fill``.
    """
    from scipy import ndimage as ndi

    level = slide.level_for_resolution(um_per_px)
    factor = um_per_px / slide.level_pixel_size_um(level)
    if abs(factor - 1) < 1e-6:
        return slide._read_level(level, y, x, h, w, channels, fill)
    sigma = max(0.0, (factor - 1) / 2)  # resize's default anti-aliasing
    margin = math.ceil(4 * sigma) + 2  # the smoothing's reach, and the next pixel to interpolate to
    spans = []  # per axis: (first level pixel read, count, positions of the output pixels)
    for start, n, size in zip((y, x), (h, w), slide.level_shapes[level], strict=True):
        centres = grid_position(start + np.arange(n), factor)
        lo = min(max(math.floor(start * factor) - margin, 0), size - 1)
        hi = max(min(math.ceil((start + n) * factor) + margin, size), lo + 1)
        spans.append((lo, hi - lo, centres))
    (y0, ny, ys), (x0, nx, xs) = spans
    src = slide._read_level(level, y0, x0, ny, nx, channels, fill)
    axes = (0, 1) if slide.is_rgb else (1, 2)
    smooth = src.astype(np.float64 if src.dtype.itemsize > 2 else np.float32)
    if sigma > 0:
        smooth = ndi.gaussian_filter(smooth, [sigma if a in axes else 0.0 for a in range(src.ndim)], mode="nearest")
    for axis, (origin, count, centres) in zip(axes, spans, strict=True):
        smooth = _linear(smooth, axis, np.clip(centres - origin, 0, count - 1))
    if np.issubdtype(src.dtype, np.integer):
        info = np.iinfo(src.dtype)
        smooth = np.clip(np.rint(smooth), info.min, info.max)
    out = smooth.astype(src.dtype)
    height, width = slide.level_shapes[level]
    off_y, off_x = (ys < -0.5) | (ys > height - 0.5), (xs < -0.5) | (xs > width - 0.5)
    if off_y.any() or off_x.any():
        off = off_y[:, None] | off_x[None, :]
        if slide.is_rgb:
            out[off] = fill
        else:
            out[:, off] = fill
    return out


def grid_position(position, factor: float):
    """Where pixel ``position`` of one grid lies on another whose pixels are ``factor`` times
    smaller (both with pixel centres at whole numbers, over the same origin corner):
    ``(position + 0.5) * factor - 0.5``."""
    return (position + 0.5) * factor - 0.5


def _linear(array: np.ndarray, axis: int, positions: np.ndarray) -> np.ndarray:
    """``array`` sampled along ``axis`` at fractional ``positions`` (linear interpolation)."""
    below = np.minimum(np.floor(positions).astype(np.intp), max(array.shape[axis] - 2, 0))
    above = np.minimum(below + 1, array.shape[axis] - 1)
    shape = [1] * array.ndim
    shape[axis] = positions.size
    weight = (positions - below).astype(array.dtype).reshape(shape)
    return np.take(array, below, axis=axis) * (1 - weight) + np.take(array, above, axis=axis) * weight
