"""npe2 reader: open OME-TIFF, TIFF, SVS slides and OME-Zarr images as lazy multiscale layers."""

from __future__ import annotations

from pathlib import Path

SUFFIXES = (".ome.tif", ".ome.tiff", ".tif", ".tiff", ".svs", ".zarr", ".zarr/")


def napari_get_reader(path):
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    if not paths or not all(str(p).lower().endswith(SUFFIXES) for p in paths):
        return None
    return read_slides


def read_slides(path) -> list[tuple]:
    """Layer data for one or more slide paths; raises SlideError naming a bad file."""
    from napari_ifcell._napari.file_open import mark_as_read
    from napari_ifcell._napari.layers import slide_layer_data
    from napari_ifcell.io import open_slide

    paths = [path] if isinstance(path, (str, Path)) else list(path)
    layers = []
    for p in paths:
        slide = open_slide(p)
        if slide.pixel_size_um is None:
            _say_assumed_scale(slide)
        layers.extend(mark_as_read(data) for data in slide_layer_data(slide))  # the Loader takes them up
    return layers


def _say_assumed_scale(slide) -> None:
    """A slide without a pixel size is drawn at an assumed one: say which, and where to set it."""
    import warnings

    from napari_ifcell._napari.layers import UNITLESS_SCALE, world_scale
    from napari_ifcell.io.slide_open import SlideWarning

    um = world_scale(slide)[0]
    why = UNITLESS_SCALE if slide.pixel_size_hint_um else "Orion's pixel size"
    warnings.warn(
        f"{slide.path}: drawn at {um:g} µm/px, assumed ({why}); to set its size, open it in the "
        "Loader and give its µm/px",
        SlideWarning,
        stacklevel=2,
    )
