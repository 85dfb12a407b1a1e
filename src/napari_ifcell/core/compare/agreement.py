"""Model-vs-model agreement where there is no truth (an H&E slide nobody has reviewed): per
region and pair of models, how many cells each found, how many match one-to-one by centroid,
and Cohen's kappa of their classes over the matched cells."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from napari_ifcell.core.compare.matching import match_points

AGREEMENT_COLUMNS = ("region", "model_a", "model_b", "cells_a", "cells_b", "matched", "same_class", "kappa")


def model_agreement(regions, models: dict[str, pd.DataFrame], *, um_per_px: float, radius_um: float = 3.0):
    """One row per region and model pair, and a ``Total`` row per pair (counts summed, kappa over
    every matched cell). ``models``: name -> cells with ``y, x`` (level-0 px) and ``class``."""
    if len(models) < 2:
        raise ValueError("model-vs-model agreement needs at least two models")
    rows: list[list] = []
    pooled: dict[tuple[str, str], list] = {}
    for region in regions:
        inside = {name: cells[region.contains(cells["y"], cells["x"])] for name, cells in models.items()}
        for a, b in combinations(models, 2):
            ca, cb = inside[a], inside[b]
            pairs = match_points(
                ca[["y", "x"]].to_numpy(float) * um_per_px,
                cb[["y", "x"]].to_numpy(float) * um_per_px,
                radius_um=radius_um,
            )
            la = ca["class"].to_numpy(object)[pairs[:, 0]].astype(str)
            lb = cb["class"].to_numpy(object)[pairs[:, 1]].astype(str)
            pooled.setdefault((a, b), []).append((la, lb))
            rows.append([region.name, a, b, len(ca), len(cb), len(pairs), int((la == lb).sum()), _kappa(la, lb)])
    for (a, b), parts in pooled.items():
        la, lb = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        mine = [r for r in rows if r[1] == a and r[2] == b]
        rows.append(["Total", a, b, *(sum(r[i] for r in mine) for i in (3, 4, 5, 6)), _kappa(la, lb)])
    return pd.DataFrame(rows, columns=list(AGREEMENT_COLUMNS))


def _kappa(first: np.ndarray, second: np.ndarray) -> float:
    """Cohen's kappa; NaN with fewer than two cells or one class on both sides (undefined)."""
    from sklearn.metrics import cohen_kappa_score

    if len(first) < 2 or len(set(first) | set(second)) < 2:
        return float("nan")
    return float(cohen_kappa_score(first, second))
