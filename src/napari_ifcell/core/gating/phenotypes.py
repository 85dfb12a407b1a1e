"""Marker hierarchy and phenotype rules over gate states (three-valued logic).

A condition on a marker is true when its state is positive (or negative, for ``neg``
rules), false for the opposite, and undecided when the marker is uncertain or
over-exposed. Rules are tried in order: the first true rule names the cell; an
undecided rule before it makes the cell "unknown"; no rule at all makes it "other".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from napari_ifcell.core.gating.gates import State, parent_order

OTHER, UNKNOWN, INCONSISTENT = "other", "unknown", "inconsistent"


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
        missing = [m for m in self.markers if m not in gates]
        out = [f"phenotype {self.name!r}: no gate for {', '.join(missing)}"] if missing else []
        if not self.markers:
            out.append(f"phenotype {self.name!r}: no markers")
        if self.name in (OTHER, UNKNOWN, INCONSISTENT):
            out.append(f"phenotype name {self.name!r} is reserved")
        return out

    def evaluate(self, pos: dict[str, np.ndarray], neg: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Boolean masks (true, false) per cell from each marker's positive and negative
        masks; cells in neither are undecided."""
        n = len(next(iter(pos.values())))
        true, false = np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
        for markers, yes, no, need_all in (
            (self.pos, pos, neg, True),
            (self.neg, neg, pos, True),
            (self.anypos, pos, neg, False),
            (self.anyneg, neg, pos, False),
        ):
            if not markers:
                continue
            # "all of": true if every marker says yes, false if any says no; "any of": the reverse
            true &= _reduce(np.logical_and if need_all else np.logical_or, [yes[m] for m in markers])
            false |= _reduce(np.logical_or if need_all else np.logical_and, [no[m] for m in markers])
        return true & ~false, false


def _reduce(op, masks: list[np.ndarray]) -> np.ndarray:
    out = masks[0].copy()
    for mask in masks[1:]:
        op(out, mask, out=out)
    return out


DEFAULT_PHENOTYPES = (
    PhenotypeRule("regulatory T", pos=("CD3e", "CD4", "FOXP3")),
    PhenotypeRule("CD4 T", pos=("CD3e", "CD4"), neg=("CD8a", "FOXP3")),
    PhenotypeRule("CD8 T", pos=("CD3e", "CD8a"), neg=("CD4",)),
    PhenotypeRule("B cell", pos=("CD20",), neg=("CD3e",)),
    PhenotypeRule("macrophage", anypos=("CD68", "CD163"), neg=("CD3e", "CD20")),
)


# What other panels call the markers of the default rules (CyCIF, CODEX, IMC, MIBI, Lunaphore
# panels; gene names): compared without case, spaces, dashes or underscores.
MARKER_ALIASES = {
    "CD3e": ("CD3", "CD3E", "CD3epsilon"),
    "CD8a": ("CD8", "CD8A", "CD8alpha"),
    "CD4": (),
    "FOXP3": (),
    "CD20": ("MS4A1",),
    "CD45": ("PTPRC",),
    "CD68": (),
    "CD163": (),
}


def apply_hierarchy(
    states: dict[str, np.ndarray], hierarchy: dict[str, str]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
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
        demote = child_pos & (parent_state != State.POSITIVE)
        if demote.any():
            effective[child] = effective[child].copy()
            effective[child][demote] = State.UNCERTAIN
    return effective, inconsistent


def phenotype_codes(effective: dict[str, np.ndarray], inconsistent: np.ndarray, rules) -> tuple[np.ndarray, list[str]]:
    """Phenotype index per cell and the names: rule names, then other, unknown, inconsistent."""
    names = [r.name for r in rules] + [OTHER, UNKNOWN, INCONSISTENT]
    n = inconsistent.size
    codes = np.full(n, names.index(OTHER), dtype=np.int16)
    open_ = ~inconsistent
    unknown = names.index(UNKNOWN)
    used = {m for rule in rules for m in rule.markers}  # masks only for the markers rules use
    pos = {m: effective[m] == State.POSITIVE for m in used if m in effective}
    neg = {m: effective[m] == State.NEGATIVE for m in used if m in effective}
    for index, rule in enumerate(rules):
        true, false = rule.evaluate(pos, neg)
        np.copyto(codes, index, where=open_ & true)  # copyto: faster than boolean indexing on 1M cells
        np.copyto(codes, unknown, where=open_ & ~(true | false))
        open_ &= false
    codes[inconsistent] = names.index(INCONSISTENT)
    return codes, names
