"""Pixel size and channel names from OME-XML, Aperio descriptions and TIFF tags.

Every function here reads metadata only, never pixel data.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import tifffile

# Length units allowed by the OME schema, in micrometres.
_UNIT_TO_UM = {
    "µm": 1.0,
    "um": 1.0,
    "micron": 1.0,
    "nm": 1e-3,
    "Å": 1e-4,
    "mm": 1e3,
    "cm": 1e4,
    "m": 1e6,
}


def _local(tag: str) -> str:
    """Tag name without its XML namespace."""
    return tag.rsplit("}", 1)[-1]


def ome_image_metadata(ome_xml: str, image_index: int = 0) -> dict:
    """Channel names and physical pixel size of one OME ``Image``.

    Returns
    -------
    dict
        ``channel_names`` (list of str or None per channel; an empty list when the XML
        has no ``Channel`` elements), ``size_c`` (int or None), ``pixel_size_um``
        ((y, x) in µm, or None when absent or unusable) and ``problems`` (what was not
        usable and why: the caller notes them).
    """
    empty: dict = {"channel_names": [], "size_c": None, "pixel_size_um": None, "problems": []}
    try:
        root = ET.fromstring(ome_xml)
    except ET.ParseError as exc:
        return {
            **empty,
            "problems": [f"the OME-XML is malformed ({exc}); its channel names and pixel size are not used"],
        }
    images = _pixels_of_images(root)
    if not images:
        return empty
    pixels = images[min(image_index, len(images) - 1)]
    if pixels is None:
        return empty
    names = _channel_names(pixels)
    problems: list[str] = []
    size_c = pixels.get("SizeC")
    if size_c is not None and not size_c.strip().isdigit():
        problems.append(f"OME-XML Pixels SizeC={size_c[:20]!r} is not a whole number; not used")
        size_c = None
    return {
        "channel_names": names,
        "size_c": int(size_c) if size_c else None,
        "pixel_size_um": _ome_pixel_size(pixels.attrib, problems),
        "problems": problems,
    }


def ome_channel_names_by_image(ome_xml: str) -> list[list]:
    """Every OME ``Image``'s channel names (a list per Image), from one parse of the XML; []
    when it is malformed."""
    try:
        root = ET.fromstring(ome_xml)
    except ET.ParseError:
        return []
    return [[] if pixels is None else _channel_names(pixels) for pixels in _pixels_of_images(root)]


def _pixels_of_images(root) -> list:
    """The ``Pixels`` element (or None) of each ``Image``."""
    images = [el for el in root if _local(el.tag) == "Image"]
    return [next((el for el in image if _local(el.tag) == "Pixels"), None) for image in images]


def _channel_names(pixels) -> list:
    return [ch.get("Name") for ch in pixels if _local(ch.tag) == "Channel"]


def _ome_pixel_size(attrib: dict, problems: list[str]) -> tuple[float, float] | None:
    given = [axis for axis in ("Y", "X") if f"PhysicalSize{axis}" in attrib]
    if len(given) == 1:  # some writers give one: square pixels
        have, lack = given[0], "X" if given[0] == "Y" else "Y"
        problems.append(f"OME-XML gives PhysicalSize{have} only; square pixels assumed")
        attrib = {**attrib, f"PhysicalSize{lack}": attrib[f"PhysicalSize{have}"]}
        if f"PhysicalSize{have}Unit" in attrib:
            attrib[f"PhysicalSize{lack}Unit"] = attrib[f"PhysicalSize{have}Unit"]
    sizes = []
    for axis in ("Y", "X"):
        value = attrib.get(f"PhysicalSize{axis}")
        if value is None:
            return None
        unit = attrib.get(f"PhysicalSize{axis}Unit", "µm")
        factor = _UNIT_TO_UM.get(unit)
        if factor is None:
            problems.append(f"OME-XML PhysicalSize{axis}Unit={unit[:20]!r} is not a length unit; pixel size not used")
            return None
        try:
            size = float(value)
        except ValueError:
            size = float("nan")
        if not 0 < size < float("inf"):
            problems.append(f"OME-XML PhysicalSize{axis}={value[:20]!r} is not a positive number; pixel size not used")
            return None
        sizes.append(size * factor)
    return sizes[0], sizes[1]


def svs_pixel_size(description: str) -> tuple[float, float] | None:
    """µm per pixel from an Aperio SVS image description (``MPP = 0.2520``)."""
    try:
        mpp = tifffile.tifffile.svs_description_metadata(description).get("MPP")
    except ValueError:
        return None
    if isinstance(mpp, (int, float)) and mpp > 0:
        return float(mpp), float(mpp)
    return None


def tiff_tag_pixel_size(page: tifffile.TiffPage) -> tuple[float, float] | None:
    """µm per pixel from the XResolution/YResolution tags, or None if they are absent or the unit
    is NONE.

    Orion's H&E files carry a resolution of 1 with no unit: that is "unknown", not 1 µm.
    """
    # RESUNIT is an IntEnum, so the plain int tag value finds its member's entry
    um_per_unit: dict[int, float] = {
        tifffile.RESUNIT.CENTIMETER: 1e4,
        tifffile.RESUNIT.INCH: 25400.0,
        tifffile.RESUNIT.MILLIMETER: 1e3,
        tifffile.RESUNIT.MICROMETER: 1.0,
    }
    per_unit_um = um_per_unit.get(page.resolutionunit)
    if per_unit_um is None or "XResolution" not in page.tags:  # absent tags read as 1 per inch
        return None
    xres, yres = page.get_resolution()
    if xres <= 0 or yres <= 0:
        return None
    return per_unit_um / yres, per_unit_um / xres


def imagej_pixel_size(page: tifffile.TiffPage, imagej_metadata: dict) -> tuple[float, float] | None:
    """µm per pixel of an ImageJ TIFF: resolution tags in pixels per ``unit`` (from its description)."""
    factor = _UNIT_TO_UM.get(str(imagej_metadata.get("unit", "")).replace("\\u00B5", "µ"))
    if factor is None:
        return None
    xres, yres = page.get_resolution()
    if xres <= 0 or yres <= 0:
        return None
    return factor / yres, factor / xres
