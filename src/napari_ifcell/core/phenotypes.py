"""Marker hierarchy and phenotype rules over gate states (three-valued logic).

A condition on a marker is true when its state is positive (or negative, for ``neg``
rules), false for the opposite, and undecided when the marker is uncertain or
over-exposed. Rules are tried in order: the first true rule names the cell; an
undecided rule before it makes the cell "unknown"; no rule at all makes it "other".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from napari_ifcell.core.gating import State, parent_order

OTHER, UNKNOWN, INCONSISTENT = "other", "unknown", "inconsistent"
TRUE, FALSE, UNDECIDED = 1, 0, -1


@dataclass(frozen=True)
class PhenotypeRule:
    """One class, as in scimap's phenotype workflow: ``pos`` all positive, ``neg`` all
    negative, ``anypos`` at least one positive, ``anyneg`` at least one negative."""

    name: str
    pos: tuple[str, ...] = ()
    neg: tuple[str, ...] = ()
    anypos: tuple[str, ...] = ()
    anyneg: tuple[str, ...] = ()

    @property
    def markers(self) -> tuple[str, ...]:
        return (*self.pos, *self.neg, *self.anypos, *self.anyneg)

    def problems(self, gates) -> list[str]:
        out = [f"phenotype {self.name!r}: no gate for {m}" for m in self.markers if m not in gates]
        if not self.markers:
            out.append(f"phenotype {self.name!r}: no markers")
        if self.name in (OTHER, UNKNOWN, INCONSISTENT):
            out.append(f"phenotype name {self.name!r} is reserved")
        return out

    def evaluate(self, states: dict[str, np.ndarray]) -> np.ndarray:
        """TRUE / FALSE / UNDECIDED per cell."""
        parts = []
        for markers, want, combine in ((self.pos, State.POSITIVE, "all"), (self.neg, State.NEGATIVE, "all"),
                                       (self.anypos, State.POSITIVE, "any"), (self.anyneg, State.NEGATIVE, "any")):  # fmt: skip
            if markers:
                parts.append(_combine([_condition(states[m], want) for m in markers], combine))
        return _combine(parts, "all")


def _condition(state: np.ndarray, want: State) -> np.ndarray:
    opposite = State.NEGATIVE if want == State.POSITIVE else State.POSITIVE
    return np.where(state == want, TRUE, np.where(state == opposite, FALSE, UNDECIDED)).astype(np.int8)


def _combine(values: list[np.ndarray], how: str) -> np.ndarray:
    stack = np.stack(values)
    if how == "all":
        return np.where((stack == FALSE).any(0), FALSE, np.where((stack == TRUE).all(0), TRUE, UNDECIDED)).astype(np.int8)
    return np.where((stack == TRUE).any(0), TRUE, np.where((stack == FALSE).all(0), FALSE, UNDECIDED)).astype(np.int8)


DEFAULT_PHENOTYPES = (
    PhenotypeRule("regulatory T", pos=("CD3e", "CD4", "FOXP3")),
    PhenotypeRule("CD4 T", pos=("CD3e", "CD4"), neg=("CD8a", "FOXP3")),
    PhenotypeRule("CD8 T", pos=("CD3e", "CD8a"), neg=("CD4",)),
    PhenotypeRule("B cell", pos=("CD20",), neg=("CD3e",)),
    PhenotypeRule("macrophage", anypos=("CD68", "CD163"), neg=("CD3e", "CD20")),
)


def apply_hierarchy(states: dict[str, np.ndarray], hierarchy: dict[str, str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Effective states and the cells that break the hierarchy.

    A cell positive for a child marker but negative for its parent is inconsistent; if
    the parent is only uncertain or over-exposed, the child becomes uncertain too.
    """
    effective = dict(states)
    n = len(next(iter(states.values()))) if states else 0
    inconsistent = np.zeros(n, dtype=bool)
    for child in parent_order(hierarchy):
        parent = hierarchy[child]
        if child not in effective or parent not in effective:
            continue
        child_pos = effective[child] == State.POSITIVE
        parent_state = effective[parent]
        inconsistent |= child_pos & (parent_state == State.NEGATIVE)
        effective[child] = np.where(child_pos & (parent_state != State.POSITIVE), State.UNCERTAIN, effective[child]).astype(np.int8)
    return effective, inconsistent


def phenotype_codes(effective: dict[str, np.ndarray], inconsistent: np.ndarray, rules) -> tuple[np.ndarray, list[str]]:
    """Phenotype index per cell and the names: rule names, then other, unknown, inconsistent."""
    names = [r.name for r in rules] + [OTHER, UNKNOWN, INCONSISTENT]
    n = inconsistent.size
    codes = np.full(n, names.index(OTHER), dtype=np.int16)
    open_ = ~inconsistent
    for index, rule in enumerate(rules):
        verdict = rule.evaluate(effective)
        codes[open_ & (verdict == TRUE)] = index
        codes[open_ & (verdict == UNDECIDED)] = names.index(UNKNOWN)
        open_ &= verdict == FALSE
    codes[inconsistent] = names.index(INCONSISTENT)
    return codes, names
