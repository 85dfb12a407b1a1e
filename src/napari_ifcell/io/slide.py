"""Lazy, multiscale access to a whole-slide TIFF (OME-TIFF, plain TIFF, Aperio SVS).

A :class:`Slide` holds one zarr array per pyramid level (tifffile's zarr store) and reads
pixels only when asked: :meth:`Slide.read_region` (direct zarr reads, no dask overhead),
:meth:`Slide.display_levels` (napari) or :meth:`Slide.dask_levels` (whole-level computations).
``io.slide_open.open_slide`` makes one from a file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tifffile

from napari_ifcell.io.chunk_cache import CACHED_READ_PLANES
from napari_ifcell.io.errors import SlideMetadataError, SlideReadError
from napari_ifcell.io.levels import NotWholeNumbers, dask_level
from napari_ifcell.io.tiled_pages import close_files


@dataclass
class Slide:
    """A lazily read whole-slide image.

    Pixels are laid out as ``(C, Y, X)`` for fluorescence and ``(Y, X, 3)`` for RGB
    (H&E), whatever the file's own layout (planar or interleaved).

    Attributes
    ----------
    path : Path
    levels : list of zarr.Array
        One lazy array per pyramid level in the file's own layout (see ``layout``).
    layout : str
        ``"CYX"``, ``"YX"``, ``"YXS"`` (interleaved RGB) or ``"SYX"`` (planar RGB).
    channel_names : tuple of str
    pixel_size_um : float or None
        Size of a level-0 pixel in µm; None when the file does not say.
    is_rgb : bool
    pixel_size_source : str or None
        Where the pixel size came from: ``"given"`` (an override), ``"ome"``, ``"svs"``,
        ``"tiff"`` (resolution tags), ``"imagej"``, ``"ngff"``, ``"store"`` (the label store's
        cells were segmented at it) or None (unknown).
    notes : list of str
        What was guessed or overridden while opening, for showing to the user.
    pixel_size_hint_um : float or None
        Where the pixel size is unknown: a size the file suggests without a unit (an OME-Zarr
        scale ome-zarr-py wrote without one), for a viewer to offer as its assumption.
    """

    path: Path
    levels: list
    layout: str
    channel_names: tuple[str, ...]
    pixel_size_um: float | None
    is_rgb: bool
    notes: list[str] = field(default_factory=list)
    _tiff: tifffile.TiffFile | None = field(default=None, repr=False)
    pixel_size_source: str | None = None
    cached_levels: dict = field(default_factory=dict, repr=False)  # level -> io.chunk_cache reader
    pixel_size_hint_um: float | None = None

    # --- shape and resolution ------------------------------------------------------
    @property
    def dtype(self) -> np.dtype:
        """The file's pixel type (what napari shows)."""
        return self.levels[0].dtype

    @property
    def read_dtype(self) -> np.dtype:
        """What ``read_region`` returns: an RGB slide of 16-bit (or wider) integers is read as
        8-bit, the range every H&E model and segmenter here expects."""
        return np.dtype(np.uint8) if rgb_scale(self) else self.dtype

    @property
    def n_channels(self) -> int:
        return len(self.channel_names)

    @property
    def level_shapes(self) -> list[tuple[int, int]]:
        """(height, width) of every level."""
        return [_yx_shape(arr.shape, self.layout) for arr in self.levels]

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of level 0 in pixels."""
        return self.level_shapes[0]

    @property
    def chunk_yx(self) -> tuple[int, int]:
        """(height, width) of level 0's stored tiles: reads aligned to them decode each once."""
        chunks = getattr(self.levels[0], "chunks", None)
        if not chunks:
            return self.shape
        return (int(chunks[0]), int(chunks[1])) if self.layout == "YXS" else (int(chunks[-2]), int(chunks[-1]))

    @property
    def downsamples(self) -> list[float]:
        """Level-0 pixels per pixel of each level (mean of the y and x factors)."""
        h0, w0 = self.shape
        return [0.5 * (h0 / h + w0 / w) for h, w in self.level_shapes]

    def level_pixel_size_um(self, level: int) -> float:
        return self.require_pixel_size() * self.downsamples[level]

    def level_for_resolution(self, um_per_px: float) -> int:
        """The coarsest level that is at least as fine as ``um_per_px``."""
        if um_per_px <= 0:
            raise ValueError(f"um_per_px must be positive, got {um_per_px}")
        base = self.require_pixel_size()
        best = 0
        for level, factor in enumerate(self.downsamples):
            if base * factor <= um_per_px * (1 + 1e-6):
                best = level
        return best

    def channel_index(self, name: str) -> int:
        try:
            return self.channel_names.index(name)
        except ValueError:
            raise KeyError(f"{self.path}: no channel {name!r}; channels are {list(self.channel_names)}") from None

    # --- reading ---------------------------------------------------------------------
    def read_region(
        self,
        y: int,
        x: int,
        h: int,
        w: int,
        *,
        level: int | None = None,
        um_per_px: float | None = None,
        channels: Sequence[int | str] | None = None,
        fill: int = 0,
    ) -> np.ndarray:
        """Read a rectangle at an explicit resolution.

        Parameters
        ----------
        y, x, h, w : int
            Top-left corner and size, in pixels of the requested resolution: of ``level``
            when given, else of a virtual level of ``um_per_px`` µm per pixel (read from the
            nearest finer level and resampled). Parts outside the slide are ``fill``.
        level : int, optional
            Pyramid level; default 0 when ``um_per_px`` is not given.
        um_per_px : float, optional
            Resolution in µm per pixel (needs a known pixel size).
        channels : sequence of int or str, optional
            Channels (indices or names) for fluorescence slides; default all.

        Returns
        -------
        ndarray
            ``(C, h, w)`` for fluorescence, ``(h, w, 3)`` for RGB.
        """
        if h < 0 or w < 0:
            raise ValueError(f"region size must be non-negative, got h={h}, w={w}")
        if level is not None and um_per_px is not None:
            raise ValueError("give either level or um_per_px, not both")
        scale = rgb_scale(self)
        if scale:
            fill = round(fill * scale)
        if um_per_px is None:
            out = self._read_level(level or 0, y, x, h, w, channels, fill)
        else:
            from napari_ifcell.io.resample import read_resampled

            out = read_resampled(self, y, x, h, w, um_per_px=um_per_px, channels=channels, fill=fill)
        return np.rint(out / scale).astype(np.uint8) if scale else out

    def _read_level(self, level, y, x, h, w, channels, fill) -> np.ndarray:
        if not 0 <= level < len(self.levels):
            raise ValueError(f"{self.path}: level {level} does not exist (the slide has {len(self.levels)})")
        chan = self._channel_selection(channels)
        height, width = self.level_shapes[level]
        n_out = len(chan) if chan is not None else self.n_channels
        out_shape = (h, w, 3) if self.is_rgb else (n_out, h, w)
        out = np.full(out_shape, fill, dtype=self.dtype)
        y0, y1, x0, x1 = max(y, 0), min(y + h, height), max(x, 0), min(x + w, width)
        if y0 >= y1 or x0 >= x1:
            return out
        inside = (slice(y0 - y, y1 - y), slice(x0 - x, x1 - x))
        target = out[inside] if self.is_rgb else out[:, inside[0], inside[1]]
        try:
            few_planes = self.is_rgb or (chan is not None and len(chan) <= CACHED_READ_PLANES)
            arr = self.cached_levels.get(level, self.levels[level]) if few_planes else self.levels[level]
            self._read_inside(arr, chan, slice(y0, y1), slice(x0, x1), target)
        except NotWholeNumbers:  # the file decodes, but is no label image: already one line
            raise
        except Exception as exc:  # tile decoding errors come in many types
            raise SlideReadError(
                self.path, f"cannot read level {level} region y={y0}:{y1}, x={x0}:{x1}: {exc}"
            ) from exc
        return out

    def _read_inside(self, arr, chan, ys, xs, target: np.ndarray) -> None:
        """Read the window into ``target`` (a view of the output), channel by channel where
        channels are picked, so no stacked copy is made."""
        layout = self.layout
        if layout == "YXS":
            target[...] = arr[ys, xs, :3]
        elif layout == "SYX":
            target[...] = np.moveaxis(arr[:3, ys, xs], 0, -1)
        elif layout == "YX":
            target[0] = arr[ys, xs]
        elif chan is None:
            target[...] = arr[:, ys, xs]
        else:
            for i, c in enumerate(chan):
                target[i] = arr[c, ys, xs]

    def _channel_selection(self, channels) -> list[int] | None:
        if channels is None or self.is_rgb:
            return None
        picked = [self.channel_index(c) if isinstance(c, str) else int(c) for c in channels]
        for c in picked:
            if not 0 <= c < self.n_channels:
                raise IndexError(f"{self.path}: channel {c} out of range 0..{self.n_channels - 1}")
        return picked

    def display_levels(self) -> list:
        """Every level as napari reads it (``io.display_level``): through the slide's decoded-chunk
        caches, so what was read ahead in a thread is drawn without decoding."""
        from napari_ifcell.io.chunk_cache import read_for_display
        from napari_ifcell.io.display_level import DisplayLevel

        read_for_display(self)
        return [DisplayLevel(self.cached_levels.get(i, arr), self.layout) for i, arr in enumerate(self.levels)]

    def dask_levels(self) -> list:
        """Every level as a dask array, ``(C, Y, X)`` or ``(Y, X, 3)``, chunked by tile."""
        out = []
        for arr in self.levels:
            d = dask_level(arr)
            if self.layout == "YX":
                d = d[None]
            elif self.layout == "SYX":
                d = d[:3].transpose(1, 2, 0)
            elif self.layout == "YXS":
                d = d[..., :3]
            out.append(d)
        return out

    def assume_pixel_size(self, um: float, correct_it: str = "override it if wrong") -> None:
        """Take ``um`` as the level-0 pixel size of a slide whose file gives none, and say so in
        its notes (``correct_it``: where the user changes it)."""
        self.pixel_size_um, self.pixel_size_source = float(um), "given"
        self.notes.append(f"using {um:g} µm/px, assumed; {correct_it}")

    # --- life cycle ------------------------------------------------------------------
    def require_pixel_size(self, option: str = "--pixel-size") -> float:
        """The level-0 pixel size, or an error that names the file and how to give it."""
        if self.pixel_size_um is None:
            from napari_ifcell.io.slide_metadata import UNKNOWN_PIXEL_SIZE

            # the note the opening left says what was looked for (OME-XML fields or NGFF scales)
            why = next((n for n in self.notes if n.startswith(UNKNOWN_PIXEL_SIZE)), UNKNOWN_PIXEL_SIZE)
            raise SlideMetadataError(self.path, f"{why}; give it with {option} (µm per pixel; Orion scans at 0.325)")
        return self.pixel_size_um

    def fingerprint(self) -> str:
        """A cheap identity of the file: its size and a hash of its first and last 64 KiB."""
        import hashlib

        if self.path.is_dir():
            from napari_ifcell.io.ngff import fingerprint

            return fingerprint(self.path)
        size = self.path.stat().st_size
        digest = hashlib.sha1(str(size).encode())
        with open(self.path, "rb") as f:
            digest.update(f.read(1 << 16))
            f.seek(max(size - (1 << 16), 0))
            digest.update(f.read(1 << 16))
        return digest.hexdigest()[:16]

    def close(self) -> None:
        for cache in self.cached_levels.values():  # decoded tiles held for the viewer
            cache.clear()
        if self._tiff is not None:
            close_files(self.levels)
            self._tiff.close()
            self._tiff = None

    def __enter__(self) -> Slide:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def rgb_scale(slide: Slide) -> float:
    """Divisor from an RGB slide's integer range to 0..255 (257 for 16-bit); 0 when 8-bit."""
    dtype = slide.levels[0].dtype
    if not slide.is_rgb or dtype == np.uint8 or dtype.kind != "u":
        return 0.0
    return np.iinfo(dtype).max / 255


def _yx_shape(shape: tuple[int, ...], layout: str) -> tuple[int, int]:
    if layout in ("YXS",):
        return int(shape[0]), int(shape[1])
    return int(shape[-2]), int(shape[-1])
