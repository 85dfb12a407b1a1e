"""Compose io and core over a region or a whole slide, tile by tile. Used by the CLI and the GUI."""

from napari_ifcell.pipeline.quantify import quantify_region
from napari_ifcell.pipeline.regions import read_labels, tiles

__all__ = ["quantify_region", "read_labels", "tiles"]
