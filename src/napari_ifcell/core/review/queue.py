"""Which cells to review next: the most uncertain first, N per class, or at random; filtered
by class, review status and region."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from napari_ifcell.core.review.state import final_class

ORDERS = ("uncertainty", "per_class", "random")


def uncertainty(table: pd.DataFrame, gates=None) -> np.ndarray:
    """Per cell in [0, 1], higher = more worth a look: 1 - the model's top probability
    (``prob_<class>`` columns), and for gates, closeness to a marker's gate in display units
    (1 inside the uncertain range, ``exp(-distance / range width)`` outside); the larger wins.
    Without gates, a gated table's ``<marker>_state`` columns still mark uncertain cells (1)."""
    score = np.zeros(len(table))
    probs = table.filter(regex=r"^prob_").to_numpy(float)
    if probs.size:
        score = np.maximum(
            score,
            np.nan_to_num(1.0 - np.nanmax(np.where(np.isnan(probs), -np.inf, probs), axis=1), nan=0.0, posinf=0.0),
        )
    if gates is None:
        states = table.filter(regex=r"_state$")
        if states.shape[1]:
            score = np.maximum(score, (states.to_numpy(object) == "uncertain").any(axis=1).astype(float))
    else:
        from napari_ifcell.core.gating import forward

        for gate in gates.gates.values():
            if gate.column not in table.columns:
                continue
            v = forward(table[gate.column].to_numpy(float), gate.transform, gate.cofactor)
            lo, hi = forward(np.asarray(gate.thresholds[:2], float), gate.transform, gate.cofactor)
            width = max(hi - lo, 1e-6)
            distance = np.where(v < lo, lo - v, np.where(v >= hi, v - hi, 0.0))
            score = np.maximum(score, np.nan_to_num(np.exp(-distance / width), nan=1.0))
    return np.clip(score, 0.0, 1.0)


@dataclass(frozen=True)
class QueueSettings:
    """How a review queue is ordered (the Review widget's fields start from these)."""

    order: str = "uncertainty"  # see ORDERS
    n_per_class: int = 5000  # for order="per_class": at most this many cells of each class


def review_queue(
    table: pd.DataFrame,
    *,
    order: str = QueueSettings.order,
    score=None,
    label=None,
    status=None,
    classes=None,
    statuses=("unreviewed",),
    region=None,
    n_per_class: int = QueueSettings.n_per_class,
    seed: int = 0,
) -> np.ndarray:
    """Cell ids in review order.

    ``label`` / ``status``: per row, the current class name and review status (default the
    table's ``reviewed_class``/``auto_class`` and ``review_status``); ``region``: a
    :class:`~napari_ifcell.io.regions.Region` or level-0 ``(y, x, h, w)``; ``score``: the
    uncertainty per row (see :func:`uncertainty`) for ``order="uncertainty"``.
    """
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}; expected one of {ORDERS}")
    n = len(table)
    # a rejected cell keeps its class here, so a class filter finds it among the rejected
    label = np.asarray(label if label is not None else final_class(table, rejected=False), dtype=object)
    status = np.asarray(
        status if status is not None else table.get("review_status", pd.Series(["unreviewed"] * n)), dtype=object
    )
    keep = np.ones(n, bool)
    if classes:
        keep &= np.isin(label, list(classes))
    if statuses:
        keep &= np.isin(status, list(statuses))
    if region is not None:
        keep &= _in_region(table, region)
    rows = np.flatnonzero(keep)
    rng = np.random.default_rng(seed)
    if order == "uncertainty":
        s = np.asarray(score if score is not None else uncertainty(table), float)[rows]
        rows = rows[np.lexsort((rng.random(len(rows)), -s))]  # ties in random order
    elif order == "random":
        rows = rng.permutation(rows)
    else:  # class by class, N each (Immunocto reviewed 5,000 per class)
        picked = []
        for name in classes or sorted({c for c in label[rows] if isinstance(c, str)}):
            mine = rows[label[rows] == name]
            picked.append(rng.permutation(mine)[:n_per_class])
        rows = np.concatenate(picked) if picked else rows[:0]
    return table["CellID"].to_numpy()[rows]


def _in_region(table: pd.DataFrame, region) -> np.ndarray:
    ys, xs = table["Y_centroid"].to_numpy(float), table["X_centroid"].to_numpy(float)
    if hasattr(region, "contains"):
        return region.contains(ys, xs)
    y, x, h, w = region
    return (ys >= y) & (ys < y + h) & (xs >= x) & (xs < x + w)
