"""OME-Zarr (OME-NGFF 0.4 and 0.5) multiscale images, read lazily with zarr following the
spec: what QuPath 0.6+, bioformats2raw and ome-zarr-py write.

The first multiscale image of the group is read: its datasets are the pyramid levels, its
``axes`` say which dimension is which (``t`` and ``z`` must be single), the pixel size is the
level-0 ``scale`` of ``y``/``x`` in their ``unit``, and channel names come from ``omero``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import zarr

from napari_ifcell.io.errors import SlideError, SlideMetadataError
from napari_ifcell.io.slide_metadata import is_rgb_names

# NGFF units (UDUNITS-2 names) in micrometres
# (and um, µm, micron: not NGFF's names, but written by some tools)
_UNIT_TO_UM = {
    **{"micrometer": 1.0, "nanometer": 1e-3, "millimeter": 1e3, "centimeter": 1e4, "meter": 1e6},
    **{"um": 1.0, "µm": 1.0, "micron": 1.0},
}


def is_ome_zarr(path: Path) -> bool:
    return path.is_dir() and any((path / name).is_file() for name in ("zarr.json", ".zattrs", ".zgroup"))


class AxisView:
    """A zarr array seen as ``(C, Y, X)`` or ``(Y, X)``: its single ``t``/``z`` dimensions fixed at 0."""

    def __init__(self, array, axes: list[str]):
        self.array = array
        self._keep = [a in ("c", "y", "x") for a in axes]
        self.shape = tuple(n for n, keep in zip(array.shape, self._keep) if keep)
        self.chunks = tuple(n for n, keep in zip(array.chunks, self._keep) if keep)
        self.dtype = array.dtype
        self.ndim = len(self.shape)

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        key = key + (slice(None),) * (self.ndim - len(key))
        it = iter(key)
        return self.array[tuple(next(it) if keep else 0 for keep in self._keep)]


def ngff_image(path: Path) -> dict:
    """``levels`` (arrays, ``(C, Y, X)`` or ``(Y, X)``), ``axes`` (of the view), ``pixel_size_um``
    (or None) and ``channel_names`` (or []) of an OME-Zarr image."""
    try:
        group = zarr.open_group(path, mode="r")
    except Exception as exc:
        raise SlideError(path, f"not a readable Zarr group ({exc})") from exc
    attrs: dict[str, Any] = dict(group.attrs.asdict())
    ome: dict[str, Any] = attrs.get("ome", attrs)  # 0.5 nests the metadata under "ome"
    notes: list[str] = []
    if "bioformats2raw.layout" in ome and "multiscales" not in ome and "0" in group:
        group = _largest_image(path, group, notes)
        attrs = dict(group.attrs.asdict())
        ome = attrs.get("ome", attrs)
    if not ome.get("multiscales"):
        raise SlideMetadataError(path, "no 'multiscales' metadata: not an OME-Zarr image (or a plate / labels group)")
    image = ome["multiscales"][0]
    axes = [a["name"] if isinstance(a, dict) else str(a) for a in image.get("axes", [])]
    units = {a["name"]: a.get("unit") for a in image.get("axes", []) if isinstance(a, dict)}
    if not {"y", "x"} <= set(axes) or set(axes) - {"t", "c", "z", "y", "x"}:
        raise SlideMetadataError(path, f"axes {axes}: expected y and x, with optional t, c and z")
    arrays = []
    for dataset in image["datasets"]:
        array = group[dataset["path"]]
        if not isinstance(array, zarr.Array):
            raise SlideMetadataError(path, f"dataset {dataset['path']!r} is a group, not an array")
        arrays.append(array)
    for name, size in zip(axes, arrays[0].shape):
        if name in ("t", "z") and size != 1:
            raise SlideMetadataError(path, f"{name} has {size} planes; only 2-D images (a single {name}) are read")
    view = [a for a in axes if a in ("c", "y", "x")]
    levels = [AxisView(arr, axes) for arr in arrays]
    channels = [c for c in (ome.get("omero") or attrs.get("omero") or {}).get("channels", []) if isinstance(c, dict)]
    return {
        "levels": levels,
        "axes": "".join(view).upper(),
        "pixel_size_um": _pixel_size(image, axes, units),
        "x_scale": _x_scale(image, axes),
        "x_unit": units.get("x"),
        "channel_names": [str(c.get("label") or "") for c in channels],
        "channel_colors": [str(c.get("color") or "").upper() for c in channels],
        "notes": notes,
    }


def _largest_image(path: Path, root: zarr.Group, notes: list[str]) -> zarr.Group:
    """bioformats2raw writes one image per numbered group ("0", "1", ...); the slide is the
    largest (a converted VSI or MRXS can hold its overview or label first)."""
    first = root["0"]
    if not isinstance(first, zarr.Group):
        raise SlideMetadataError(path, "bioformats2raw layout without an image group '0'")
    sizes = {}
    for key in sorted((k for k in root.group_keys() if k.isdigit()), key=int):
        image_group = root[key]
        meta: dict[str, Any] = dict(image_group.attrs.asdict())
        try:
            image = meta.get("ome", meta)["multiscales"][0]
            level0 = image_group[image["datasets"][0]["path"]]
        except (KeyError, IndexError, TypeError):
            continue  # not an image group: left out
        if isinstance(level0, zarr.Array) and level0.ndim >= 2:
            sizes[key] = int(level0.shape[-1]) * int(level0.shape[-2])
    best = max(sizes, key=lambda k: (sizes[k], -int(k)), default="0")
    if best != "0":
        notes.append(
            f"the OME-Zarr holds {len(sizes)} images; opened the largest, image {best}, and skipped the others"
        )
    chosen = root[best]
    assert isinstance(chosen, zarr.Group)
    return chosen


def _pixel_size(image: dict, axes: list[str], units: dict) -> float | None:
    """Level-0 x scale in µm; None without a known unit."""
    factor = _UNIT_TO_UM.get(units.get("x") or "")
    scale = _x_scale(image, axes)
    return scale * factor if factor is not None and scale > 0 else None


def _x_scale(image: dict, axes: list[str]) -> float:
    """Level-0 x scale (times the image-wide scale, if any), in the axis's unit."""
    scale = 1.0
    transforms = list(image["datasets"][0].get("coordinateTransformations", []))
    transforms += image.get("coordinateTransformations", [])
    for t in transforms:
        if t.get("type") == "scale" and "scale" in t:
            scale *= float(t["scale"][axes.index("x")])
    return scale


def fingerprint(path: Path) -> str:
    """A cheap identity of an OME-Zarr: its metadata, level-0 shape and first chunk's pixels."""
    import hashlib

    digest = hashlib.sha1()
    for name in ("zarr.json", ".zattrs", ".zgroup"):
        if (path / name).is_file():
            digest.update((path / name).read_bytes())
    level0 = ngff_image(path)["levels"][0]
    digest.update(repr((level0.shape, level0.chunks)).encode())
    digest.update(np.ascontiguousarray(level0[tuple(slice(0, c) for c in level0.chunks)]).tobytes())
    return digest.hexdigest()[:16]


# omero colours of an RGB picture's channels (what our export writes, and what marks 16-bit RGB)
RGB_COLOURS = ("FF0000", "00FF00", "0000FF")


def is_rgb_picture(levels, axes: str, names=(), colors=()) -> bool:
    """Whether an image is an RGB (H&E) picture: three uint8 channels, or three unsigned 16-bit
    ones that ``omero`` marks as red, green and blue (by label or by colour)."""
    if axes != "CYX" or levels[0].shape[0] != 3:
        return False
    dtype = np.dtype(levels[0].dtype)
    if dtype == np.uint8:
        return True
    marked = is_rgb_names(names) or tuple(colors) == RGB_COLOURS
    return dtype.kind == "u" and marked
