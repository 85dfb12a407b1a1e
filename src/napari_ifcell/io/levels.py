"""Find the pyramid levels of a TIFF and open them as lazy zarr arrays.

Pyramids come in three shapes: SubIFDs of the full-resolution pages (OME-TIFF, Orion),
reduced-resolution pages tifffile groups into one series (Aperio SVS), and one series per
level (some OME-TIFF writers). A file with none of these is a single-level slide.
"""

from __future__ import annotations

import tifffile
import zarr

from napari_ifcell.io.errors import SlideError

# images that ride along in a slide file but are never pyramid levels
ASSOCIATED_IMAGES = ("thumbnail", "label", "macro", "overview")


def find_levels(tif: tifffile.TiffFile) -> tuple[int, list[tifffile.TiffPageSeries]]:
    """Index of the image series and one series per pyramid level, finest first."""
    all_series = tif.series
    if not all_series:
        raise SlideError(tif.filehandle.path, "the TIFF holds no image")
    main = all_series[0]
    if len(main.levels) > 1 or tif.is_svs:  # an SVS's other series are its thumbnail, label and macro
        return 0, list(main.levels)
    others = [s for s in all_series[1:] if (s.name or "").lower() not in ASSOCIATED_IMAGES]
    return 0, [main, *_levels_as_series(main, others)]


def _levels_as_series(main, others) -> list:
    """Later series that are successively smaller copies of ``main`` (same axes, 2^k smaller)."""
    levels = []
    prev_y, prev_x = _yx(main)
    for series in others:
        if series.axes != main.axes or series.dtype != main.dtype:
            break
        if _non_spatial(series) != _non_spatial(main):
            break
        y, x = _yx(series)
        ratio_y, ratio_x = prev_y / y, prev_x / x
        if not (1.5 < ratio_y < 4.5 and abs(ratio_y - ratio_x) < 0.1 * ratio_y):
            break
        levels.append(series)
        prev_y, prev_x = y, x
    return levels


def _yx(series) -> tuple[int, int]:
    axes = series.axes
    return series.shape[axes.index("Y")], series.shape[axes.index("X")]


def _non_spatial(series) -> tuple:
    return tuple(n for n, a in zip(series.shape, series.axes) if a not in "YX")


def open_level_arrays(path, tif, series_index, level_series) -> list:
    """One read-only zarr array per level, backed by tifffile's zarr store (no pixel reads)."""
    main = tif.series[series_index]
    try:
        if len(main.levels) > 1:
            group = zarr.open_group(main.aszarr(), mode="r")
            arrays = [group[str(i)] for i in range(len(main.levels))]
        else:
            arrays = [zarr.open_array(s.aszarr(), mode="r") for s in level_series]
    except Exception as exc:
        raise SlideError(path, f"cannot open the pixel store: {exc}") from exc
    for level, (arr, series) in enumerate(zip(arrays, level_series)):
        if not isinstance(arr, zarr.Array):  # a pyramid group's member could be a sub-group
            raise SlideError(path, f"level {level} of the pixel store is a group, not an array")
        if tuple(arr.shape) != tuple(series.shape):
            raise SlideError(path, f"level {level} stores shape {arr.shape} but its metadata says {series.shape}")
    return arrays
