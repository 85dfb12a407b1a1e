"""Nucleus segmentation: the CPU watershed, Segment Anything masks and checkpoints, and
detection scores at an IoU threshold.

This package's names are the scripting API."""

from napari_ifcell.core.segment.metrics import DetectionScore, iou_pairs, match_at_iou
from napari_ifcell.core.segment.sam_masks import (
    MaskSet,
    SamSettings,
    generate_masks,
    hoechst_seeds,
    masks_to_labels,
    sam_nuclei,
)
from napari_ifcell.core.segment.sam_model import MODEL_TYPES, SamCheckpointError, load_sam
from napari_ifcell.core.segment.watershed import (
    BACKENDS,
    WatershedSettings,
    slide_threshold,
    stain_signal,
    watershed_nuclei,
)

__all__ = [
    "BACKENDS",
    "MODEL_TYPES",
    "DetectionScore",
    "MaskSet",
    "SamCheckpointError",
    "SamSettings",
    "WatershedSettings",
    "generate_masks",
    "hoechst_seeds",
    "iou_pairs",
    "load_sam",
    "masks_to_labels",
    "match_at_iou",
    "sam_nuclei",
    "slide_threshold",
    "stain_signal",
    "watershed_nuclei",
]
