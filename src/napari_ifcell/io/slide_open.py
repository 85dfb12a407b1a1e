"""Opening a slide: which file kind it is (OME-TIFF, plain TIFF, SVS, OME-Zarr), its levels,
layout, channel names and pixel size, checked before any pixel is read (but a sample of a
16-bit picture tagged RGB, to tell fluorescence from bright field)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tifffile

from napari_ifcell.io.errors import SlideError, SlideMetadataError, SlideReadError
from napari_ifcell.io.levels import (
    ChannelsLast,
    Inverted,
    described,
    find_levels,
    is_contiguous_and_large,
    open_level_arrays,
    shaped_channels_last,
)
from napari_ifcell.io.series_channels import channel_level_series, channel_levels, channel_series
from napari_ifcell.io.slide import Slide, rgb_scale
from napari_ifcell.io.slide_metadata import (
    RGB_NAMES,
    UNKNOWN_PIXEL_SIZE,
    checked_names,
    given_pixel_size,
    is_rgb_names,
    ome_of,
    sidecar_or_numbered_names,
    tiff_channel_names,
    tiff_pixel_size,
    unique_names,
)
from napari_ifcell.notes import Note

# Axes as tifffile reports them (squeezed), mapped to how the slide stores its pixels.
_CHANNEL_AXES = {"CYX": "CYX", "IYX": "CYX", "QYX": "CYX", "YX": "YX", "YXS": "YXS", "SYX": "SYX"}
# a 16-bit RGB whose median is under this share of its 99.5th percentile is fluorescence, not bright field
DARK_MEDIAN_SHARE = 0.2
MAX_CHUNK_BYTES = 256 * 2**20  # one tile or strip is decoded whole: larger ones are refused
PLAUSIBLE_PIXEL_UM = (0.05, 20.0)  # from super-resolution scans to a low-power overview


class SlideWarning(Note):
    """Something about the file was guessed (channel names, pixel size)."""


def open_slide(
    path: str | Path,
    *,
    pixel_size_um: float | None = None,
    channel_names: Sequence[str] | None = None,
    label_image: bool = False,
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
    label_image : bool
        A label image: its ids are read as stored (never inverted, whatever its photometric),
        and several single-plane series are other masks, not the channels of one slide.

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
        return _build_slide(path, tif, pixel_size_um, channel_names, label_image)
    except BaseException:
        tif.close()
        raise


def _open_ome_zarr(path, pixel_size_override, names_override) -> Slide:
    from napari_ifcell.io.ngff import RGB_COLOURS, is_rgb_picture, ngff_image

    info = ngff_image(path)
    notes: list[str] = list(info["notes"])
    levels, axes = info["levels"], info["axes"]
    is_rgb = is_rgb_picture(levels, axes, info["channel_names"], info["channel_colors"])
    named_rgb = is_rgb_names(info["channel_names"]) or tuple(info["channel_colors"]) == RGB_COLOURS
    what = None if named_rgb else f"three {levels[0].dtype} channels,"  # omero saying RGB is taken at its word
    if is_rgb and _holds_channels(levels[-1], "SYX", names_override, notes, what):
        is_rgb = False
    layout = "SYX" if is_rgb else axes
    n_channels = 3 if is_rgb else (1 if axes == "YX" else levels[0].shape[0])
    if names_override is not None or is_rgb:
        names = checked_names(path, names_override, n_channels) if names_override is not None else RGB_NAMES
    elif len(info["channel_names"]) == n_channels and all(info["channel_names"]):
        names = tuple(info["channel_names"])
    else:
        names = sidecar_or_numbered_names(path, n_channels, notes, partial=info["channel_names"])
    names = unique_names(names, notes)
    if pixel_size_override is not None:
        pixel_size, source = given_pixel_size(pixel_size_override), "given"
    elif info["pixel_size_um"] is not None:
        pixel_size, source = info["pixel_size_um"], "ngff"
    else:
        pixel_size, source = None, None
        notes.append(f"{UNKNOWN_PIXEL_SIZE} ({_ngff_scale_said(info)})")
    slide = Slide(path, levels, layout, names, pixel_size, is_rgb, notes, None, source)
    if pixel_size is None and not info["x_unit"] and info["x_scale"] != 1.0:
        slide.pixel_size_hint_um = _plausible_um(info["x_scale"])
    return _announced(slide)


def _plausible_um(scale: float) -> float | None:
    """A unitless scale read as µm where a microscope's pixel could be that size."""
    return float(scale) if PLAUSIBLE_PIXEL_UM[0] <= scale <= PLAUSIBLE_PIXEL_UM[1] else None


def _ngff_scale_said(info: dict) -> str:
    """Why an OME-Zarr's scale gives no pixel size: no unit (ome-zarr-py writes none by
    default), or one that is not a length."""
    scale, unit = info["x_scale"], info["x_unit"]
    if scale == 1.0 and not unit:
        return "no scale or unit for x in the multiscales metadata"
    if scale <= 0:
        return f"the multiscales x scale is {scale:g}; expected a positive length"
    if not unit:
        return f"the multiscales x scale {scale:g} has no unit; if it is µm, that is the pixel size"
    return f"the multiscales x scale {scale:g} is in {unit!r}, not a length unit NGFF names"


def _build_slide(path, tif, pixel_size_override, names_override, label_image=False) -> Slide:
    notes: list[str] = []
    level_notes: list[str] = []  # which image was opened: said otherwise when the images are channels
    try:
        series_index, level_series = find_levels(tif, level_notes)
    except SlideError:
        raise
    except Exception as exc:
        raise SlideError(path, f"cannot parse the TIFF structure: {exc}") from exc
    channels, channel_names = channel_series(tif, series_index) if not label_image else ([], [])
    if channels:
        return _announced(
            _slide_of_channel_series(
                path, tif, channels, channel_names, series_index, pixel_size_override, names_override, notes
            )
        )
    notes.extend(level_notes)
    base = level_series[0]
    layout = _CHANNEL_AXES.get(base.axes)
    if layout is None:
        raise SlideMetadataError(
            path, f"unsupported axes {base.axes!r} (shape {base.shape}); expected YX, CYX, YXS or SYX"
        )
    n_samples = base.shape[base.axes.index("S")] if "S" in base.axes else 1
    grey = layout in ("YXS", "SYX") and _grey_samples(base)
    interleaved, row_pages = grey and layout == "YXS", shaped_channels_last(tif, base)
    channels_last = interleaved or row_pages
    if grey or channels_last:  # channels stored as samples, or after the columns
        layout = "CYX"
    if channels_last:
        stored = "interleaved samples" if interleaved else "one image row per page"
        notes.append(f"{base.shape[-1]} channels stored last (Y x X x C, {stored}): read as channel planes")
    three_bytes = layout == "CYX" and base.shape[0] == 3 and base.dtype == np.uint8 and not (grey or channels_last)
    is_rgb = layout in ("YXS", "SYX") or three_bytes
    if layout in ("YXS", "SYX") and n_samples not in (3, 4):
        raise SlideMetadataError(path, f"{n_samples} samples per pixel; expected RGB (3) or RGBA (4)")
    if is_rgb and layout == "CYX":
        layout = "SYX"  # three uint8 pages: planar RGB
    _check_pages(path, level_series)
    levels = open_level_arrays(path, tif, series_index, level_series)
    samples_as_channels = channels_last
    ome = ome_of(tif, series_index, notes)
    if three_bytes:  # an RGB stored planar, or three channels of fluorescence saved as 8-bit
        named_rgb = ome is not None and is_rgb_names(ome["channel_names"])
        what: str | None = None if named_rgb else "three 8-bit grey pages,"
    else:
        what = None if base.dtype == np.uint8 else f"{n_samples} samples of {base.dtype} tagged RGB but"
    if is_rgb and _holds_channels(levels[-1], layout, names_override, notes, what):
        samples_as_channels, channels_last, is_rgb, layout = not three_bytes, layout == "YXS", False, "CYX"
    if channels_last:
        levels = [ChannelsLast(level) for level in levels]
    if not is_rgb and not label_image and _photometric(base) == 0:  # MINISWHITE
        levels = _inverted(tif, base, levels, notes)
    n_channels = 3 if is_rgb else (1 if layout == "YX" else levels[0].shape[0])
    if samples_as_channels and ome is not None and len(ome["channel_names"]) != n_channels:
        ome = {**ome, "channel_names": []}  # one OME Channel of n samples, named once: no channel names
    imagej = tif.imagej_metadata if tif.is_imagej else None
    if label_image:  # ids, not a marker: a markers.csv beside it names the slide's channels
        names = tuple(f"ch{i}" for i in range(n_channels))
    else:
        names = unique_names(tiff_channel_names(path, ome, n_channels, is_rgb, names_override, notes, imagej), notes)
    pixel_size, source = tiff_pixel_size(tif, base.keyframe, ome, pixel_size_override, notes)
    return _announced(Slide(path, levels, layout, names, pixel_size, is_rgb, notes, tif, source))


def _announced(slide: Slide) -> Slide:
    """The slide, its notes given as warnings to whoever opened it."""
    _note_rgb_scale(slide)
    for note in slide.notes:
        warnings.warn(f"{slide.path}: {note}", SlideWarning, stacklevel=4)
    return slide


def _slide_of_channel_series(path, tif, indices, ome_names, index, pixel_size_override, names_override, notes) -> Slide:
    """One image series per channel (see ``io.series_channels``) read as a ``CYX`` slide named
    by each series' OME channel name (``ome_names``)."""
    per_channel = channel_level_series(tif, indices)
    every_level = [level for levels in per_channel for level in levels]
    _check_pages(path, every_level)
    levels, level_series = channel_levels(path, tif, indices, per_channel)
    white = [_photometric(levels_of[0]) == 0 for levels_of in per_channel]
    if all(white):
        levels = _inverted(tif, level_series[0], levels, notes)
    elif any(white):
        notes.append(
            f"{sum(white)} of {len(white)} channel images stored MINISWHITE (0 is white), the others not: "
            "all read as stored"
        )
    y, x = level_series[0].shape
    skipped = [described(i, s) for i, s in enumerate(tif.series) if not any(s is level for level in every_level)]
    notes.append(
        f"the TIFF holds {len(indices)} images of {x} x {y} px, one channel each: read as {len(indices)} channels"
        + (f"; skipped {', '.join(skipped)}" if skipped else "")
    )
    ome = ome_of(tif, index, notes)
    if ome is not None:
        ome = {**ome, "channel_names": ome_names}
    names = tiff_channel_names(path, ome, len(indices), False, names_override, notes)
    pixel_size, source = tiff_pixel_size(tif, level_series[0].keyframe, ome, pixel_size_override, notes)
    return Slide(path, levels, "CYX", unique_names(names, notes), pixel_size, False, notes, tif, source)


def _holds_channels(level, layout: str, names_override, notes: list, what: str | None) -> bool:
    """Whether an image tagged or shaped as RGB holds fluorescence channels: the user named them
    (not red, green, blue), or it is dark like fluorescence. ``what``: the image, as the note
    says it; None for an 8-bit RGB picture (an H&E, a photograph), which is taken at its word."""
    if names_override is not None:  # the user's word: red, green, blue keeps the picture
        if is_rgb_names(names_override):
            return False
        named = ", ".join(map(str, names_override))
        notes.append(f"{len(names_override)} channels named {named}: read as channels, not as an RGB picture")
        return True
    return what is not None and _dark_like_fluorescence(level, layout, notes, what)


def _dark_like_fluorescence(level, layout: str, notes: list, what: str) -> bool:
    """A 16-bit (or float) picture tagged RGB whose centre is mostly dark: fluorescence channels
    a writer tagged RGB (tifffile does so for any ``(Y, X, 3)`` array), not a bright-field scan,
    whose glass is near white. Measured against the picture's own brightest values (an H&E
    stored in 12 of 16 bits is as bright as one in 16), from the centre of the smallest level,
    at most 1024 px a side."""
    h, w = (level.shape[0], level.shape[1]) if layout == "YXS" else level.shape[-2:]
    ys, xs = slice(max(0, h // 2 - 512), h // 2 + 512), slice(max(0, w // 2 - 512), w // 2 + 512)
    crop = np.asarray(level[ys, xs] if layout == "YXS" else level[:, ys, xs], float)
    samples = crop.reshape(-1, crop.shape[-1]).T if layout == "YXS" else crop.reshape(crop.shape[0], -1)
    filled = ~samples.any(axis=0)  # black in every sample: a scanner's or a warp's fill, not the image
    crop = samples[:, ~filled]
    crop = crop[np.isfinite(crop)]
    bright = float(np.percentile(crop, 99.5)) if crop.size else 0.0
    if bright <= 0:
        return False  # blank or empty: nothing says fluorescence
    share = float(np.median(crop)) / bright
    if share >= DARK_MEDIAN_SHARE:
        return False
    notes.append(
        f"{what} dark like fluorescence (median {share:.1%} "
        "of its brightest values; a bright-field scan's glass is near white): read as channel planes "
        "(name them red, green, blue to read an RGB picture)"
    )
    return True


def _grey_samples(series) -> bool:
    """Samples of a grey (MINISBLACK / MINISWHITE) photometric: channels, not colours."""
    return _photometric(series) in (0, 1)


def _photometric(series) -> int | None:
    """The Photometric tag's value, None where the file has no such tag (tifffile reads a
    missing tag as MINISWHITE)."""
    page = getattr(series, "keyframe", None)
    tags = getattr(page, "tags", None)
    if page is None or tags is None or 262 not in tags:
        return None
    return int(page.photometric)


def _inverted(tif, series, levels: list, notes: list[str]) -> list:
    """A MINISWHITE image's levels read inverted, within the sample's stored bits. Kept as
    stored: ImageJ's (Fiji saves an image shown with an inverted LUT so, its values unchanged)
    and floating-point ones (no white value to invert from); each said in a note."""
    dtype = np.dtype(series.dtype)
    if tif.is_imagej or dtype.kind != "u":
        why = (
            "Fiji's inverted LUT; its values as Fiji measures them" if tif.is_imagej else f"{dtype} has no white value"
        )
        notes.append(f"stored MINISWHITE (0 is white) but read as stored ({why})")
        return levels
    bits = int(getattr(series.keyframe, "bitspersample", dtype.itemsize * 8) or dtype.itemsize * 8)
    top = 2 ** min(bits, dtype.itemsize * 8) - 1
    notes.append(f"stored MINISWHITE (0 is white): read inverted ({top} - stored value), bright as fluorescence")
    return [Inverted(level, top) for level in levels]


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
            holder = Path(page.parent.filehandle.path or path)  # a multi-file OME-TIFF's plane: its own file
            size = file_size if holder == path else holder.stat().st_size
            if ends and max(ends) > size:
                raise SlideReadError(
                    holder, f"truncated: level {level} needs {max(ends)} bytes but the file has {size}"
                )


def _note_rgb_scale(slide: Slide) -> None:
    if rgb_scale(slide):
        slide.notes.append(f"RGB of {slide.dtype} read as 8-bit (values divided by {rgb_scale(slide):g})")
