"""Agreement between two sets of labels on the same cells: Cohen's kappa and a confusion
matrix, between the automatic labels and people, or between two people. Counted on class codes
with numpy (the counts line runs this on every review key press); the tests check it against
scikit-learn."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from napari_ifcell.core.review.state import REJECTED, STATUSES

REJECTED_NAME = "rejected"


@dataclass(frozen=True)
class Agreement:
    first: str
    second: str
    n: int
    kappa: float
    confusion: pd.DataFrame  # rows: first's labels, columns: second's

    def summary(self) -> pd.DataFrame:
        accuracy = float(np.trace(self.confusion.to_numpy()) / self.n) if self.n else float("nan")
        return pd.DataFrame(
            [{"first": self.first, "second": self.second, "cells": self.n, "kappa": self.kappa, "agreement": accuracy}]
        )


def agreement(first, second, labels, *, names=("first", "second")) -> Agreement:
    """Kappa and confusion over cells labelled by both. ``first`` / ``second``: codes into
    ``labels`` (a negative code = no label, skipped)."""
    a, b = np.asarray(first), np.asarray(second)
    k = len(labels)
    for codes in (a, b):
        if codes.size and (not np.issubdtype(codes.dtype, np.integer) or codes.max() >= k):
            raise ValueError(f"class codes must be integers below {k} (the number of labels), got {codes.max()}")
    a, b = a.astype(np.int64), b.astype(np.int64)
    both = (a >= 0) & (b >= 0)
    matrix = np.bincount(a[both] * k + b[both], minlength=k * k).reshape(k, k)
    return Agreement(
        names[0], names[1], int(both.sum()), cohen_kappa(matrix), pd.DataFrame(matrix, index=labels, columns=labels)
    )


def cohen_kappa(confusion: np.ndarray) -> float:
    """Cohen's kappa of a confusion matrix (NaN when chance agreement is total or there are no
    cells: kappa is undefined there)."""
    n = confusion.sum()
    if n == 0:
        return float("nan")
    observed = np.trace(confusion) / n
    expected = float(confusion.sum(axis=1) @ confusion.sum(axis=0)) / n**2
    return float((observed - expected) / (1 - expected)) if expected < 1 else float("nan")


def auto_vs_people(state) -> Agreement:
    """The automatic label against the final human decision, over reviewed cells (a
    rejected cell counts as its own category)."""
    reviewed = np.flatnonzero(
        (state.status > STATUSES.index("unreviewed")) & (state.status < STATUSES.index("deleted"))
    )
    rejected = len(state.classes)
    human = np.where(state.status[reviewed] == STATUSES.index("rejected"), rejected, state.label[reviewed])
    return agreement(state.auto[reviewed], human, [*state.classes, REJECTED_NAME], names=("auto", "people"))


def between_reviewers(state, first: str, second: str) -> Agreement:
    """Two reviewers' last decisions on the cells both of them reviewed."""
    a, b = state.by_reviewer.get(first, {}), state.by_reviewer.get(second, {})
    cells = sorted(set(a) & set(b))
    rejected = len(state.classes)

    def code(decision: int) -> int:
        return rejected if decision == REJECTED else decision  # NO_CLASS stays negative: skipped

    return agreement(
        [code(a[c]) for c in cells], [code(b[c]) for c in cells], [*state.classes, REJECTED_NAME], names=(first, second)
    )


def agreement_table(state) -> pd.DataFrame:
    """Auto vs people, and every pair of reviewers who share cells: one row each."""
    rows = [auto_vs_people(state).summary()]
    people = [r for r in state.by_reviewer if state.by_reviewer[r]]
    for i, first in enumerate(people):
        for second in people[i + 1 :]:
            pair = between_reviewers(state, first, second)
            if pair.n:
                rows.append(pair.summary())
    return pd.concat(rows, ignore_index=True)
