"""Live gating of a cell table: move a threshold, and states, phenotypes, histograms and
the per-cell colour lookup follow, fast enough for a million cells.

Everything derived is recomputed with array operations over cells; label images are
never touched (the viewer recolours through :meth:`GatingSession.label_lookup`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from napari_ifcell.core.gating.gates import MarkerGate, forward
from napari_ifcell.core.gating.gateset import GateSet
from napari_ifcell.core.gating.phenotypes import apply_hierarchy, phenotype_codes

HISTOGRAM_BINS = 200
INCREMENTAL_SHARE = 0.25  # a move that changes more cells than this recomputes all of them


class GatingSession:
    """Gates of one slide applied to its cell table, kept up to date."""

    def __init__(self, table: pd.DataFrame, gates: GateSet, *, suggestions: dict[str, MarkerGate] | None = None):
        self.table = table
        self.suggestions = dict(suggestions or {})
        self.ids = table["CellID"].to_numpy(np.int64)
        self.xy = table[["X_centroid", "Y_centroid"]].to_numpy(np.float64)
        self.use_gates(gates)

    def use_gates(self, gates: GateSet) -> None:
        """Switch to another GateSet (e.g. loaded from a file), checked against the table."""
        gates.validate(self.table.columns)
        self.gates = gates
        self.values = {m: self.table[g.column].to_numpy(np.float64) for m, g in gates.gates.items()}
        self._display: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.states = {m: g.states(self.values[m]) for m, g in gates.gates.items()}
        self._recompute()
        self.changed: np.ndarray | None = None  # the cells the last change touched (None: any)

    # --- gates ------------------------------------------------------------------------
    @property
    def markers(self) -> list[str]:
        return list(self.gates.gates)

    def set_thresholds(self, marker: str, thresholds, *, set_by: str = "") -> None:
        """Move one marker's thresholds (raw units) and update everything that depends on them."""
        self.changed = None  # until this move is done, say "any cell"
        gate = self.gates.gates[marker].moved(thresholds, set_by=set_by)
        problems = gate.problems()
        if problems:
            raise ValueError("; ".join(problems))
        self.gates.gates[marker] = gate
        self._new_states(marker, gate.states(self.values[marker]))

    def reset(self, marker: str) -> None:
        """Back to the suggested gate, if there is one."""
        if marker in self.suggestions:
            self.gates.gates[marker] = self.suggestions[marker]
            self._new_states(marker, self.suggestions[marker].states(self.values[marker]))

    def set_transform(self, marker: str, transform: str, cofactor: float | None = None) -> None:
        gate = self.gates.gates[marker]
        self.gates.gates[marker] = replace(gate, transform=transform, cofactor=cofactor or gate.cofactor)
        self._display.pop(marker, None)

    def _new_states(self, marker: str, states: np.ndarray) -> None:
        """A cell's phenotype depends on its own states only: a threshold moved a little
        changes a few cells, and only those are worked out again."""
        changed = np.flatnonzero(states != self.states[marker])
        self.states[marker] = states
        if changed.size > INCREMENTAL_SHARE * states.size:
            self._recompute()
            self.changed = None
        else:
            if changed.size:
                self._recompute(changed)
            self.changed = changed

    def _recompute(self, cells: np.ndarray | None = None) -> None:
        """Phenotypes (after the hierarchy) of every cell, or of ``cells`` (indices) only."""
        states = self.states if cells is None else {m: a[cells] for m, a in self.states.items()}
        codes, self.phenotype_names = phenotype_codes(
            *apply_hierarchy(states, self.gates.hierarchy), self.gates.phenotypes
        )
        if cells is None:
            self.codes = codes
        else:
            self.codes[cells] = codes

    # --- what the widget shows ---------------------------------------------------------
    def display_axis(self, marker: str):
        """Transformed values, bin edges and each cell's bin for the marker's histogram."""
        if marker not in self._display:
            gate = self.gates.gates[marker]
            x = forward(self.values[marker], gate.transform, gate.cofactor)
            finite = x[np.isfinite(x)]
            lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
            edges = np.linspace(lo, hi if hi > lo else lo + 1, HISTOGRAM_BINS + 1)
            bins = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, HISTOGRAM_BINS - 1)
            self._display[marker] = (x, edges, bins)
        return self._display[marker]

    def histogram(self, marker: str, subset: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Counts per bin on the transformed axis, and the bin edges."""
        _, edges, bins = self.display_axis(marker)
        chosen = bins if subset is None else bins[subset]
        return np.bincount(chosen, minlength=HISTOGRAM_BINS), edges

    def state_counts(self, marker: str, subset: np.ndarray | None = None) -> np.ndarray:
        """Cells per state (negative, uncertain, positive, over-exposed) of the raw gate."""
        states = self.states[marker] if subset is None else self.states[marker][subset]
        return np.bincount(states, minlength=4)

    def phenotype_counts(self, subset: np.ndarray | None = None) -> dict[str, int]:
        codes = self.codes if subset is None else self.codes[subset]
        return dict(zip(self.phenotype_names, np.bincount(codes, minlength=len(self.phenotype_names)).tolist()))

    def cells_in(self, y0: float, x0: float, y1: float, x1: float) -> np.ndarray:
        """Boolean mask of cells whose centroid lies in a level-0 pixel box."""
        x, y = self.xy[:, 0], self.xy[:, 1]
        return (y >= y0) & (y < y1) & (x >= x0) & (x < x1)

    def label_lookup(
        self, mode: str, marker: str | None = None, out: np.ndarray | None = None, *, cells: np.ndarray | None = None
    ) -> np.ndarray:
        """Per-label colour index: 0 background, else 1 + state (mode "state") or 1 + phenotype.

        Pass ``out`` to update an existing lookup in place (what the viewer layer reads), and
        ``cells`` (e.g. :attr:`changed`) to update only those cells' entries of it.
        """
        size = int(self.ids.max(initial=0)) + 2  # a last 0 for labels beyond the table (see LookupView)
        if out is None or out.size != size:
            out, cells = np.zeros(size, dtype=np.uint8), None  # a new table: every cell's entry
        if mode == "state":
            if marker is None:
                raise ValueError('label_lookup: mode "state" needs a marker')
            values = self.states[marker]
        else:
            values = self.codes
        if cells is None:
            out[self.ids] = values + 1
        else:
            out[self.ids[cells]] = values[cells] + 1
        return out
