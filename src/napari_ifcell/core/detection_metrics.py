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
    if iou < 0.5:
        raise ValueError("iou must be >= 0.5 for matches to be one-to-one")
    p = predicted.ravel().astype(np.int64)
    t = truth.ravel().astype(np.int64)
    p_ids, p_area = np.unique(p, return_counts=True)
    t_ids, t_area = np.unique(t, return_counts=True)
    both = (p != 0) & (t != 0)
    pairs, inter = np.unique(np.stack([p[both], t[both]]), axis=1, return_counts=True)
    union = p_area[np.searchsorted(p_ids, pairs[0])] + t_area[np.searchsorted(t_ids, pairs[1])] - inter
    tp = int(np.count_nonzero(inter / union > iou))
    n_pred, n_true = int(np.count_nonzero(p_ids)), int(np.count_nonzero(t_ids))
    return DetectionScore(tp, n_pred - tp, n_true - tp)
