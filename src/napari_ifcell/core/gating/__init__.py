"""Gating: per-marker gates with four states, the marker hierarchy, phenotype rules,
suggested gates, and a live session that re-gates cells as thresholds move.

This package's names are the scripting API::

    from napari_ifcell.core.gating import suggested_gateset, gated_table
"""

from napari_ifcell.core.gating.apply import GatingResult, apply_gates, gated_table, marker_states
from napari_ifcell.core.gating.auto import suggest_gate, suggest_gates, suggested_gateset
from napari_ifcell.core.gating.gates import (
    GATE_COMPARTMENTS,
    STATE_NAMES,
    TRANSFORMS,
    GateError,
    MarkerGate,
    State,
    forward,
    inverse,
    now_iso,
)
from napari_ifcell.core.gating.gateset import DEFAULT_HIERARCHY, GateSet
from napari_ifcell.core.gating.phenotypes import DEFAULT_PHENOTYPES, PhenotypeRule
from napari_ifcell.core.gating.session import GatingSession

__all__ = [
    "DEFAULT_HIERARCHY",
    "DEFAULT_PHENOTYPES",
    "GATE_COMPARTMENTS",
    "STATE_NAMES",
    "TRANSFORMS",
    "GateError",
    "GateSet",
    "GatingResult",
    "GatingSession",
    "MarkerGate",
    "PhenotypeRule",
    "State",
    "apply_gates",
    "forward",
    "gated_table",
    "inverse",
    "marker_states",
    "now_iso",
    "suggest_gate",
    "suggest_gates",
    "suggested_gateset",
]
