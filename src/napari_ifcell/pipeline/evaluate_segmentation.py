"""Score a segmentation against annotated nuclei: one-to-one matches at IoU 0.5-0.9, over a
region of two label images or stores of the same slide, tile by tile."""

from __future__ import annotations

from pathlib import Path

from napari_ifcell.core.segment.metrics import IOU_THRESHOLDS, ObjectOverlaps, score_table
from napari_ifcell.pipeline.tiling import open_nuclei, read_labels, region_on_slide, tiles

TILE = 2048


def evaluate_segmentation(predicted, truth, *, region=None, ious=IOU_THRESHOLDS, progress=None, names=None):
    """Scores (:func:`score_table`) of ``predicted`` against ``truth``: each a label image file,
    a label store folder or a 2-D array of labels (a napari layer's), on the same pixel grid.
    ``names``: what to call the two in messages (default their paths)."""
    names = names or tuple(
        str(x) if isinstance(x, str | Path) else what
        for x, what in zip((predicted, truth), ("predicted labels", "truth labels"))
    )
    sources = [_labels_source(predicted)]
    try:
        sources.append(_labels_source(truth))
        return _evaluate(*sources, *names, region, ious, progress)
    finally:
        for source in sources:
            if hasattr(source, "close"):  # a label image; a store's zarr array needs no closing
                source.close()


def _labels_source(labels):
    return open_nuclei(labels) if isinstance(labels, str | Path) else labels


def _evaluate(pred_source, truth_source, predicted, truth, region, ious, progress):
    shapes = tuple(pred_source.shape[-2:]), tuple(truth_source.shape[-2:])
    if shapes[0] != shapes[1]:
        raise ValueError(
            f"{predicted} is {shapes[0][0]} x {shapes[0][1]} px but {truth} is {shapes[1][0]} x {shapes[1][1]} px: "
            "both must be on the same pixel grid"
        )
    region = region_on_slide(region, shapes[0], predicted)
    overlaps = ObjectOverlaps()
    boxes = tiles(region, TILE)
    for i, box in enumerate(boxes):
        if progress:
            progress("evaluate", i, len(boxes))
        overlaps.add(read_labels(pred_source, *box), read_labels(truth_source, *box))
    if progress:
        progress("evaluate", len(boxes), len(boxes))
    if overlaps.n_truth == 0:
        raise ValueError(f"{truth}: no annotated nucleus in the region {list(region)}: nothing to score against")
    return score_table(overlaps, ious)
