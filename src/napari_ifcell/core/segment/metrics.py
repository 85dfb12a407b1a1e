"""Object-level agreement between two label images: one-to-one matches at an IoU cutoff."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DetectionScore:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp + self.fp + self.fn else 1.0


def match_at_iou(predicted: np.ndarray, truth: np.ndarray, *, iou: float = 0.5) -> DetectionScore:
    """Objects matched when their IoU exceeds ``iou`` (>= 0.5 makes matches one-to-one)."""
    pred_ids, _ = iou_pairs(predicted, truth, iou=iou)
    tp = len(pred_ids)
    n_pred = len(np.setdiff1d(np.unique(predicted), [0]))
    n_true = len(np.setdiff1d(np.unique(truth), [0]))
    return DetectionScore(tp, n_pred - tp, n_true - tp)


def iou_pairs(predicted: np.ndarray, truth: np.ndarray, *, iou: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Label ids ``(predicted_ids, truth_ids)`` of the object pairs whose IoU exceeds ``iou``."""
    if iou < 0.5:
        raise ValueError("iou must be >= 0.5 for matches to be one-to-one")
    p = np.asarray(predicted).ravel().astype(np.int64)
    t = np.asarray(truth).ravel().astype(np.int64)
    p_ids, p_area = np.unique(p, return_counts=True)
    t_ids, t_area = np.unique(t, return_counts=True)
    both = (p != 0) & (t != 0)
    pairs, inter = np.unique(np.stack([p[both], t[both]]), axis=1, return_counts=True)
    union = p_area[np.searchsorted(p_ids, pairs[0])] + t_area[np.searchsorted(t_ids, pairs[1])] - inter
    keep = inter / union > iou
    return pairs[0][keep], pairs[1][keep]
