"""Model-vs-model agreement where there is no truth (an H&E slide nobody has reviewed): per
region and pair of models, how many cells each found, how many match one-to-one by centroid,
and Cohen's kappa of their classes over the matched cells."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from napari_ifcell.core.compare.matching import match_points
from napari_ifcell.core.compare.report import check_region_names

AGREEMENT_COLUMNS = ("region", "model_a", "model_b", "cells_a", "cells_b", "matched", "same_class", "kappa")


def model_agreement(regions, models: dict[str, pd.DataFrame], *, um_per_px: float, radius_um: float = 3.0):
    """One row per region and model pair, and a ``Total`` row per pair over the union of the
    regions (each cell once, kappa over every matched cell). ``models``: name -> cells with
    ``y, x`` (level-0 px) and ``class``."""
    if len(models) < 2:
        raise ValueError("model-vs-model agreement needs at least two models")
    if not regions:
        raise ValueError("no regions to compare in; draw or load at least one")
    check_region_names(regions)
    inside = {name: [region.contains(cells["y"], cells["x"]) for region in regions] for name, cells in models.items()}
    rows: list[list] = []
    for i, region in enumerate(regions):
        for a, b in combinations(models, 2):
            rows.append(
                [region.name, a, b, *_agree(models[a][inside[a][i]], models[b][inside[b][i]], um_per_px, radius_um)]
            )
    for a, b in combinations(models, 2):  # the union of the regions: a cell in two regions counts once
        in_a, in_b = np.logical_or.reduce(inside[a]), np.logical_or.reduce(inside[b])
        rows.append(["Total", a, b, *_agree(models[a][in_a], models[b][in_b], um_per_px, radius_um)])
    return pd.DataFrame(rows, columns=list(AGREEMENT_COLUMNS))


def _agree(ca: pd.DataFrame, cb: pd.DataFrame, um_per_px: float, radius_um: float) -> list:
    pairs = match_points(
        ca[["y", "x"]].to_numpy(float) * um_per_px, cb[["y", "x"]].to_numpy(float) * um_per_px, radius_um=radius_um
    )
    la = ca["class"].to_numpy(object)[pairs[:, 0]].astype(str)
    lb = cb["class"].to_numpy(object)[pairs[:, 1]].astype(str)
    return [len(ca), len(cb), len(pairs), int((la == lb).sum()), _kappa(la, lb)]


def _kappa(first: np.ndarray, second: np.ndarray) -> float:
    """Cohen's kappa; NaN with fewer than two cells or one class on both sides (undefined)."""
    from napari_ifcell.core.review.agreement import agreement

    if len(first) < 2:
        return float("nan")
    names, codes = np.unique(np.concatenate([first, second]), return_inverse=True)
    return agreement(codes[: len(first)], codes[len(first) :], list(names)).kappa
