"""Write a tiled, pyramidal OME-TIFF (SubIFD levels) from an on-disk array.

Levels are built by halving block by block into temporary memory-mapped files, so an
image larger than memory can be written; tifffile streams tiles from the memmaps.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import tifffile

ROW_BLOCK = 2048  # rows of a level halved at a time


def level_count(shape_yx: tuple[int, int], tile: int) -> int:
    """Levels needed until the whole image fits in one tile (Orion: 87,043 px -> 8 at 1024)."""
    n, size = 1, max(shape_yx)
    while size > tile:
        size = (size + 1) // 2
        n += 1
    return n


def _halve(block: np.ndarray, yx_axes: tuple[int, int], how: str) -> np.ndarray:
    """2x2 mean (intensities) or top-left pick (labels) along the two spatial axes."""
    ay, ax = yx_axes
    if how == "nearest":
        index = [slice(None)] * block.ndim
        index[ay], index[ax] = slice(None, None, 2), slice(None, None, 2)
        return block[tuple(index)]
    pad = [(0, 0)] * block.ndim
    pad[ay], pad[ax] = (0, block.shape[ay] % 2), (0, block.shape[ax] % 2)
    block = np.pad(block, pad, mode="edge").astype(np.float32)
    shape = list(block.shape)
    shape[ay : ay + 1] = [shape[ay] // 2, 2]
    ax2 = ax + 1  # x axis index after splitting y
    shape[ax2 : ax2 + 1] = [shape[ax2] // 2, 2]
    mean = block.reshape(shape).mean(axis=(ay + 1, ax2 + 1))
    return np.rint(mean)


def _next_level(src: np.ndarray, yx_axes, how, path) -> np.memmap:
    ay, ax = yx_axes
    shape = list(src.shape)
    shape[ay], shape[ax] = (shape[ay] + 1) // 2, (shape[ax] + 1) // 2
    dst = np.memmap(path, dtype=src.dtype, mode="w+", shape=tuple(shape))
    for r0 in range(0, src.shape[ay], ROW_BLOCK):
        index = [slice(None)] * src.ndim
        index[ay] = slice(r0, min(r0 + ROW_BLOCK, src.shape[ay]))
        out_index = list(index)
        out_index[ay] = slice(r0 // 2, (min(r0 + ROW_BLOCK, src.shape[ay]) + 1) // 2)
        dst[tuple(out_index)] = _halve(np.asarray(src[tuple(index)]), yx_axes, how)
    dst.flush()
    return dst


def write_pyramidal_ome_tiff(
    path: str | Path,
    level0: np.ndarray,
    *,
    axes: str,
    channel_names: Sequence[str] | None = None,
    pixel_size_um: float | None = None,
    tile: int = 512,
    downsample: str = "mean",
    compression: str = "zlib",
    progress: Callable[[str, int, int], None] | None = None,
) -> Path:
    """Write ``level0`` and its 2x pyramid as SubIFDs of one OME-TIFF.

    Parameters
    ----------
    level0 : ndarray or memmap
        ``(C, Y, X)`` with axes "CYX", ``(Y, X)`` with "YX", RGB ``(Y, X, 3)`` with "YXS"
        (interleaved) or ``(3, Y, X)`` with "SYX" (planar).
    pixel_size_um : float, optional
        Written as OME PhysicalSizeX/Y and TIFF resolution in cm; when None both are left
        out and the resolution tag is 1 with no unit (as in Orion's H&E files).
    downsample : {"mean", "nearest"}
        "nearest" for label images.
    """
    path = Path(path)
    if tile < 16 or tile % 16:
        raise ValueError(f"tile: expected a multiple of 16 px (TIFF tiles), got {tile}")
    yx_axes = {"CYX": (1, 2), "YX": (0, 1), "YXS": (0, 1), "SYX": (1, 2)}[axes]
    shape_yx = (level0.shape[yx_axes[0]], level0.shape[yx_axes[1]])
    n_levels = level_count(shape_yx, tile)
    rgb = axes in ("YXS", "SYX")
    options = dict(
        tile=(tile, tile),
        compression=compression,
        photometric="rgb" if rgb else "minisblack",
        planarconfig=("separate" if axes == "SYX" else "contig") if rgb else None,
        maxworkers=min(2, os.cpu_count() or 1),
    )
    metadata: dict = {"axes": axes}
    if channel_names is not None:
        metadata["Channel"] = {"Name": list(channel_names)}
    if pixel_size_um is not None:
        metadata.update(
            PhysicalSizeX=pixel_size_um, PhysicalSizeXUnit="µm", PhysicalSizeY=pixel_size_um, PhysicalSizeYUnit="µm"
        )

    def resolution(level: int) -> dict:
        if pixel_size_um is None:
            return {"resolution": (1, 1), "resolutionunit": "NONE"}
        per_cm = 1e4 / (pixel_size_um * 2**level)
        return {"resolution": (per_cm, per_cm), "resolutionunit": "CENTIMETER"}

    tmp_path = path.with_name(path.name + ".partial")
    try:
        with (
            tempfile.TemporaryDirectory(dir=path.parent, prefix=".pyramid-") as tmp,
            tifffile.TiffWriter(tmp_path, bigtiff=True, ome=True) as tw,
        ):
            tw.write(level0, subifds=n_levels - 1, metadata=metadata, **resolution(0), **options)
            src = level0
            for level in range(1, n_levels):
                if progress:
                    progress(f"pyramid {path.name}", level, n_levels - 1)
                src = _next_level(src, yx_axes, downsample, Path(tmp) / f"level{level}.dat")
                tw.write(src, subfiletype=1, metadata=None, **resolution(level), **options)
            del src
        os.replace(tmp_path, path)  # a reader never sees a half-written slide
    finally:
        tmp_path.unlink(missing_ok=True)  # nor the half of a write that failed
    return path


def write_slide_pyramid(
    slide, path: str | Path, *, tile: int = 512, progress: Callable[[str, int, int], None] | None = None
) -> Path:
    """Copy an open ``Slide`` (any layout it reads) into a tiled, pyramidal OME-TIFF with its
    channel names and pixel size: level 0 is read block by block into a temporary
    memory-mapped file, so memory stays bounded whatever the slide's size."""
    path = Path(path)
    h, w = slide.shape
    block = 2048
    blocks = [(y, x) for y in range(0, h, block) for x in range(0, w, block)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".copy-") as tmp:
        shape = (h, w, 3) if slide.is_rgb else (slide.n_channels, h, w)  # read_region's layouts
        level0 = np.memmap(Path(tmp) / "level0.dat", dtype=slide.read_dtype, mode="w+", shape=shape)
        for i, (y, x) in enumerate(blocks):
            bh, bw = min(block, h - y), min(block, w - x)
            where = (slice(y, y + bh), slice(x, x + bw))
            level0[where if slide.is_rgb else (slice(None), *where)] = slide.read_region(y, x, bh, bw, level=0)
            if progress:
                progress(f"read {slide.path.name}", i + 1, len(blocks))
        level0.flush()
        return write_pyramidal_ome_tiff(
            path,
            level0,
            axes="YXS" if slide.is_rgb else "CYX",
            channel_names=None if slide.is_rgb else _names_to_keep(slide),
            pixel_size_um=slide.pixel_size_um,
            tile=tile,
            progress=progress,
        )


def _names_to_keep(slide) -> tuple[str, ...] | None:
    """The channel names a copy records: none where the slide had none (its reader made up
    ch0, ch1...), so the copy still says its channels are unnamed and to give names."""
    from napari_ifcell.io.slide_metadata import names_given

    names = names_given(slide)
    return names if any(names) else None
