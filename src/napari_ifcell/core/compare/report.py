"""Region-by-region detection scores of models against the IF truth (Immunocto's Table 3).

A prediction is a true positive for a class when it is matched one-to-one to a true cell of
the same class (centroids within a radius in µm, optimal assignment; or mask IoU > 0.5).
Unmatched predictions are false positives, unmatched true cells false negatives — except that
a prediction sitting on a cell without a usable IF label (uncertain, inconsistent) is not
scored at all, nor, when the truth is only the cells people reviewed (an H&E slide alone), one
farther than the radius from every cell of the truth's segmentation: no one looked there.
A score with nothing to count (no true cell and no call of a class) is NaN, not 0. The Total scores the union of the regions once (a cell in two overlapping
regions counts once) and computes P / R / F1 from its counts, not by averaging regions.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from napari_ifcell.core.compare.matching import match_points
from napari_ifcell.core.compare.type_maps import COMPARISON_CLASSES

OUTCOME_CODES = {"TP": 1, "FP": 2, "FN": 3, "ignored": 4}
COUNT_COLUMNS = ("region", "model", "class", "tp", "fp", "fn", "ignored")


def score_cells(
    truth: pd.DataFrame,
    predicted: pd.DataFrame,
    *,
    um_per_px: float,
    radius_um: float = 3.0,
    classes=COMPARISON_CLASSES,
    iou_match: Callable | None = None,
    truth_complete: bool = True,
):
    """Match one model's cells in one region.

    ``truth`` and ``predicted`` have ``y, x`` (level-0 pixels) and ``class`` (``None``: no
    usable label). ``iou_match(truth_rows, predicted_rows) -> (K, 2) pairs`` replaces the
    centroid matching when given (mask IoU). When both tables have ``CellID`` the model
    classified the truth's own cells, and cells are paired by id. Returns per-class counts and the outcome of every
    true and predicted cell (``OUTCOME_CODES``, 0 = not scored). ``truth_complete=False``
    (the truth names only the cells people decided): a call at none of the truth's cells is
    ignored, not a false positive.
    """
    t_class = truth["class"].to_numpy(object)
    p_class = predicted["class"].to_numpy(object)
    t_um = truth[["y", "x"]].to_numpy(float) * um_per_px
    p_um = predicted[["y", "x"]].to_numpy(float) * um_per_px
    t_out = np.zeros(len(truth), np.int8)
    p_out = np.zeros(len(predicted), np.int8)
    same_cells = "CellID" in truth.columns and "CellID" in predicted.columns

    def pair_up(t_rows, p_rows):
        if same_cells:
            return _pairs_by_id(truth["CellID"].to_numpy()[t_rows], predicted["CellID"].to_numpy()[p_rows])
        if iou_match is not None:
            return iou_match(t_rows, p_rows)
        return match_points(t_um[t_rows], p_um[p_rows], radius_um=radius_um)

    rows = []
    for cls in classes:
        t_rows, p_rows = np.flatnonzero(t_class == cls), np.flatnonzero(p_class == cls)
        pairs = pair_up(t_rows, p_rows)
        matched_t, matched_p = t_rows[pairs[:, 0]], p_rows[pairs[:, 1]]
        t_out[t_rows], p_out[p_rows] = OUTCOME_CODES["FN"], OUTCOME_CODES["FP"]
        t_out[matched_t], p_out[matched_p] = OUTCOME_CODES["TP"], OUTCOME_CODES["TP"]
        rows.append([cls, len(pairs), len(p_rows) - len(pairs), len(t_rows) - len(pairs)])
    # false positives on cells whose IF label is unknown are not held against the model
    unknown = np.flatnonzero(pd.isna(t_class))
    fp = np.flatnonzero(p_out == OUTCOME_CODES["FP"])
    ignored = np.zeros(len(classes), np.int64)
    if len(unknown) and len(fp):
        pairs = (
            _pairs_by_id(truth["CellID"].to_numpy()[unknown], predicted["CellID"].to_numpy()[fp])
            if same_cells
            else match_points(t_um[unknown], p_um[fp], radius_um=radius_um)
        )
        _ignore(fp[pairs[:, 1]], p_out, p_class, classes, ignored)
    fp = np.flatnonzero(p_out == OUTCOME_CODES["FP"])
    if not truth_complete and len(fp):
        from scipy.spatial import cKDTree

        far = np.ones(len(fp), bool)
        if len(t_um):
            far = np.isinf(cKDTree(t_um).query(p_um[fp], distance_upper_bound=radius_um)[0])
        _ignore(fp[far], p_out, p_class, classes, ignored)
    counts = pd.DataFrame(rows, columns=["class", "tp", "fp", "fn"])
    counts["fp"] -= ignored
    counts["ignored"] = ignored
    return counts, t_out, p_out


def _ignore(rows, p_out, p_class, classes, ignored) -> None:
    """Turn the false positives ``rows`` into ignored calls, counted per class."""
    p_out[rows] = OUTCOME_CODES["ignored"]
    for i, cls in enumerate(classes):
        ignored[i] += np.count_nonzero(p_class[rows] == cls)


def _pairs_by_id(truth_ids: np.ndarray, predicted_ids: np.ndarray) -> np.ndarray:
    _, t_pos, p_pos = np.intersect1d(truth_ids, predicted_ids, assume_unique=True, return_indices=True)
    return np.column_stack([t_pos, p_pos]).astype(np.int64)


def check_region_names(regions) -> None:
    """A report has one row per region, by name, and a ``Total`` row over all regions: each
    region needs a name of its own, and none may be called ``Total``."""
    names = [region.name for region in regions]
    if "Total" in names:
        raise ValueError("a region may not be called 'Total': that name is the report's row for all regions")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(
            f"region name(s) {', '.join(map(repr, repeated))} given to more than one region; "
            "each region needs a name of its own (its row in the report)"
        )


def comparison_counts(
    regions,
    truth: pd.DataFrame,
    models: dict[str, pd.DataFrame],
    *,
    um_per_px: float,
    radius_um: float = 3.0,
    classes=COMPARISON_CLASSES,
    iou_matchers: dict | None = None,
    truth_complete: bool = True,
):
    """Score every model in every region, and over the union of the regions (``Total``).

    Returns the long table ``region, model, class, tp, fp, fn, ignored, n_true`` and, per
    model, the outcome codes of all true and predicted cells (0 outside the regions).
    The ``Total`` rows score the cells inside any region once each, so overlapping regions do
    not count a cell twice. ``iou_matchers[(region name, model)]`` switches a pair to mask
    matching (see :func:`score_cells`; rows there are positions within the region's cells).
    """
    check_region_names(regions)
    out = []
    matchers = iou_matchers or {}
    outcomes = {}
    t_inside = [np.flatnonzero(region.contains(truth["y"], truth["x"])) for region in regions]
    t_union = np.unique(np.concatenate(t_inside)) if regions else np.zeros(0, np.int64)
    for name, predicted in models.items():

        def scored(region_name, t_rows, p_rows, matcher, model=name, predicted=predicted):
            counts, t_out, p_out = score_cells(
                truth.iloc[t_rows],
                predicted.iloc[p_rows],
                um_per_px=um_per_px,
                radius_um=radius_um,
                classes=classes,
                iou_match=matcher,
                truth_complete=truth_complete,
            )
            counts.insert(0, "model", model)
            counts.insert(0, "region", region_name)
            t_class = truth["class"].to_numpy(object)[t_rows]
            counts["n_true"] = [int((t_class == cls).sum()) for cls in counts["class"]]
            return counts, t_out, p_out

        p_inside = [np.flatnonzero(region.contains(predicted["y"], predicted["x"])) for region in regions]
        for region, t_in, p_in in zip(regions, t_inside, p_inside):
            out.append(scored(region.name, t_in, p_in, matchers.get((region.name, name)))[0])
        p_union = np.unique(np.concatenate(p_inside)) if regions else np.zeros(0, np.int64)
        union_matcher = None
        if any((region.name, name) in matchers for region in regions):
            union_matcher = _union_matcher(
                regions,
                name,
                matchers,
                (t_inside, p_inside),
                (t_union, p_union),
                truth,
                predicted,
                um_per_px,
                radius_um,
            )
        total, t_out, p_out = scored("Total", t_union, p_union, union_matcher)
        t_codes, p_codes = np.zeros(len(truth), np.int8), np.zeros(len(predicted), np.int8)
        t_codes[t_union], p_codes[p_union] = t_out, p_out
        outcomes[name] = (t_codes, p_codes)
        out.append(total)
    table = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=[*COUNT_COLUMNS, "n_true"])
    order = {name: i for i, name in enumerate([r.name for r in regions] + ["Total"])}
    table = table.sort_values("region", key=lambda s: s.map(order), kind="stable", ignore_index=True)
    return table, outcomes


def _union_matcher(regions, model, matchers, inside, union, truth, predicted, um_per_px, radius_um):
    """A mask matcher over the union of the regions from the regions' own: IoU > 0.5 pairs are
    one-to-one whatever the region, so the union's pairs are the regions' pairs, each once. A
    region without a mask matcher (a model without contours there) pairs by centroid, as its
    own row does."""
    (t_inside, p_inside), (t_union, p_union) = inside, union
    t_um = truth[["y", "x"]].to_numpy(float) * um_per_px
    p_um = predicted[["y", "x"]].to_numpy(float) * um_per_px

    def match(t_rows, p_rows):
        t_global, p_global = t_union[t_rows], p_union[p_rows]
        found: set[tuple[int, int]] = set()
        taken_t: set[int] = set()
        taken_p: set[int] = set()
        for region, t_in, p_in in zip(regions, t_inside, p_inside):
            t_local = np.flatnonzero(np.isin(t_in, t_global))
            p_local = np.flatnonzero(np.isin(p_in, p_global))
            region_match = matchers.get((region.name, model))
            if region_match is None:
                pairs = match_points(t_um[t_in[t_local]], p_um[p_in[p_local]], radius_um=radius_um)
            else:
                pairs = region_match(t_local, p_local)
            for a, b in pairs:
                t_cell, p_cell = int(t_in[t_local[a]]), int(p_in[p_local[b]])
                if t_cell not in taken_t and p_cell not in taken_p:  # one-to-one over the union
                    found.add((t_cell, p_cell))
                    taken_t.add(t_cell)
                    taken_p.add(p_cell)
        t_pos = {cell: i for i, cell in enumerate(t_global.tolist())}
        p_pos = {cell: i for i, cell in enumerate(p_global.tolist())}
        return np.array([[t_pos[a], p_pos[b]] for a, b in sorted(found)], np.int64).reshape(-1, 2)

    return match


def _prf(tp, fp, fn):
    """Precision, recall, F1; NaN where there is nothing to count (no call: no precision; no
    true cell: no recall; neither: no F1), which a 0 would show as a model's failure."""
    tp, fp, fn = (np.asarray(v, float) for v in (tp, fp, fn))
    with np.errstate(invalid="ignore", divide="ignore"):
        return tp / (tp + fp), tp / (tp + fn), 2 * tp / (2 * tp + fp + fn)


def comparison_report(counts: pd.DataFrame, *, focus: str = "lymphocyte") -> pd.DataFrame:
    """One row per region and a ``Total`` row (the union of the regions, each cell once): the
    number of true cells per class, and per model P, R, F1 for ``focus`` and the mean F1 over
    classes. The Total's P / R / F1 come from its counts, not from averaging the regions."""
    both = counts.copy()
    if not (both["region"] == "Total").any():  # counts written before Total was scored on its own
        total = counts.groupby(["model", "class"], sort=False, as_index=False)[
            ["tp", "fp", "fn", "ignored", "n_true"]
        ].sum()
        total.insert(0, "region", "Total")
        both = pd.concat([counts, total], ignore_index=True)
    both["precision"], both["recall"], both["f1"] = _prf(both["tp"], both["fp"], both["fn"])
    rows = []
    for region, part in both.groupby("region", sort=False):
        first = part[part["model"] == part["model"].iloc[0]]
        row = {"region": region, **{f"n {cls}": int(n) for cls, n in zip(first["class"], first["n_true"])}}
        for model, m in part.groupby("model", sort=False):
            f = m[m["class"] == focus].iloc[0]
            row.update(
                {
                    f"{model} {focus} P": f["precision"],
                    f"{model} {focus} R": f["recall"],
                    f"{model} {focus} F1": f["f1"],
                    f"{model} mean F1": float(m["f1"].mean()),  # over the classes that have an F1
                }
            )
        rows.append(row)
    return pd.DataFrame(rows)
