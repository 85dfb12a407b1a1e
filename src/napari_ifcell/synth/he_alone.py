"""The synthetic pair's H&E written alone, as a routine H&E slide with no IF: at any pixel size,
as an OME-TIFF or an Aperio SVS, with its true nuclei and cells on its own grid."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from napari_ifcell.io.atomic import atomic_write

FORMATS = ("ome-tiff", "svs")


@dataclass(frozen=True)
class SyntheticHE:
    """Paths of an H&E slide written alone and its truth on the H&E's grid."""

    he_path: Path
    labels_path: Path  # true nuclei, uint32 OME-TIFF on the H&E grid
    cells_path: Path  # true cells (CellID, centroids, Area, type ...) on the H&E grid
    pixel_size_um: float


def write_he_alone(
    pair, out_dir: str | Path, *, pixel_size_um: float | None = None, fmt: str = "ome-tiff", name: str = "he_alone"
) -> SyntheticHE:
    """Write ``pair``'s H&E (a :class:`SyntheticPair`) alone at ``pixel_size_um`` (default the
    pair's own), resampled with area averaging, and its truth moved onto the H&E's grid (the H&E
    is offset from the IF by the pair's registration error). ``fmt``: ``"ome-tiff"`` (pyramidal,
    pixel size in the OME metadata) or ``"svs"`` (Aperio layout: JPEG tiles, ``MPP`` in the
    description, 4x pyramid levels and a thumbnail)."""
    import json

    import tifffile
    from scipy import ndimage
    from skimage.transform import resize

    from napari_ifcell.io.pyramid_writer import write_pyramidal_ome_tiff

    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    summary = json.loads(Path(pair.truth_path).read_text())
    source_um = float(summary["pixel_size_um"])
    pixel_size_um = pixel_size_um or source_um
    offset = np.asarray(summary["he_offset_px"], float)  # IF pixel p is drawn at p + offset in the H&E
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    he = tifffile.imread(pair.he_path, level=0)
    if he.shape[0] == 3 and he.shape[-1] != 3:
        he = np.moveaxis(he, 0, -1)
    labels = ndimage.shift(tifffile.imread(pair.labels_path, level=0), offset, order=0, cval=0)
    cells = pd.read_csv(pair.cells_path)
    cells["Y_centroid"] += offset[0]
    cells["X_centroid"] += offset[1]
    scale = source_um / pixel_size_um  # H&E pixels per source pixel
    if abs(scale - 1) > 1e-6:
        shape = (round(he.shape[0] * scale), round(he.shape[1] * scale))
        he = resize(he, (*shape, 3), order=1, anti_aliasing=scale < 1, preserve_range=True)
        he = np.clip(np.rint(he), 0, 255).astype(np.uint8)
        labels = resize(labels, shape, order=0, anti_aliasing=False, preserve_range=True).astype(np.uint32)
        # a pixel's centre maps as (p + 0.5) * scale - 0.5
        cells["Y_centroid"] = (cells["Y_centroid"] + 0.5) * scale - 0.5
        cells["X_centroid"] = (cells["X_centroid"] + 0.5) * scale - 0.5
        cells["Area"] = cells["Area"] * scale**2
    cells = cells[np.isin(cells["CellID"], np.unique(labels[labels > 0]))].reset_index(drop=True)
    suffix = ".svs" if fmt == "svs" else ".ome.tif"
    he_path = out_dir / f"{name}{suffix}"
    if fmt == "svs":
        _write_svs(he_path, he, pixel_size_um)
    else:
        write_pyramidal_ome_tiff(he_path, he, axes="YXS", pixel_size_um=pixel_size_um, tile=256)
    labels_path = out_dir / f"{name}_nuclei.ome.tif"
    write_pyramidal_ome_tiff(
        labels_path, labels, axes="YX", channel_names=["nuclei"], pixel_size_um=pixel_size_um, downsample="nearest"
    )
    cells_path = out_dir / f"{name}_cells.csv"
    atomic_write(cells_path, lambda p: cells.to_csv(p, index=False))
    return SyntheticHE(he_path, labels_path, cells_path, pixel_size_um)


def _write_svs(path: Path, rgb: np.ndarray, pixel_size_um: float) -> None:
    """An Aperio-style SVS: tiled JPEG level 0 with ``MPP`` in its description, a stripped
    thumbnail second, then 4x-downsampled levels, a label and a macro image."""
    import tifffile
    from skimage.transform import downscale_local_mean

    h, w = rgb.shape[:2]
    head = f"Aperio Image Library v12.0.15 \r\n{w}x{h} [0,0 {w}x{h}] (256x256) JPEG/RGB Q=90"
    desc = f"{head}|AppMag = 20|MPP = {pixel_size_um:.4f}|Filename = {path.stem}"
    with tifffile.TiffWriter(path, bigtiff=False) as tw:
        tw.write(rgb, tile=(256, 256), compression="jpeg", photometric="rgb", description=desc, metadata=None)
        thumb = rgb[:: max(1, h // 256 + 1), :: max(1, w // 256 + 1)].copy()
        tw.write(thumb, photometric="rgb", description=f"{head}\r\nthumbnail", metadata=None)
        level = rgb
        while max(level.shape[:2]) > 1024:
            level = np.clip(downscale_local_mean(level, (4, 4, 1)), 0, 255).astype(np.uint8)
            lh, lw = level.shape[:2]
            tw.write(
                level,
                tile=(256, 256),
                compression="jpeg",
                photometric="rgb",
                description=f"{head} -> {lw}x{lh} JPEG/RGB Q=90",
                metadata=None,
            )
        tw.write(rgb[:64, :64].copy(), subfiletype=1, photometric="rgb", description="label 64x64", metadata=None)
        tw.write(rgb[:96, :128].copy(), subfiletype=9, photometric="rgb", description="macro 128x96", metadata=None)
