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
    from napari_ifcell._napari.layers import slide_layer_data
    from napari_ifcell.io import open_slide

    paths = [path] if isinstance(path, (str, Path)) else list(path)
    layers = []
    for p in paths:
        layers.extend(slide_layer_data(open_slide(p)))
    return layers
