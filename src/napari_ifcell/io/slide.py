"""Lazy, multiscale access to a whole-slide TIFF (OME-TIFF, plain TIFF, Aperio SVS).

A :class:`Slide` holds one zarr array per pyramid level (tifffile's zarr store) and reads
pixels only when asked: :meth:`Slide.read_region` (direct zarr reads, no dask overhead),
:meth:`Slide.display_levels` (napari) or :meth:`Slide.dask_levels` (whole-level computations).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tifffile
import zarr

from napari_ifcell.io.chunk_cache import CACHED_READ_PLANES
from napari_ifcell.io.errors import SlideError, SlideMetadataError, SlideReadError
from napari_ifcell.io.levels import find_levels, is_contiguous_and_large, open_level_arrays
from napari_ifcell.io.slide_metadata import (
    RGB_NAMES,
    checked_names,
    given_pixel_size,
    ome_of,
    sidecar_or_numbered_names,
    tiff_channel_names,
    tiff_pixel_size,
)
from napari_ifcell.notes import Note

# Axes as tifffile reports them (squeezed), mapped to how the slide stores its pixels.
_CHANNEL_AXES = {"CYX": "CYX", "IYX": "CYX", "QYX": "CYX", "YX": "YX", "YXS": "YXS", "SYX": "SYX"}


MAX_CHUNK_BYTES = 256 * 2**20  # one tile or strip is decoded whole: larger ones are refused


class SlideWarning(Note):
    """Something about the file was guessed (channel names, pixel size)."""


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
        ``"tiff"`` (resolution tags), ``"imagej"``, ``"ngff"`` or None (unknown).
    notes : list of str
        What was guessed or overridden while opening, for showing to the user.
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

    # --- shape and resolution ------------------------------------------------------
    @property
    def dtype(self) -> np.dtype:
        """The file's pixel type (what napari shows)."""
        return self.levels[0].dtype

    @property
    def read_dtype(self) -> np.dtype:
        """What ``read_region`` returns: an RGB slide of 16-bit (or wider) integers is read as
        8-bit, the range every H&E model and segmenter here expects."""
        return np.dtype(np.uint8) if _rgb_scale(self) else self.dtype

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
        scale = _rgb_scale(self)
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
        import dask.array as da

        out = []
        for arr in self.levels:
            d = da.from_zarr(arr) if isinstance(arr, zarr.Array) else da.from_array(arr, chunks=arr.chunks)
            if self.layout == "YX":
                d = d[None]
            elif self.layout == "SYX":
                d = d[:3].transpose(1, 2, 0)
            elif self.layout == "YXS":
                d = d[..., :3]
            out.append(d)
        return out

    # --- life cycle ------------------------------------------------------------------
    def require_pixel_size(self, option: str = "--pixel-size") -> float:
        """The level-0 pixel size, or an error that names the file and how to give it."""
        if self.pixel_size_um is None:
            raise SlideMetadataError(
                self.path,
                "pixel size unknown (no OME PhysicalSize, MPP or resolution unit in the file); "
                f"give it with {option} (µm per pixel; Orion scans at 0.325)",
            )
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
            self._tiff.close()
            self._tiff = None

    def __enter__(self) -> Slide:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _note_rgb_scale(slide: Slide) -> None:
    if _rgb_scale(slide):
        slide.notes.append(f"RGB of {slide.dtype} read as 8-bit (values divided by {_rgb_scale(slide):g})")


def _rgb_scale(slide: Slide) -> float:
    """Divisor from an RGB slide's integer range to 0..255 (257 for 16-bit); 0 when 8-bit."""
    dtype = slide.levels[0].dtype
    if not slide.is_rgb or dtype == np.uint8 or dtype.kind != "u":
        return 0.0
    return np.iinfo(dtype).max / 255


def _yx_shape(shape: tuple[int, ...], layout: str) -> tuple[int, int]:
    if layout in ("YXS",):
        return int(shape[0]), int(shape[1])
    return int(shape[-2]), int(shape[-1])


def open_slide(
    path: str | Path,
    *,
    pixel_size_um: float | None = None,
    channel_names: Sequence[str] | None = None,
) -> Slide:
    """Open a slide without reading pixel data.

    Parameters
    ----------
    path : str or Path
        OME-TIFF, TIFF or Aperio SVS file, or an OME-Zarr (NGFF 0.4 / 0.5) folder.
    pixel_size_um : float, optional
        Override of the level-0 pixel size (µm per pixel); the Orion H&E needs it.
    channel_names : sequence of str, optional
        Override of the channel names; must match the number of channels.

    Raises
    ------
    SlideError
        The file is missing, not a TIFF, truncated, or has axes or metadata we cannot use.
    """
    from napari_ifcell.io.ngff import is_ome_zarr

    path = Path(path)
    if is_ome_zarr(path):
        return _open_ome_zarr(path, pixel_size_um, channel_names)
    if not path.is_file():
        raise SlideError(path, "no such file" if not path.exists() else "a folder, but not an OME-Zarr image")
    try:
        tif = tifffile.TiffFile(path)
    except Exception as exc:  # tifffile raises TiffFileError, struct.error, ValueError...
        raise SlideError(path, f"not a readable TIFF file ({exc}); expected an OME-TIFF, TIFF or SVS") from exc
    try:
        return _build_slide(path, tif, pixel_size_um, channel_names)
    except BaseException:
        tif.close()
        raise


def _open_ome_zarr(path, pixel_size_override, names_override) -> Slide:
    from napari_ifcell.io.ngff import is_rgb_picture, ngff_image

    info = ngff_image(path)
    notes: list[str] = []
    levels, axes = info["levels"], info["axes"]
    is_rgb = is_rgb_picture(levels, axes, info["channel_names"], info["channel_colors"])
    layout = "SYX" if is_rgb else axes
    n_channels = 3 if is_rgb else (1 if axes == "YX" else levels[0].shape[0])
    if names_override is not None or is_rgb:
        names = checked_names(path, names_override, n_channels) if names_override is not None else RGB_NAMES
    elif len(info["channel_names"]) == n_channels and all(info["channel_names"]):
        names = tuple(info["channel_names"])
    else:
        names = sidecar_or_numbered_names(path, n_channels, notes)
    if pixel_size_override is not None:
        pixel_size, source = given_pixel_size(pixel_size_override), "given"
    elif info["pixel_size_um"] is not None:
        pixel_size, source = info["pixel_size_um"], "ngff"
    else:
        pixel_size, source = None, None
        notes.append("pixel size unknown (no scale in a known unit in the multiscales metadata)")
    slide = Slide(path, levels, layout, names, pixel_size, is_rgb, notes, None, source)
    _note_rgb_scale(slide)
    for note in notes:
        warnings.warn(f"{path}: {note}", SlideWarning, stacklevel=3)
    return slide


def _build_slide(path, tif, pixel_size_override, names_override) -> Slide:
    notes: list[str] = []
    try:
        series_index, level_series = find_levels(tif)
    except SlideError:
        raise
    except Exception as exc:
        raise SlideError(path, f"cannot parse the TIFF structure: {exc}") from exc
    base = level_series[0]
    layout = _CHANNEL_AXES.get(base.axes)
    if layout is None:
        raise SlideMetadataError(
            path, f"unsupported axes {base.axes!r} (shape {base.shape}); expected YX, CYX, YXS or SYX"
        )
    n_samples = base.shape[base.axes.index("S")] if "S" in base.axes else 1
    is_rgb = layout in ("YXS", "SYX") or (layout == "CYX" and base.shape[0] == 3 and base.dtype == np.uint8)
    if layout in ("YXS", "SYX") and n_samples not in (3, 4):
        raise SlideMetadataError(path, f"{n_samples} samples per pixel; expected RGB (3) or RGBA (4)")
    if is_rgb and layout == "CYX":
        layout = "SYX"  # three uint8 pages: planar RGB
    _check_pages(path, level_series)
    levels = open_level_arrays(path, tif, series_index, level_series)

    n_channels = 3 if is_rgb else (1 if layout == "YX" else base.shape[0])
    ome = ome_of(tif, series_index, notes)
    names = tiff_channel_names(path, ome, n_channels, is_rgb, names_override, notes)
    pixel_size, source = tiff_pixel_size(tif, ome, pixel_size_override, notes)
    slide = Slide(path, levels, layout, names, pixel_size, is_rgb, notes, tif, source)
    _note_rgb_scale(slide)
    for note in notes:
        warnings.warn(f"{path}: {note}", SlideWarning, stacklevel=3)
    return slide


def _check_pages(path, level_series) -> None:
    """Every plane the metadata declares is in the file, every tile lies inside the file and
    fits in memory (reads offsets and tags, not pixels)."""
    file_size = path.stat().st_size
    for level, series in enumerate(level_series):
        missing = sum(page is None for page in series.pages)
        if missing:
            raise SlideReadError(
                path,
                f"the metadata declares {len(series.pages)} planes at level {level} but {missing} are not in "
                "the file (cut short, or OME-XML SizeC/SizeZ/SizeT larger than the image); they would read as zeros",
            )
        mapped = is_contiguous_and_large(series)  # read through a memory map, a window at a time
        for page in series.pages:
            chunk_bytes = int(np.prod(page.chunks, dtype=np.int64)) * page.dtype.itemsize
            if chunk_bytes > MAX_CHUNK_BYTES and not mapped:
                raise SlideReadError(
                    path,
                    f"level {level} is stored in {'x'.join(map(str, page.chunks))} px pieces of "
                    f"{chunk_bytes / 2**30:.1f} GiB each; napari-ifcell reads pieces of at most "
                    f"{MAX_CHUNK_BYTES // 2**20} MiB: write a tiled copy (e.g. vips tiffsave IN OUT --tile --pyramid)",
                )
            ends = [o + n for o, n in zip(page.dataoffsets, page.databytecounts) if n]
            if ends and max(ends) > file_size:
                raise SlideReadError(
                    path,
                    f"truncated: level {level} needs {max(ends)} bytes but the file has {file_size}",
                )
