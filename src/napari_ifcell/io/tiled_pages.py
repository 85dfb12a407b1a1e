"""A level of tiled TIFF pages decoded in the thread that reads it.

tifffile's zarr store decodes every tile inside zarr's one event-loop thread, so reads from
several threads (tiles quantified side by side, a review reading ahead) wait on each other:
decoding a slide's chunks in 2 threads took longer than in 1. Here each read takes its
tiles' bytes with ``os.pread`` (no shared file position; a lock held for the read only) and
decodes them with its page's own tifffile decoder (compression, predictor, JPEG tables, byte
order), in the calling thread, outside the lock.
Levels of other layouts stay on tifffile's zarr store.
"""

from __future__ import annotations

import os
import threading
import weakref

import numpy as np
import tifffile

from napari_ifcell.io.chunk_cache import read_by_chunks

LAYOUTS = ("YX", "CYX", "YXS")


def tiled_pages_fit(series: tifffile.TiffPageSeries) -> bool:
    """Whether ``series`` (one level) is what ``TiledPages`` reads: 2-D tiles of one page per
    plane, samples interleaved, every page present and shaped like the first."""
    key = series.keyframe
    if not hasattr(os, "pread") or series.axes not in LAYOUTS or key is None or not key.is_tiled:
        return False
    if key.imagedepth != 1 or key.tiledepth != 1 or (key.samplesperpixel > 1 and key.planarconfig != 1):
        return False
    planes = series.shape[0] if series.axes == "CYX" else 1
    pages = list(series.pages)
    return len(pages) == planes and all(
        p is not None
        and p.keyframe is not None
        and p.keyframe.shape == key.shape
        and len(p.dataoffsets) == len(key.dataoffsets)
        and os.path.isfile(p.parent.filehandle.path)
        for p in pages
    )


class TiledPages:
    """``(C, Y, X)``, ``(Y, X)`` or ``(Y, X, S)`` array of a tiled level, chunked by tile;
    indexing with ints and step-1 slices decodes just the tiles under the window; anything
    else is read through ``array`` (tifffile's zarr store of the same level)."""

    def __init__(self, series: tifffile.TiffPageSeries, array):
        self.array = array
        self.shape, self.dtype, self.ndim = tuple(series.shape), np.dtype(series.dtype), len(series.shape)
        key = series.keyframe
        self._axes = series.axes
        self._pages = [p for p in series.pages if p is not None]  # all there: tiled_pages_fit
        self._keys = [p.keyframe for p in self._pages if p.keyframe is not None]
        self._tile = (key.tilelength, key.tilewidth)
        self._across = -(-key.imagewidth // key.tilewidth)
        self.chunks = {"YX": self._tile, "CYX": (1, *self._tile), "YXS": (*self._tile, self.shape[-1])}[self._axes]
        self._files: dict[str, int] = {}
        self._lock = threading.Lock()
        weakref.finalize(self, _close_all, self._files)  # the files close with the last reference too
        first = self._pages[0].parent.filehandle.path
        self._token = ("tiled-pages", first, os.stat(first).st_mtime_ns, key.offset, self.shape, self.dtype.str)

    def __dask_tokenize__(self):
        return self._token

    def __getitem__(self, key) -> np.ndarray:
        return read_by_chunks(self, key, self._chunk)

    def close(self) -> None:
        with self._lock:
            _close_all(self._files)

    def _chunk(self, index: tuple) -> np.ndarray:
        plane = index[0] if self._axes == "CYX" else 0
        ty, tx = index[1:3] if self._axes == "CYX" else index[:2]
        page = self._pages[plane]
        key = self._keys[plane]  # a plane in another file (multi-file OME-TIFF) has its own encoding
        i = ty * self._across + tx
        offset, count = page.dataoffsets[i], page.databytecounts[i]
        h = min(self._tile[0], self.shape[-2 if self._axes != "YXS" else 0] - ty * self._tile[0])
        w = min(self._tile[1], self.shape[-1 if self._axes != "YXS" else 1] - tx * self._tile[1])
        segment = None
        if offset and count:  # else a tile never written: tifffile fills it with the page's nodata
            data = self._read(page.parent.filehandle.path, offset, count)
            if len(data) < count:
                raise ValueError(f"tile {i} of page {plane} ends past the end of the file (truncated?)")
            tables = getattr(page, "jpegtables", None) or key.jpegtables
            segment, _, _ = key.decode(data, i, jpegtables=tables, jpegheader=key.jpegheader)
        if segment is None:
            segment = np.full((1, h, w, key.samplesperpixel), key.nodata, self.dtype)
        tile = segment[0, :h, :w]
        if self._axes == "YXS":
            return tile
        return tile[None, :, :, 0] if self._axes == "CYX" else tile[:, :, 0]

    def _read(self, path: str, offset: int, count: int) -> bytes:
        """The bytes, under the lock that ``close`` takes: a descriptor closed and its number
        given to another file in between would read that file's bytes."""
        with self._lock:
            if path not in self._files:
                self._files[path] = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            return os.pread(self._files[path], count, offset)


def close_files(levels) -> None:
    """Close the files the ``TiledPages`` among ``levels`` (or under their wrappers) opened;
    a later read opens them again."""
    for level in levels:
        while not isinstance(level, TiledPages) and hasattr(level, "array"):
            level = level.array
        if isinstance(level, TiledPages):
            level.close()


def _close_all(files: dict[str, int]) -> None:
    for fd in files.values():
        os.close(fd)
    files.clear()
