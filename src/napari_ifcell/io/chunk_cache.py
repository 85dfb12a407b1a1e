"""Decoded chunks kept for the next read: neighbouring tiles read overlapping windows (each
tile with its halo), so without a cache a 1024 px chunk under 512 px tiles is decoded by up
to 16 of them. A bounded LRU of decoded chunks makes it about once. Slides use it for reads of
a few planes (a nuclear channel, an H&E, a review gallery's markers), what segmentation
reads; whole-panel reads (quantification, whose tiles follow the chunks) bypass it. The viewer
reads the slides' layers through it too (``Slide.display_levels``), so a region read
ahead in a thread (the next cell of a review) is drawn without decoding."""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict

import numpy as np

DEFAULT_MAX_BYTES = 32 << 20
CACHED_READ_PLANES = 4  # ``Slide.read_region`` of up to this many channels goes through the cache
DISPLAY_MAX_BYTES = 256 << 20  # a level in the viewer: a few views of several channels, for panning


class DecodedChunkCache:
    """A chunked level array read through an LRU of its decoded chunks; indexing with ints
    and step-1 slices returns what the array itself returns."""

    def __init__(self, array, max_bytes: int = DEFAULT_MAX_BYTES):
        self.array = array
        self.shape, self.dtype, self.chunks = tuple(array.shape), array.dtype, tuple(array.chunks)
        self.max_bytes = max_bytes
        self.decoded = 0  # chunks decoded so far
        self._kept: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def chunks_in_level(self) -> int:
        return int(np.prod([-(-n // c) for n, c in zip(self.shape, self.chunks)]))

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
            self._bytes = 0

    def __getitem__(self, key) -> np.ndarray:
        return read_by_chunks(self, key, self._chunk)

    def _chunk(self, index: tuple) -> np.ndarray:
        with self._lock:
            chunk = self._kept.get(index)
            if chunk is not None:
                self._kept.move_to_end(index)
                return chunk
        box = tuple(slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(index, self.chunks, self.shape))
        chunk = np.asarray(self.array[box])
        with self._lock:
            self.decoded += 1
            if index not in self._kept:
                self._kept[index] = chunk
                self._bytes += chunk.nbytes
            while self._bytes > self.max_bytes and len(self._kept) > 1:
                _, old = self._kept.popitem(last=False)
                self._bytes -= old.nbytes
        return chunk


def read_by_chunks(array, key, chunk_at) -> np.ndarray:
    """``array[key]`` put together from whole chunks, ``chunk_at(index)`` giving the chunk at
    a chunk index; ``array`` has ``shape``, ``dtype``, ``chunks`` and, for what is not ints
    and step-1 slices (rare here: strided or fancy), ``array.array`` to read directly."""
    key = key if isinstance(key, tuple) else (key,)
    if len(key) > len(array.shape) or any(k is Ellipsis for k in key):
        return np.asarray(array.array[key])
    key = key + (slice(None),) * (len(array.shape) - len(key))
    bounds: list[tuple[int, int]] = []
    picked: list[int | slice] = []
    for k, n in zip(key, array.shape):
        if isinstance(k, (int, np.integer)):
            i = axis_index(int(k), n)
            bounds.append((i, i + 1))
            picked.append(0)
        elif isinstance(k, slice) and k.indices(n)[2] == 1:
            start, stop, _ = k.indices(n)
            bounds.append((start, max(start, stop)))
            picked.append(slice(None))
        else:
            return np.asarray(array.array[key])
    out = np.empty([b - a for a, b in bounds], array.dtype)
    if out.size == 0:
        return out[tuple(picked)]
    ranges = [range(a // c, -(-b // c)) for (a, b), c in zip(bounds, array.chunks)]
    for index in itertools.product(*ranges):
        chunk = chunk_at(index)
        src, dst = [], []
        for (a, b), i, c in zip(bounds, index, array.chunks):
            lo, hi = max(a, i * c), min(b, (i + 1) * c)
            src.append(slice(lo - i * c, hi - i * c))
            dst.append(slice(lo - a, hi - a))
        out[tuple(dst)] = chunk[tuple(src)]
    return out[tuple(picked)]


def axis_index(i: int, n: int) -> int:
    """``i`` (negative from the end) as a position along an axis of ``n``, or an IndexError."""
    j = i + n if i < 0 else i
    if not 0 <= j < n:
        raise IndexError(f"index {i} out of range for an axis of {n}")
    return j


def read_through_cache(slide, *, levels=(0,), max_bytes: int = DEFAULT_MAX_BYTES) -> None:
    """Read ``slide``'s ``levels`` through decoded-chunk caches from now on (a memory-mapped
    or in-memory level needs none). Idempotent; an existing cache keeps its chunks and grows
    to ``max_bytes`` if that is larger. ``Slide.close`` drops them."""
    cached = getattr(slide, "cached_levels", None)  # None: a slide-like object without a cache
    if cached is None:
        return
    for level in levels:
        if level in cached:
            cached[level].max_bytes = max(cached[level].max_bytes, max_bytes)
        elif _decodes(slide.levels[level]):
            cached[level] = DecodedChunkCache(slide.levels[level], max_bytes)


def read_for_display(slide) -> None:
    """Caches for every level of ``slide`` as the viewer reads it. Each holds up to
    ``DISPLAY_MAX_BYTES``, filled only as far as the user looks around (napari's own dask
    cache, which this replaces for slides, takes a tenth of the memory for all layers)."""
    read_through_cache(slide, levels=range(len(slide.levels)), max_bytes=DISPLAY_MAX_BYTES)


def _decodes(level) -> bool:
    """A chunked level that decodes on read (zarr, an OME-Zarr view), not numpy or a memmap."""
    return hasattr(level, "chunks") and not isinstance(level, np.ndarray)
