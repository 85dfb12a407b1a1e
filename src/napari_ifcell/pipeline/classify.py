"""Run a trained classifier on the cells of a region or a slide, and score it against the
IF-derived truth."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from napari_ifcell.core.classifier import ClassifierConfig
from napari_ifcell.core.patches import extract_patches
from napari_ifcell.pipeline.dataset import CLASS_OF_PHENOTYPE, classifier_targets, patch_reader

CHUNK = 4096  # cells whose patches are held in memory at once


def predict_cells(pair, table: pd.DataFrame, model, config: ClassifierConfig, *, region=None,
                  progress: Callable[[str, int, int], None] | None = None) -> pd.DataFrame:  # fmt: skip
    """``table`` with ``prob_<class>`` and ``predicted`` (multiclass) or ``prob_<marker>``
    (multitask) for the cells in ``region`` (level-0 ``y, x, h, w``; default all); others NaN."""
    from napari_ifcell.core.training import predict_proba

    table = table.copy()
    rows = np.arange(len(table))
    if region is not None:
        y, x, h, w = region
        inside = table["Y_centroid"].between(y, y + h, inclusive="left") & table["X_centroid"].between(x, x + w, inclusive="left")
        rows = np.flatnonzero(inside.to_numpy())
    names = config.classes if config.task == "multiclass" else config.markers
    probs = np.full((len(table), len(names)), np.nan, np.float32)
    read = patch_reader(pair, config)
    centres = table[["Y_centroid", "X_centroid"]].to_numpy()
    # cells in raster order of blocks, so each chunk reads few blocks
    rows = rows[np.lexsort((centres[rows, 1] // 1024, centres[rows, 0] // 1024))]
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        probs[chunk] = predict_proba(model, extract_patches(read, centres[chunk], config.patch_size), config)
        if progress:
            progress("predict", min(start + CHUNK, len(rows)), len(rows))
    for i, name in enumerate(names):
        table[f"prob_{name}"] = probs[:, i]
    if config.task == "multiclass":
        best = np.nanargmax(np.where(np.isnan(probs), -1, probs), axis=1)
        table["predicted"] = np.where(np.isnan(probs).all(axis=1), None, np.asarray(config.classes, dtype=object)[best])
    return table


def evaluate_cells(table: pd.DataFrame, config: ClassifierConfig, *, region=None) -> pd.DataFrame:
    """The papers' tables over the cells that have a prediction and an IF-derived label."""
    from napari_ifcell.core.classifier_metrics import class_report, marker_report

    if region is not None:
        y, x, h, w = region
        table = table[table["Y_centroid"].between(y, y + h, inclusive="left") & table["X_centroid"].between(x, x + w, inclusive="left")]
    targets = classifier_targets(table, config)
    if config.task == "multiclass":
        scored = (targets >= 0) & table["predicted"].notna().to_numpy()
        truth = table["phenotype"].map(CLASS_OF_PHENOTYPE).to_numpy()[scored]
        return class_report(truth, table["predicted"].to_numpy()[scored], config.classes)
    probs = table[[f"prob_{m}" for m in config.markers]].to_numpy()
    has = ~np.isnan(probs).any(axis=1)
    return marker_report(targets[has], probs[has], config.markers)
