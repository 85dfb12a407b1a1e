"""The papers' numbers, computed with scikit-learn: per-class precision / recall / F1 with
aggregated rows (Immunocto Table 2), per-marker AUROC and balanced accuracy (Pochet Table 1)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_ifcell.core.classes import CLASS_GROUPS


def class_report(y_true, y_pred, classes, *, aggregates: dict = CLASS_GROUPS) -> pd.DataFrame:
    """One row per class and per aggregate: support, precision, recall, F1.

    An aggregate row scores "in the group" against "not in the group" (a CD4 T called CD8 T
    is a correct lymphocyte).
    """
    from sklearn.metrics import precision_recall_fscore_support

    y_true, y_pred = np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=list(classes), zero_division=0)
    rows = [
        {"class": c, "support": int(n), "precision": a, "recall": b, "f1": g}
        for c, a, b, g, n in zip(classes, p, r, f, s)
    ]
    for name, members in aggregates.items():
        if not set(members) <= set(classes):
            continue
        t, q = np.isin(y_true, members), np.isin(y_pred, members)
        a, b, g, _ = precision_recall_fscore_support(t, q, average="binary", zero_division=0)
        rows.append({"class": name, "support": int(t.sum()), "precision": a, "recall": b, "f1": g})
    return pd.DataFrame(rows)


def marker_report(targets: np.ndarray, probabilities: np.ndarray, markers, *, threshold: float = 0.5) -> pd.DataFrame:
    """Per marker, over cells whose label is known (target 0/1, -1 unknown): AUROC and
    balanced accuracy at ``threshold``, with the positive and negative counts."""
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    rows = []
    for m, marker in enumerate(markers):
        known = targets[:, m] >= 0
        t, prob = targets[known, m].astype(int), probabilities[known, m]
        both = 0 < t.sum() < t.size
        rows.append(
            {
                "marker": marker,
                "positive": int(t.sum()),
                "negative": int((t == 0).sum()),
                "auroc": roc_auc_score(t, prob) if both else np.nan,
                "balanced_accuracy": balanced_accuracy_score(t, prob >= threshold) if both else np.nan,
            }
        )
    return pd.DataFrame(rows)


def save_confusion_figure(y_true, y_pred, classes, path) -> None:
    """Confusion matrix (rows: IF-derived truth, columns: prediction) as a PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from sklearn.metrics import ConfusionMatrixDisplay

    display = ConfusionMatrixDisplay.from_predictions(
        np.asarray(y_true, object), np.asarray(y_pred, object), labels=list(classes), xticks_rotation=45, colorbar=False
    )
    display.figure_.tight_layout()
    display.figure_.savefig(path, dpi=120)


def save_roc_figure(targets, probabilities, markers, path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from sklearn.metrics import RocCurveDisplay

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for m, marker in enumerate(markers):
        known = targets[:, m] >= 0
        if 0 < targets[known, m].sum() < known.sum():
            RocCurveDisplay.from_predictions(targets[known, m], probabilities[known, m], name=marker, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
