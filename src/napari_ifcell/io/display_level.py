"""A slide level as napari reads it: an array-like with ``shape``, ``dtype`` and ``[...]``
that returns numpy, read through the level's decoded-chunk cache. napari then reads only the
region in view, without dask's graph and thread pool (a third of a review key press's frame
on a GPU-less machine), and a region read ahead in a thread is drawn without decoding."""

from __future__ import annotations

import numpy as np

from napari_ifcell.io.chunk_cache import axis_index

RGB_LAYOUTS = ("YXS", "SYX")
MAX_WHOLE_READ_BYTES = 1 << 30


class DisplayLevel:
    """``(C, Y, X)`` for fluorescence (``(1, Y, X)`` for a one-channel ``YX`` file), ``(Y, X, 3)``
    for RGB, ``(Y, X)`` for one channel or colour of either. ``reader``: the level in the file's
    layout (a ``DecodedChunkCache`` or the level array itself), indexed with ints and step-1
    slices.

    Taking one whole channel (``level[c]``, as napari does when it splits an IF stack into
    layers) or colour (``level[:, :, i]``, napari's "split RGB") gives a lazy plane; any other
    selection reads. Reading a whole level larger than ``MAX_WHOLE_READ_BYTES`` is refused (a
    napari action that stacks whole levels would otherwise load a slide into memory)."""

    def __init__(self, reader, layout: str, channel: int | None = None):
        self.reader, self.layout, self.channel = reader, layout, channel
        shape = tuple(reader.shape)
        h, w = shape[1:3] if layout in ("CYX", "SYX") else shape[:2]
        if channel is not None:
            self.shape: tuple[int, ...] = (h, w)
        elif layout in RGB_LAYOUTS:
            self.shape = (h, w, 3)
        else:
            self.shape = (1 if layout == "YX" else shape[0], h, w)
        self.dtype = np.dtype(reader.dtype)
        self.ndim = len(self.shape)
        self.size = int(np.prod(self.shape))

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        if self.size * self.dtype.itemsize > MAX_WHOLE_READ_BYTES:
            raise MemoryError(
                f"reading a whole {' x '.join(map(str, self.shape))} slide level "
                f"({self.size * self.dtype.itemsize / 1e9:.1f} GB) into memory is refused; read a region"
            )
        return np.asarray(self[(slice(None),) * self.ndim], dtype)

    def __getitem__(self, key) -> np.ndarray | DisplayLevel:
        key = _full_key(key, self.ndim)
        planes = self.ndim == 3 and self.layout not in RGB_LAYOUTS
        whole = (slice(None), slice(None))
        if planes and isinstance(key[0], (int, np.integer)) and key[1:] == whole:
            return DisplayLevel(self.reader, self.layout, channel=axis_index(int(key[0]), self.shape[0]))
        if self.ndim == 3 and not planes and isinstance(key[2], (int, np.integer)) and key[:2] == whole:
            return DisplayLevel(self.reader, self.layout, channel=axis_index(int(key[2]), 3))
        if self.ndim == 2:  # one channel
            yx, other, sizes = key, None, self.shape
        elif planes:
            yx, other, sizes = key[1:], key[0], self.shape[1:]
        else:  # RGB
            yx, other, sizes = key[:2], key[2], self.shape[:2]
        spans = [_span(k, n) for k, n in zip(yx, sizes)]
        out = self._read(slice(*spans[0][:2]), slice(*spans[1][:2]), other)
        local = tuple(pick for _, _, pick in spans)
        return out[local + (Ellipsis,)] if self.layout in RGB_LAYOUTS else out[(Ellipsis,) + local]

    def _read(self, ys: slice, xs: slice, other) -> np.ndarray:
        """The window in napari's axis order; ``other`` (channels or samples) applied."""
        layout, reader = self.layout, self.reader
        if layout in RGB_LAYOUTS and self.channel is not None:  # one colour
            return np.asarray(reader[ys, xs, self.channel] if layout == "YXS" else reader[self.channel, ys, xs])
        if layout == "YXS":
            return np.asarray(reader[ys, xs, 0:3])[..., other]
        if layout == "SYX":
            return np.moveaxis(np.asarray(reader[0:3, ys, xs]), 0, -1)[..., other]
        if layout == "YX":
            plane = np.asarray(reader[ys, xs])
            return plane if self.channel is not None else plane[None][other]
        if self.channel is not None:
            return np.asarray(reader[self.channel, ys, xs])
        if isinstance(other, slice) and other.step not in (None, 1):
            return np.asarray(reader[:, ys, xs])[other]
        return np.asarray(reader[other, ys, xs])


def _full_key(key, ndim: int) -> tuple:
    key = key if isinstance(key, tuple) else (key,)
    if any(k is Ellipsis for k in key):
        i = key.index(Ellipsis)
        key = key[:i] + (slice(None),) * (ndim - len(key) + 1) + key[i + 1 :]
    if len(key) > ndim:
        raise IndexError(f"too many indices: {len(key)} for {ndim} dimensions")
    for k in key:
        if not isinstance(k, (int, np.integer, slice)):
            raise TypeError(f"a slide level is indexed with ints and slices, not {type(k).__name__}")
    return key + (slice(None),) * (ndim - len(key))


def _span(k, n: int) -> tuple[int, int, int | slice]:
    """``(lo, hi, local)``: the step-1 window to read along an axis of ``n`` for the index
    ``k``, and the index that picks ``k`` from that window."""
    if isinstance(k, slice):
        start, stop, step = k.indices(n)
        if step < 0:
            raise IndexError("slide levels are read with positive steps")
        count = len(range(start, stop, step))
        if count == 0:
            return start, start, slice(0, 0)
        return start, start + (count - 1) * step + 1, slice(None, None, step)
    i = axis_index(int(k), n)
    return i, i + 1, 0
