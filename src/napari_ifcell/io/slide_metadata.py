"""What a TIFF slide says about its channels and pixel size, or what the user gives instead."""

from __future__ import annotations

import re

import tifffile

from napari_ifcell.io.errors import SlideMetadataError
from napari_ifcell.io.metadata import imagej_pixel_size, ome_image_metadata, svs_pixel_size, tiff_tag_pixel_size

UNKNOWN_PIXEL_SIZE = "pixel size unknown"  # how a slide's note about it starts
# A microscope image, even a low-power overview, has pixels of a few µm; TIFF resolution tags
# above this come from an image editor (72 dpi = 353 µm/px), not from the scanner.
MAX_TAG_PIXEL_SIZE_UM = 50.0

RGB_NAMES = ("red", "green", "blue")


def is_rgb_names(names) -> bool:
    """Whether channel names are an RGB picture's (r, g, b or red, green, blue)."""
    return [str(n).strip().lower() for n in names] in (["r", "g", "b"], list(RGB_NAMES))


def checked_names(path, names, n_channels) -> tuple[str, ...]:
    names = tuple(str(n) for n in names)
    if len(names) != n_channels:
        raise SlideMetadataError(path, f"{len(names)} channel names given but the image has {n_channels} channels")
    return names


def ome_of(tif, series_index: int, notes: list[str]) -> dict | None:
    """The OME-XML's channel names and pixel size for the series (parsed once per open), what
    was not usable in it noted; None when the file has no OME-XML."""
    if tif.is_ome and tif.ome_metadata:
        ome = ome_image_metadata(tif.ome_metadata, series_index)
    elif "<OME" in (tif.pages.first.description or "")[:2048]:  # OME-XML that tifffile refused
        problems = ome_image_metadata(tif.pages.first.description)["problems"]
        problems = problems or ["the OME-XML is not valid OME; its channel names and pixel size are not used"]
        ome = {"channel_names": [], "size_c": None, "pixel_size_um": None, "problems": problems}
    else:
        return None
    notes.extend(ome["problems"])
    return ome


def tiff_channel_names(path, ome, n_channels, is_rgb, override, notes, imagej=None) -> tuple[str, ...]:
    """Given names, else the OME-XML's, else a markers.csv beside the file, else the slice labels
    of an ImageJ hyperstack (what Fiji saves as Labels) when they name channels, else ch0, ch1..."""
    if override is not None:
        return checked_names(path, override, n_channels)
    if is_rgb:
        return RGB_NAMES
    names = ome["channel_names"] if ome is not None else []
    if names and len(names) != n_channels:
        raise SlideMetadataError(
            path,
            f"the OME-XML lists {len(names)} channels but the image has {n_channels}; "
            "pass channel_names to say which is which",
        )
    if not names or any(not n for n in names):
        labels = imagej_channel_labels(imagej, n_channels)
        return sidecar_or_numbered_names(path, n_channels, notes, labels, partial=names)
    return tuple(names)


def unique_names(names, notes: list[str], what: str = "channel", first: int = 0) -> tuple[str, ...]:
    """Names told apart: a name a second channel also has gets " (2)", " (3)"... after it (a
    cyclic panel stains DAPI in every round), with a note; each channel keeps its own name, so
    no channel is lost to a later one of the same name in tables keyed by name. ``what`` names
    the things named in the note (regions are told apart the same way), ``first`` the number of
    the first (channels count from 0, as ch0, ch1...; regions from 1)."""
    names = [str(n) for n in names]
    taken = set(names)
    seen: dict[str, int] = {}
    renamed = []
    for i, name in enumerate(names):
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            number = seen[name]
            while f"{name} ({number})" in taken:
                number += 1
            names[i] = f"{name} ({number})"
            taken.add(names[i])
            renamed.append(f"{what} {i + first} {name!r} -> {names[i]!r}")
    if renamed:
        notes.append(f"{what} names repeat; told apart as {', '.join(renamed)} (give each {what} its own name)")
    return tuple(names)


def imagej_channel_labels(imagej, n_channels: int) -> tuple[str, ...]:
    """An ImageJ file's slice labels when they name its channels: one per channel, all different,
    none of the labels Fiji makes up itself ("c:1/2", a file name); else ()."""
    labels = tuple(str(label).strip() for label in (imagej or {}).get("Labels") or [])
    made_up = re.compile(r"c:\d+/\d+.*|.*\.(tif|tiff|png|jpg)$", re.IGNORECASE)
    if len(labels) != n_channels or len(set(labels)) != n_channels:
        return ()
    return () if any(not label or made_up.fullmatch(label) for label in labels) else labels


def sidecar_or_numbered_names(
    path, n_channels: int, notes: list[str], labels: tuple[str, ...] = (), partial=()
) -> tuple[str, ...]:
    """Names from a markers.csv beside the slide (MCMICRO) when its count fits, else the
    ``labels`` the file itself gives (an ImageJ file's slice labels), else the metadata's
    ``partial`` names with its blanks numbered, else ch0, ch1..."""
    from napari_ifcell.io.channels import sidecar_marker_names

    sidecar = sidecar_marker_names(path)
    if sidecar is not None:
        csv, names = sidecar
        if len(names) == n_channels:
            notes.append(f"channel names from {csv}")
            return tuple(names)
        notes.append(f"{csv} lists {len(names)} markers but the image has {n_channels} channels; not used")
    if labels:
        notes.append("channel names from the ImageJ slice labels")
        return labels
    partial = [str(n or "").strip() for n in partial]
    if len(partial) == n_channels and any(partial):
        blank = [i for i, n in enumerate(partial) if not n]
        notes.append(f"channels {blank} have no name in the metadata; named ch<i> {GIVE_NAMES}")
        return tuple(n or _stand_in(i) for i, n in enumerate(partial))
    using = "ch0" if n_channels == 1 else f"ch0..ch{n_channels - 1}"
    notes.append(f"no channel names in the metadata; using {using} {GIVE_NAMES}")
    return tuple(_stand_in(i) for i in range(n_channels))


GIVE_NAMES = "(give --channel-names)"  # ends the note of a slide whose names were made up here


def _stand_in(i: int) -> str:
    return f"ch{i}"


def names_given(slide) -> tuple[str, ...]:
    """A slide's channel names with the stand-ins made up for missing ones (ch0, ch1...) blank:
    what a copy of it may record as names."""
    made_up = any(GIVE_NAMES in n for n in slide.notes)
    return tuple("" if made_up and name == _stand_in(i) else name for i, name in enumerate(slide.channel_names))


def tiff_pixel_size(tif, page, ome, override, notes) -> tuple[float | None, str | None]:
    """(µm per level-0 pixel, where it came from); ``page``: the slide's first page (not a macro
    picture stored before it)."""
    if override is not None:
        return given_pixel_size(override), "given"
    size, source = None, None
    if ome is not None:
        size, source = ome["pixel_size_um"], "ome"
    if size is None and page.is_svs:
        size, source = svs_pixel_size(page.description), "svs"
    if size is None:
        size, source = _plausible(tiff_tag_pixel_size(page), page, notes), "tiff"
    if size is None and tif.is_imagej:
        size, source = imagej_pixel_size(page, tif.imagej_metadata or {}), "imagej"
    if size is None:
        notes.append(f"{UNKNOWN_PIXEL_SIZE} (no OME PhysicalSize, MPP or usable resolution tags)")
        return None, None
    if abs(size[0] - size[1]) > 1e-3 * size[1]:
        notes.append(f"non-square pixels {size[0]:.4f} x {size[1]:.4f} µm; using the x size")
    return float(size[1]), source


def _plausible(size, page, notes) -> tuple[float, float] | None:
    """Resolution tags giving more than ``MAX_TAG_PIXEL_SIZE_UM``, or a whole number of dots per
    inch up to 4800, are an image editor's or a document scanner's setting (72 dpi: 353 µm/px;
    1200 dpi: 21 µm/px), not a microscope's: unknown, with a note."""
    if size is None:
        return None
    resolution = page.get_resolution()
    per_unit = resolution[0]
    dpi = page.resolutionunit == tifffile.RESUNIT.INCH and float(per_unit).is_integer() and min(resolution) <= 4800
    if max(size) <= MAX_TAG_PIXEL_SIZE_UM and not dpi:
        return size
    per = f"{per_unit:g} pixels per {page.resolutionunit.name.lower()}"
    notes.append(f"its resolution tags say {per} ({size[1]:.4g} µm/px), not a microscope's; ignored")
    return None


def given_pixel_size(value: float) -> float:
    if not value > 0:
        raise ValueError(f"pixel size must be a positive number of µm per pixel, got {value}")
    return float(value)
