"""Agreement between two sets of labels on the same cells: Cohen's kappa and a confusion
matrix (scikit-learn), between the automatic labels and people, or between two people."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from napari_ifcell.core.review.state import NO_CLASS, REJECTED, STATUSES

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
    """Kappa and confusion over cells labelled by both (``None`` = no label, skipped)."""
    from sklearn.metrics import cohen_kappa_score, confusion_matrix

    a, b = np.asarray(first, dtype=object), np.asarray(second, dtype=object)
    both = np.array([isinstance(x, str) and isinstance(y, str) for x, y in zip(a, b)], bool)
    a, b = a[both], b[both]
    labels = list(labels)
    matrix = confusion_matrix(a, b, labels=labels) if len(a) else np.zeros((len(labels), len(labels)), int)
    kappa = float(cohen_kappa_score(a, b, labels=labels)) if len(a) and len(set(a) | set(b)) > 1 else float("nan")
    return Agreement(names[0], names[1], int(len(a)), kappa, pd.DataFrame(matrix, index=labels, columns=labels))


def auto_vs_people(state) -> Agreement:
    """The automatic label against the final human decision, over reviewed cells (a
    rejected cell counts as its own category)."""
    names = np.asarray((*state.classes, None), dtype=object)
    reviewed = np.flatnonzero(
        (state.status > STATUSES.index("unreviewed")) & (state.status < STATUSES.index("deleted"))
    )
    status, label = state.status[reviewed], state.label[reviewed]
    human = np.where(status == STATUSES.index("rejected"), REJECTED_NAME, names[label])
    return agreement(names[state.auto[reviewed]], human, [*state.classes, REJECTED_NAME], names=("auto", "people"))


def between_reviewers(state, first: str, second: str) -> Agreement:
    """Two reviewers' last decisions on the cells both of them reviewed."""
    a, b = state.by_reviewer.get(first, {}), state.by_reviewer.get(second, {})
    cells = sorted(set(a) & set(b))

    def name(code):
        return REJECTED_NAME if code == REJECTED else (state.classes[code] if code != NO_CLASS else None)

    return agreement(
        [name(a[c]) for c in cells], [name(b[c]) for c in cells], [*state.classes, REJECTED_NAME], names=(first, second)
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
