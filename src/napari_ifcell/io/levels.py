"""Find the pyramid levels of a TIFF and open them as lazy zarr arrays.

Pyramids come in three shapes: SubIFDs of the full-resolution pages (OME-TIFF, Orion),
reduced-resolution pages tifffile groups into one series (Aperio SVS), and one series per
level (some OME-TIFF writers). A file with none of these is a single-level slide.
"""

from __future__ import annotations

import os

import numpy as np
import tifffile
import zarr

from napari_ifcell.io.errors import SlideError
from napari_ifcell.io.tiled_pages import TiledPages, tiled_pages_fit

# images that ride along in a slide file but are never pyramid levels
ASSOCIATED_IMAGES = ("thumbnail", "label", "macro", "overview")


def find_levels(tif: tifffile.TiffFile, notes: list[str] | None = None) -> tuple[int, list[tifffile.TiffPageSeries]]:
    """Index of the image series and one series per pyramid level, finest first.

    The image is the largest series that is not named as a thumbnail, label or macro: some
    writers put the slide's macro picture first. When the image is not the first, a note names
    the images skipped.
    """
    all_series = tif.series
    if not all_series:
        raise SlideError(tif.filehandle.path, "the TIFF holds no image")
    index = 0 if tif.is_svs else _main_series_index(all_series)
    main = all_series[index]
    if len(main.levels) > 1 or tif.is_svs:  # an SVS's other series are its thumbnail, label and macro
        levels = list(main.levels)
    else:
        others = [s for s in all_series[index + 1 :] if not is_associated_image(s)]
        levels = [main, *_levels_as_series(main, others)]
    if index > 0 and notes is not None:
        skipped = [described(i, s) for i, s in enumerate(all_series) if i != index and s not in levels]
        notes.append(
            f"the TIFF holds {len(all_series)} images; opened the largest, {described(index, main)}; "
            f"skipped {', '.join(skipped)}"
        )
    return index, levels


def _main_series_index(all_series) -> int:
    """The largest series (pixels per plane) not named as an associated image; the first of equals."""
    candidates = [i for i, s in enumerate(all_series) if not is_associated_image(s)] or list(range(len(all_series)))
    return max(candidates, key=lambda i: (_plane_pixels(all_series[i]), -i))


def is_associated_image(series) -> bool:
    words = (series.name or "").lower().replace("_", " ").split()
    return any(word in ASSOCIATED_IMAGES for word in words)


def _plane_pixels(series) -> int:
    try:
        y, x = _yx(series)
    except ValueError:  # no Y or X axis: not an image plane
        return 0
    return y * x


def described(index: int, series) -> str:
    name = f" {series.name!r}" if series.name else ""
    try:
        y, x = _yx(series)
    except ValueError:
        return f"image {index}{name}"
    return f"image {index}{name} of {x} x {y} px"


def _levels_as_series(main, others) -> list:
    """Later series that are successively smaller copies of ``main`` (same axes, 2^k smaller)."""
    levels = []
    previous = _yx(main)
    for series in others:
        if series.axes != main.axes or series.dtype != main.dtype:
            break
        if _non_spatial(series) != _non_spatial(main):
            break
        if not is_next_level(previous, _yx(series)):
            break
        levels.append(series)
        previous = _yx(series)
    return levels


def is_next_level(previous: tuple[int, ...], size: tuple[int, ...]) -> bool:
    """Whether an image of ``size`` (y, x) is the pyramid level after one of ``previous``: 2 to
    4 times smaller, alike in both axes."""
    ratio_y, ratio_x = previous[0] / size[0], previous[1] / size[1]
    return 1.5 < ratio_y < 4.5 and abs(ratio_y - ratio_x) < 0.1 * ratio_y


def _yx(series) -> tuple[int, int]:
    axes = series.axes
    return series.shape[axes.index("Y")], series.shape[axes.index("X")]


def _non_spatial(series) -> tuple:
    return tuple(n for n, a in zip(series.shape, series.axes) if a not in "YX")


# an uncompressed plane stored as one strip this large is read through a memory map, not whole
MEMMAP_ABOVE_BYTES = 16 * 2**20
VIRTUAL_CHUNK = 1024


class ContiguousLevel:
    """An uncompressed, contiguous level read through a memory map: a window reads only its bytes.

    tifffile's zarr store decodes a whole strip for any window of it, and a single-strip plane
    (ImageJ's and tifffile's default for uncompressed images) can be gigabytes. ``chunks`` are
    virtual 1024-px tiles, so reads and dask arrays stay tile-sized.
    """

    def __init__(self, tif: tifffile.TiffFile, series: tifffile.TiffPageSeries):
        self.shape = tuple(series.shape)
        self.dtype = np.dtype(series.dtype)
        self.ndim = len(self.shape)
        axes = series.axes
        self.chunks = tuple(
            min(n, VIRTUAL_CHUNK) if a in "YX" else (n if a == "S" else 1) for n, a in zip(self.shape, axes)
        )
        offset = int(series.dataoffset or 0)  # not None: is_contiguous_and_large checked it
        self.path = series.keyframe.parent.filehandle.path  # a multi-file OME-TIFF keeps pixels elsewhere
        self._token = (self.path, os.stat(self.path).st_mtime_ns, offset, self.shape, self.dtype.str)
        self._map = np.memmap(
            self.path, dtype=self.dtype.newbyteorder(tif.byteorder), mode="r", offset=offset, shape=self.shape
        )

    def __dask_tokenize__(self):
        # without it dask hashes every byte of the map to name the array: a read of the whole file
        return self._token

    def __getitem__(self, key) -> np.ndarray:
        return np.asarray(self._map[key], dtype=self.dtype)


def is_contiguous_and_large(series: tifffile.TiffPageSeries) -> bool:
    """Uncompressed pixels in one run of bytes, stored in pieces too large to decode per window."""
    page = series.keyframe
    piece = int(np.prod(page.chunks, dtype=np.int64)) * np.dtype(series.dtype).itemsize
    if series.dataoffset is None or piece <= MEMMAP_ABOVE_BYTES:
        return False
    # the byte counts must hold every declared pixel (a tag edited to a huge size does not)
    return all(page is not None and sum(page.databytecounts) == page.nbytes for page in series.pages)


def open_level_arrays(path, tif, series_index, level_series) -> list:
    """One read-only array per level (no pixel reads): tifffile's zarr store, or a memory map
    for a large contiguous level."""
    main = tif.series[series_index]
    arrays: list
    try:
        if len(main.levels) > 1:
            group = zarr.open_group(main.aszarr(), mode="r")
            arrays = [group[str(i)] for i in range(len(main.levels))]
        else:
            arrays = [zarr.open_array(s.aszarr(), mode="r") for s in level_series]
        arrays = [_decoded_here(tif, a, s) for a, s in zip(arrays, level_series)]
    except Exception as exc:
        raise SlideError(path, f"cannot open the pixel store: {exc}") from exc
    for level, (arr, series) in enumerate(zip(arrays, level_series)):
        # a pyramid group's member could be a sub-group
        if not isinstance(arr, (zarr.Array, ContiguousLevel, TiledPages)):
            raise SlideError(path, f"level {level} of the pixel store is a group, not an array")
        if tuple(arr.shape) != tuple(series.shape):
            raise SlideError(path, f"level {level} stores shape {arr.shape} but its metadata says {series.shape}")
    return arrays


def _decoded_here(tif: tifffile.TiffFile, array, series: tifffile.TiffPageSeries):
    """A large uncompressed level memory-mapped, a tiled one decoded in the reading thread
    (io.tiled_pages), else tifffile's zarr store ``array``."""
    if is_contiguous_and_large(series):
        return ContiguousLevel(tif, series)
    return TiledPages(series, array) if tiled_pages_fit(series) else array


def dask_level(array):
    """One level as a dask array chunked as stored (a zarr array, or a wrapper with ``chunks``)."""
    import dask.array as da

    return da.from_zarr(array) if isinstance(array, zarr.Array) else da.from_array(array, chunks=array.chunks)


def label_dtype(store) -> np.dtype:
    """The type a label store's ids are written in: uint32 (the store's own) where every id fits,
    else uint64, so another tool's ids past 4,294,967,295 are kept rather than wrapped."""
    ids = store.index["CellID"]
    return np.dtype(np.uint64 if len(ids) and int(ids.max()) > np.iinfo(np.uint32).max else np.uint32)


class ChannelsLast:
    """A ``(Y, X, C)`` level read as ``(C, Y, X)``: fluorescence channels stored last (interleaved
    grey samples, or tifffile's pages of one image row each) read as every other fluorescence
    slide's. A chunk holds all channels, so a tile is decoded once for all of them."""

    def __init__(self, array):
        self.array = array
        y, x, c = array.shape
        cy, cx, _ = array.chunks
        self.shape, self.chunks, self.dtype, self.ndim = (c, y, x), (c, cy, cx), np.dtype(array.dtype), 3

    def __dask_tokenize__(self):
        from dask.base import tokenize

        return "channels-last", tokenize(self.array)

    def __getitem__(self, key) -> np.ndarray:
        c, y, x = cyx_key(key)
        out = np.asarray(self.array[y, x, c])
        return out if isinstance(c, (int, np.integer)) else np.moveaxis(out, -1, 0)


class Inverted:
    """A grey level stored MINISWHITE (0 is white) read as ``top - stored``: bright is high, as
    in every other slide, so stains and gates mean the same."""

    def __init__(self, array, top: int):
        self.array, self.top = array, top
        self.shape, self.chunks, self.dtype, self.ndim = array.shape, array.chunks, np.dtype(array.dtype), array.ndim

    def __dask_tokenize__(self):
        from dask.base import tokenize

        return "inverted", self.top, tokenize(self.array)

    def __getitem__(self, key) -> np.ndarray:
        stored = np.asarray(self.array[key])
        return (self.dtype.type(self.top) - stored).astype(self.dtype, copy=False)


def cyx_key(key) -> tuple:
    """An index into a ``(C, Y, X)`` array as its (channel, y, x) parts, an Ellipsis or missing
    trailing parts read as whole axes."""
    key = key if isinstance(key, tuple) else (key,)
    if any(k is Ellipsis for k in key):
        at = next(i for i, k in enumerate(key) if k is Ellipsis)
        key = key[:at] + (slice(None),) * (4 - len(key)) + key[at + 1 :]
    c, y, x = key + (slice(None),) * (3 - len(key))
    return c, y, x


class NotWholeNumbers(ValueError):
    """A label image read as whole numbers holds a fraction: its message names the file."""


class WholeNumbers:
    """A floating-point level of whole numbers read as integers: Fiji and ImageJ save label
    images as 32-bit float. A read that meets a fraction, a NaN or an infinity raises, naming
    the file: such an image holds measurements, not cell ids."""

    def __init__(self, array, path):
        self.array, self.path = array, path
        self.shape, self.chunks, self.ndim = tuple(array.shape), array.chunks, array.ndim
        self.float_dtype = np.dtype(array.dtype)
        self.dtype = np.dtype(np.int64)
        # float32 holds whole numbers exactly up to 2**24: past it, neighbouring ids may merge
        self.largest = 2**24 if self.float_dtype.itemsize <= 4 else 2**53

    def __dask_tokenize__(self):
        from dask.base import tokenize

        return "whole-numbers", tokenize(self.array)

    def __getitem__(self, key) -> np.ndarray:
        values = np.asarray(self.array[key])
        if not np.isfinite(values).all():
            self._refuse(values[~np.isfinite(values)])
        if values.size and np.abs(values).max() > self.largest:
            raise NotWholeNumbers(
                f"{self.path}: expected a label image of cell ids, got {self.float_dtype} ids above "
                f"{self.largest:,}, which that type cannot hold exactly; save the ids as integers"
            )
        ids = values.astype(self.dtype)
        wrong = ids != values
        if wrong.any():
            self._refuse(values[wrong])
        return ids

    def _refuse(self, wrong: np.ndarray):
        raise NotWholeNumbers(
            f"{self.path}: expected a label image (whole-number cell ids, 0 = background), got "
            f"{self.float_dtype} values that are not whole numbers (e.g. {wrong.flat[0]:g}); "
            "save the ids as integers"
        )


def shaped_channels_last(tif: tifffile.TiffFile, series: tifffile.TiffPageSeries) -> bool:
    """tifffile's writer stores a ``(Y, X, C)`` array given without a photometric as Y pages of
    X x C (its shape in the description): a few columns per page means channels, not a stack of
    thin images."""
    if not tif.is_shaped or series.axes != "QYX":
        return False
    pages, rows, columns = series.shape
    return columns <= 64 and min(pages, rows) >= 4 * columns
