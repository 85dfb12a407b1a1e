"""Where a model agrees with the IF-derived truth: TP / FP / FN / TN per cell."""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_ifcell.core.classes import CLASS_GROUPS, CLASS_OF_PHENOTYPE

OUTCOMES = ("TP", "FP", "FN", "TN", "no truth")


def outcomes(truth_positive: np.ndarray, probability: np.ndarray, *, threshold: float = 0.5) -> np.ndarray:
    """Outcome index (see ``OUTCOMES``) per cell; truth may be -1 (unknown) or NaN."""
    truth = np.asarray(truth_positive, dtype=np.float64)
    predicted = np.asarray(probability) >= threshold
    out = np.full(truth.shape, OUTCOMES.index("no truth"), np.int8)
    known = truth >= 0
    pos = known & (truth == 1)
    neg = known & (truth == 0)
    out[pos & predicted] = 0
    out[neg & predicted] = 1
    out[pos & ~predicted] = 2
    out[neg & ~predicted] = 3
    return out


def outcome_counts(codes: np.ndarray) -> dict[str, int]:
    return dict(zip(OUTCOMES, np.bincount(codes, minlength=len(OUTCOMES)).tolist()))


def outcome_scores(counts: dict[str, int]) -> dict[str, float]:
    """Precision, recall and F1 of the positive class from outcome counts (0 where undefined)."""
    tp, fp, fn = counts["TP"], counts["FP"], counts["FN"]
    return {
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
    }


def outcome_targets(config) -> list[str]:
    """What outcomes can be shown for: a multiclass model's classes and the class groups it
    covers (lymphocytes, T cells), or a multitask model's markers."""
    if config.task != "multiclass":
        return list(config.markers)
    groups = [g for g, members in CLASS_GROUPS.items() if set(members) <= set(config.classes)]
    return list(config.classes) + groups


def truth_and_probability(table: pd.DataFrame, config, target: str) -> tuple[np.ndarray, np.ndarray]:
    """Per cell of a predicted table: the IF-derived truth for ``target`` (1 / 0 / -1 unknown)
    and the model's probability (a group's is the sum of its classes')."""
    if config.task == "multiclass":
        members = CLASS_GROUPS.get(target, (target,))
        cls = table["phenotype"].map(CLASS_OF_PHENOTYPE)
        truth = np.where(cls.isna(), -1, cls.isin(members).astype(int))
        prob = table[[f"prob_{m}" for m in members]].sum(axis=1, min_count=1).to_numpy()
    else:
        state = table[f"{target}_state"].to_numpy()
        truth = np.where(state == "positive", 1, np.where(state == "negative", 0, -1))
        prob = table[f"prob_{target}"].to_numpy()
    truth = np.where(np.isnan(prob), -1, truth)
    return truth, prob
