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

    @property
    def ap(self) -> float:
        """TP / (TP + FP + FN): the average precision of the nucleus segmentation literature."""
        return self.tp / (self.tp + self.fp + self.fn) if self.tp + self.fp + self.fn else 1.0


def match_at_iou(predicted: np.ndarray, truth: np.ndarray, *, iou: float = 0.5) -> DetectionScore:
    """Objects matched when their IoU exceeds ``iou`` (>= 0.5 makes matches one-to-one)."""
    overlaps = ObjectOverlaps()
    overlaps.add(predicted, truth)
    return overlaps.score(iou)


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


IOU_THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)


class ObjectOverlaps:
    """Areas of every object of two label images and of every overlap between them,
    accumulated tile by tile, so a whole slide is scored without holding it in memory."""

    def __init__(self) -> None:
        self._areas: list[dict] = [{}, {}]  # predicted, truth: id -> pixels
        self._overlaps: dict[tuple[int, int], int] = {}
        self._ious: np.ndarray | None = None

    def add(self, predicted: np.ndarray, truth: np.ndarray) -> None:
        """Count one pair of co-registered tiles (same shape)."""
        if predicted.shape != truth.shape:
            raise ValueError(f"tiles differ in shape: {predicted.shape} vs {truth.shape}")
        self._ious = None
        p = np.asarray(predicted).ravel().astype(np.int64)
        t = np.asarray(truth).ravel().astype(np.int64)
        for side, values in enumerate((p, t)):
            ids, counts = np.unique(values[values != 0], return_counts=True)
            areas = self._areas[side]
            for i, n in zip(ids.tolist(), counts.tolist()):
                areas[i] = areas.get(i, 0) + n
        both = (p != 0) & (t != 0)
        if both.any():
            pairs, counts = np.unique(np.stack([p[both], t[both]]), axis=1, return_counts=True)
            for a, b, n in zip(pairs[0].tolist(), pairs[1].tolist(), counts.tolist()):
                self._overlaps[(a, b)] = self._overlaps.get((a, b), 0) + n

    @property
    def n_predicted(self) -> int:
        return len(self._areas[0])

    @property
    def n_truth(self) -> int:
        return len(self._areas[1])

    def ious(self) -> np.ndarray:
        """IoU of every overlapping pair."""
        if self._ious is None:
            pred, truth = self._areas
            pairs = self._overlaps.items()
            self._ious = np.array([n / (pred[a] + truth[b] - n) for (a, b), n in pairs], dtype=np.float64)
        return self._ious

    def score(self, iou: float) -> DetectionScore:
        """One-to-one matches at IoU above ``iou`` (>= 0.5, so each object matches at most once)."""
        if iou < 0.5:
            raise ValueError("iou must be >= 0.5 for matches to be one-to-one")
        tp = int(np.sum(self.ious() > iou))
        return DetectionScore(tp, self.n_predicted - tp, self.n_truth - tp)


def score_table(overlaps: ObjectOverlaps, ious=IOU_THRESHOLDS):
    """One row per IoU threshold: TP, FP, FN, precision, recall, F1 and AP."""
    import pandas as pd

    rows = []
    for iou in ious:
        s = overlaps.score(iou)
        rows.append(
            {
                "iou": iou,
                "tp": s.tp,
                "fp": s.fp,
                "fn": s.fn,
                "precision": s.precision,
                "recall": s.recall,
                "f1": s.f1,
                "ap": s.ap,
            }
        )
    return pd.DataFrame(rows)
