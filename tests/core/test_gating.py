"""Gate states, hierarchy and phenotype rules on hand-built cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from napari_ifcell.core.gating import GateError, GateSet, MarkerGate, State, forward, inverse
from napari_ifcell.core.gating.phenotypes import (
    INCONSISTENT,
    OTHER,
    UNKNOWN,
    PhenotypeRule,
    apply_hierarchy,
    phenotype_codes,
)

N, U, P, O = State.NEGATIVE, State.UNCERTAIN, State.POSITIVE, State.OVEREXPOSED


def test_states_at_and_around_each_threshold():
    gate = MarkerGate("CD3e", (100.0, 200.0, 5000.0))
    values = [99.9, 100.0, 100.1, 199.9, 200.0, 4999.0, 5000.0, 60000.0, np.nan]
    assert gate.states(values).tolist() == [N, U, U, U, P, P, O, O, U]


def test_no_uncertain_band_and_no_overexposure():
    gate = MarkerGate("CD20", (300.0, 300.0, math.inf))
    assert gate.states([299, 300, 1e9]).tolist() == [N, P, P]


@pytest.mark.parametrize("transform", ["asinh", "log1p", "linear"])
def test_transforms_invert(transform):
    raw = np.array([0.0, 10.0, 1000.0, 65535.0])
    np.testing.assert_allclose(inverse(forward(raw, transform, 150), transform, 150), raw, atol=1e-6)


def test_invalid_gates_list_every_problem():
    gates = {
        "CD3e": MarkerGate("CD3e", (500.0, 100.0, 5000.0)),
        "CD4": MarkerGate("CD4", (1.0, 2.0), transform="log2"),
        "CD8a": MarkerGate("CD8a", (1.0, 2.0, 3.0), compartment="membrane"),
    }
    with pytest.raises(GateError) as info:
        GateSet(
            gates=gates, hierarchy={"CD4": "CD3e", "CD3e": "CD4"}, phenotypes=[PhenotypeRule("T", pos=("CD3e", "CD99"))]
        ).validate(columns={"CD3e_cell_mean"})
    text = str(info.value)
    for expected in (
        "CD3e: thresholds out of order",
        "CD4: need three thresholds",
        "CD4: unknown transform 'log2'",
        "CD8a: unknown compartment 'membrane'",
        "CD4: unknown marker, no column 'CD4_cell_mean'",
        "hierarchy has a cycle",
        "phenotype 'T': no gate for CD99",
    ):
        assert expected in text, expected
    assert len(info.value.problems) >= 7


def test_hierarchy_flags_child_positive_parent_negative():
    states = {
        "CD45": np.array([P, P, N, U, P], np.int8),
        "CD3e": np.array([P, P, P, P, N], np.int8),
        "CD4": np.array([P, N, N, P, P], np.int8),
    }
    effective, inconsistent = apply_hierarchy(states, {"CD3e": "CD45", "CD4": "CD3e"})
    # cell 2: CD3e+ without CD45; cell 4: CD4+ without CD3e
    assert inconsistent.tolist() == [False, False, True, False, True]
    # cell 3: parent CD45 only uncertain -> CD3e uncertain -> CD4 uncertain too
    assert effective["CD3e"][3] == U and effective["CD4"][3] == U
    assert effective["CD4"][0] == P and states["CD3e"][3] == P  # raw states untouched


def test_phenotype_rules_three_valued():
    rules = [
        PhenotypeRule("CD8 T", pos=("CD3e", "CD8a"), neg=("CD4",)),
        PhenotypeRule("macrophage", anypos=("CD68", "CD163")),
    ]
    states = {
        "CD3e": np.array([P, P, P, N, N, N, U], np.int8),
        "CD8a": np.array([P, P, U, N, N, N, P], np.int8),
        "CD4": np.array([N, P, N, N, N, N, N], np.int8),
        "CD68": np.array([N, N, N, P, N, U, P], np.int8),
        "CD163": np.array([N, N, N, N, N, N, N], np.int8),
    }
    inconsistent = np.array([False] * 6 + [False])
    inconsistent_case = inconsistent.copy()
    codes, names = phenotype_codes(states, inconsistent, rules)
    got = [names[c] for c in codes]
    # 0 CD8 T; 1 CD4+ so not CD8 T, no macrophage marker -> other; 2 CD8a uncertain -> unknown;
    # 3 macrophage; 4 nothing -> other; 5 CD68 uncertain -> unknown; 6 CD3e uncertain leaves the
    # first rule undecided, so the later macrophage rule may not claim the cell
    assert got == ["CD8 T", OTHER, UNKNOWN, "macrophage", OTHER, UNKNOWN, UNKNOWN]
    inconsistent_case[3] = True
    codes, names = phenotype_codes(states, inconsistent_case, rules)
    assert names[codes[3]] == INCONSISTENT


def test_moving_a_gate_records_provenance():
    gate = MarkerGate("CD3e", (1.0, 2.0, 3.0), source="auto")
    moved = gate.moved((1.5, 2.5, 3.5), set_by="pathologist")
    assert moved.source == "manual" and moved.set_by == "pathologist" and moved.set_at
    assert moved.thresholds == (1.5, 2.5, 3.5) and gate.thresholds == (1.0, 2.0, 3.0)
