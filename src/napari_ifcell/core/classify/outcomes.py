"""Where a model agrees with the IF-derived truth: TP / FP / FN / TN per cell."""

from __future__ import annotations

import numpy as np

OUTCOMES = ("TP", "FP", "FN", "TN", "no truth")
# After Pochet et al.'s figure 4 (positive predictions red, negative green, the marker of
# interest yellow): a confirmed positive is red, a positive without the marker orange, the
# marker missed yellow, a confirmed negative green.
POCHET_COLOURS = {"TP": "#e41a1c", "FP": "#ff7f00", "FN": "#ffff33", "TN": "#4daf4a", "no truth": "#00000000"}


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
