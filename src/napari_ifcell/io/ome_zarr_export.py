"""A slide and its cells as OME-Zarr (NGFF 0.4, Zarr v2): what QuPath 0.6+, napari-ome-zarr,
ome-zarr-py and our own reader open.

The image is written from the slide's own pyramid (lazily, chunk by chunk: a whole slide
never sits in memory) with its channel names and colours (``omero``) and pixel size (each
level's ``scale`` in micrometres). The label store becomes ``labels/<name>``: its levels,
``image-label`` colours per class and ``properties`` (class, area) per cell. Written into
a sibling folder and renamed into place: a reader never sees half an export.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from napari_ifcell.core.classes import class_rgb
from napari_ifcell.io.atomic import replace_folder
from napari_ifcell.io.ngff import RGB_COLOURS

CHUNK = 1024
FLUORESCENCE_COLOURS = ("0000FF", "00FF00", "FF0000", "FF00FF", "00FFFF", "FFFF00", "FF8000", "FFFFFF")


def write_ome_zarr(
    slide,
    path: str | Path,
    *,
    store=None,
    classes: pd.Series | None = None,
    label_name: str = "nuclei",
) -> Path:
    """Write ``slide`` (an opened :class:`~napari_ifcell.io.slide.Slide`) to ``path`` as an
    OME-Zarr image, with the label store ``store`` (cells on the slide's grid) as labels.
    ``classes``: each cell's class, indexed by CellID (colours and properties of the labels)."""
    import zarr

    from napari_ifcell.extras import require

    require("ome_zarr")
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_multiscale, write_multiscale_labels

    path = Path(path)
    if store is not None:
        store.require_shape(slide.shape, str(slide.path))
    tmp = path.with_name(f".{path.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        group = zarr.open_group(str(tmp), mode="w", zarr_format=2)
        px = slide.pixel_size_um
        levels = _image_levels(slide)
        write_multiscale(
            levels,
            group,
            fmt=FormatV04(),
            axes=[{"name": "c", "type": "channel"}, *_space_axes(px)],
            coordinate_transformations=[
                [{"type": "scale", "scale": [1.0, *_level_scale(slide, i, px)]}] for i in range(len(levels))
            ],
            storage_options={"chunks": (1, CHUNK, CHUNK)},
            name=slide.path.name,
            metadata={"omero": _omero(slide, levels[-1])},
        )
        if store is not None:
            shapes = [tuple(level.shape[1:]) for level in levels]
            _write_labels(write_multiscale_labels, FormatV04(), group, store, classes, label_name, px, shapes)
        replace_folder(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def _image_levels(slide) -> list:
    """The slide's levels as dask ``(C, Y, X)`` arrays chunked like the output."""
    out = []
    for level in slide.dask_levels():
        if slide.is_rgb:
            level = level.transpose(2, 0, 1)  # (Y, X, 3) -> (3, Y, X)
        out.append(level.rechunk((1, CHUNK, CHUNK)))
    return out


def _space_axes(px: float | None) -> list[dict]:
    unit = {"unit": "micrometer"} if px else {}
    return [{"name": "y", "type": "space", **unit}, {"name": "x", "type": "space", **unit}]


def _level_scale(slide, level: int, px: float | None) -> list[float]:
    (h0, w0), (h, w) = slide.level_shapes[0], slide.level_shapes[level]
    return [(px or 1.0) * h0 / h, (px or 1.0) * w0 / w]


def _omero(slide, thumbnail) -> dict:
    """Channel names, colours and display windows (percentiles of the coarsest level)."""
    from napari_ifcell.core.display import contrast_limits

    small = np.asarray(thumbnail[:, :2048, :2048])
    limits = contrast_limits(small)
    info = np.iinfo(small.dtype) if np.issubdtype(small.dtype, np.integer) else None
    lo, hi = (float(info.min), float(info.max)) if info else (float(small.min()), float(small.max()))
    colours = RGB_COLOURS if slide.is_rgb else FLUORESCENCE_COLOURS
    channels = [
        {
            "label": name,
            "color": colours[i % len(colours)],
            "active": True,
            "window": {"min": lo, "max": hi, "start": limits[i][0], "end": limits[i][1]},
        }
        for i, name in enumerate(slide.channel_names)
    ]
    return {"name": slide.path.name, "rdefs": {"model": "color"}, "channels": channels}


def _label_pyramid(store, shapes) -> list:
    """The store's labels at each of the image's level shapes (NGFF: a label image has the
    image's levels): a store level of that shape, else level 0 sampled by nearest neighbour."""
    from napari_ifcell.io.levels import dask_level, label_dtype

    by_shape = {tuple(level.shape): level for level in store.levels}
    dtype = label_dtype(store)  # another tool's mask may be int32, or hold ids past uint32
    level0 = dask_level(store.levels[0]).astype(dtype)
    h0, w0 = store.shape
    out = []
    for h, w in shapes:
        if (h, w) in by_shape:
            out.append(dask_level(by_shape[(h, w)]).astype(dtype).rechunk(CHUNK))
            continue
        rows = np.minimum((np.arange(h) + 0.5) * h0 / h, h0 - 1).astype(np.int64)
        cols = np.minimum((np.arange(w) + 0.5) * w0 / w, w0 - 1).astype(np.int64)
        out.append(level0[rows][:, cols].rechunk(CHUNK))
    return out


def _write_labels(write_multiscale_labels, fmt, group, store, classes, name, px, shapes) -> None:
    pyramid = _label_pyramid(store, shapes)
    h0, w0 = store.shape
    index = store.index
    ids = index["CellID"].to_numpy(np.int64)
    properties: list[dict[str, int | str]] = [
        {"label-value": int(i), "area_px": int(a)} for i, a in zip(ids, index["Area"].to_numpy())
    ]
    colours: list[dict] = []
    if classes is not None:
        named = classes.reindex(ids).to_numpy(object)
        rgb = class_rgb(named)
        for prop, value in zip(properties, named):
            if isinstance(value, str):
                prop["class"] = value
                colours.append({"label-value": prop["label-value"], "rgba": [*rgb[value], 255]})
    metadata: dict = {"properties": properties, "source": {"image": "../../"}}
    if colours:
        metadata["colors"] = colours
    write_multiscale_labels(
        pyramid,
        group,
        name,
        fmt=fmt,
        axes=_space_axes(px),
        coordinate_transformations=[
            [{"type": "scale", "scale": [(px or 1.0) * h0 / lvl.shape[0], (px or 1.0) * w0 / lvl.shape[1]]}]
            for lvl in pyramid
        ],
        storage_options={"chunks": (CHUNK, CHUNK)},
        label_metadata=metadata,
    )
