"""Compose io and core over a region or a whole slide, tile by tile. Used by the CLI and the GUI."""

from napari_ifcell.core.steps import run_to_end
from napari_ifcell.pipeline.quantify import quantify_region
from napari_ifcell.pipeline.segment import SegmentSettings, segment_region, segment_slide
from napari_ifcell.pipeline.slide_store import slide_store
from napari_ifcell.pipeline.tiling import read_labels, tiles

__all__ = [
    "SegmentSettings",
    "quantify_region",
    "read_labels",
    "run_to_end",
    "segment_region",
    "segment_slide",
    "slide_store",
    "tiles",
]
