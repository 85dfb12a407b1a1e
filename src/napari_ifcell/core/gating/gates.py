"""Per-marker gates with four states: negative, uncertain, positive, over-exposed.

One threshold is not enough (Pochet et al.): cells between background and clearly
positive, and cells so bright they are probably artefacts, stay unlabelled. A gate has
three ordered thresholds, in raw intensity units of its compartment's mean:

    value < t1 -> negative;  t1 <= value < t2 -> uncertain;
    t2 <= value < t3 -> positive;  value >= t3 -> over-exposed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from enum import IntEnum
from typing import cast

import numpy as np

TRANSFORMS = ("asinh", "log1p", "linear")
GATE_COMPARTMENTS = ("nucleus", "cell", "ring")
SOURCES = ("manual", "auto", "scimap")


class State(IntEnum):
    NEGATIVE = 0
    UNCERTAIN = 1
    POSITIVE = 2
    OVEREXPOSED = 3


STATE_NAMES = {s: s.name.lower().replace("overexposed", "over-exposed") for s in State}


def forward(values, transform: str, cofactor: float = 150.0):
    """Display transform (the histogram axis); monotonic, so gates keep their order."""
    values = np.asarray(values, dtype=np.float64)
    if transform == "asinh":
        return np.arcsinh(values / cofactor)
    if transform == "log1p":
        return np.log1p(np.maximum(values, 0))
    if transform == "linear":
        return values
    raise ValueError(f"unknown transform {transform!r}; choose from {TRANSFORMS}")


def inverse(values, transform: str, cofactor: float = 150.0):
    values = np.asarray(values, dtype=np.float64)
    if transform == "asinh":
        return np.sinh(values) * cofactor
    if transform == "log1p":
        return np.expm1(values)
    if transform == "linear":
        return values
    raise ValueError(f"unknown transform {transform!r}; choose from {TRANSFORMS}")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class MarkerGate:
    """Where negative ends and positive begins for one marker, and who said so."""

    marker: str
    thresholds: tuple[float, float, float]
    compartment: str = "cell"
    transform: str = "asinh"
    cofactor: float = 150.0
    source: str = "manual"
    set_by: str = ""
    set_at: str = ""

    @property
    def column(self) -> str:
        """The cell-table column the gate applies to."""
        return f"{self.marker}_{self.compartment}_mean"

    def problems(self) -> list[str]:
        out = []
        t = tuple(self.thresholds)
        if len(t) != 3 or not all(np.isfinite(v) or v == np.inf for v in t):
            out.append(f"{self.marker}: need three thresholds (negative, positive, over-exposed), got {t}")
        elif not t[0] <= t[1] <= t[2]:
            out.append(f"{self.marker}: thresholds out of order {t}; need negative <= positive <= over-exposed")
        if self.compartment not in GATE_COMPARTMENTS:
            out.append(f"{self.marker}: unknown compartment {self.compartment!r}; choose from {GATE_COMPARTMENTS}")
        if self.transform not in TRANSFORMS:
            out.append(f"{self.marker}: unknown transform {self.transform!r}; choose from {TRANSFORMS}")
        if not self.cofactor > 0:
            out.append(f"{self.marker}: cofactor must be > 0, got {self.cofactor}")
        if self.source not in SOURCES:
            out.append(f"{self.marker}: unknown source {self.source!r}; choose from {SOURCES}")
        return out

    def states(self, values: np.ndarray) -> np.ndarray:
        """int8 state per value; NaN (an empty compartment) is uncertain."""
        values = np.asarray(values, dtype=np.float64)
        t1, t2, t3 = self.thresholds
        states = (values >= t1).view(np.int8) + (values >= t2).view(np.int8) + (values >= t3).view(np.int8)
        states[np.isnan(values)] = State.UNCERTAIN
        return states

    def moved(self, thresholds, *, set_by: str = "") -> MarkerGate:
        """A copy with new thresholds, marked as set by hand now.

        The count is not enforced here: a wrong number of thresholds is reported by
        :meth:`problems`, with the others.
        """
        values = cast("tuple[float, float, float]", tuple(float(v) for v in thresholds))
        return replace(self, thresholds=values, source="manual", set_by=set_by, set_at=now_iso())


class GateError(ValueError):
    """Invalid gates; the message lists every problem, and names the file when there is one."""

    def __init__(self, problems: list[str], path=None):
        self.problems = problems
        where = f"{path}: " if path else ""
        super().__init__(f"{where}{len(problems)} problem(s) with the gates:\n  - " + "\n  - ".join(problems))


def parent_order(hierarchy: dict[str, str]) -> list[str]:
    """Children ordered so every parent's effective state is known before its children's."""

    def depth(m):
        d = 0
        while m in hierarchy and d <= len(hierarchy):
            m, d = hierarchy[m], d + 1
        return d

    return sorted(hierarchy, key=depth)
