"""Apply a GateSet to a cell table: marker states, hierarchy, phenotypes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from napari_ifcell.core.gating.gates import STATE_NAMES, State
from napari_ifcell.core.gating.gateset import GateSet
from napari_ifcell.core.gating.phenotypes import apply_hierarchy, phenotype_codes


@dataclass
class GatingResult:
    states: dict[str, np.ndarray]  # raw state per marker (int8, see State)
    effective: dict[str, np.ndarray]  # after the hierarchy
    inconsistent: np.ndarray
    codes: np.ndarray  # phenotype index per cell
    names: list[str]

    @property
    def phenotypes(self) -> np.ndarray:
        return np.asarray(self.names, dtype=object)[self.codes]

    def counts(self) -> dict[str, int]:
        found = np.bincount(self.codes, minlength=len(self.names))
        return {name: int(n) for name, n in zip(self.names, found)}


def marker_states(table: pd.DataFrame, gates: GateSet) -> dict[str, np.ndarray]:
    return {m: g.states(table[g.column].to_numpy()) for m, g in gates.gates.items()}


def apply_gates(table: pd.DataFrame, gates: GateSet) -> GatingResult:
    gates.validate(table.columns)
    states = marker_states(table, gates)
    effective, inconsistent = apply_hierarchy(states, gates.hierarchy)
    codes, names = phenotype_codes(effective, inconsistent, gates.phenotypes)
    return GatingResult(states, effective, inconsistent, codes, names)


def gated_table(table: pd.DataFrame, gates: GateSet, *, result=None) -> pd.DataFrame:
    """``table`` plus ``<marker>_state`` (after the hierarchy), ``inconsistent`` and ``phenotype``;
    ``result``: ``apply_gates(table, gates)`` when the caller has it already."""
    result = apply_gates(table, gates) if result is None else result
    names = np.array([STATE_NAMES[s] for s in State], dtype=object)
    extra = {f"{m}_state": names[s] for m, s in result.effective.items()}
    extra["inconsistent"] = result.inconsistent
    extra["phenotype"] = result.phenotypes
    return pd.concat(
        [table.drop(columns=[c for c in extra if c in table.columns]), pd.DataFrame(extra, index=table.index)], axis=1
    )
