"""The live gating model: one threshold move updates states, phenotypes, counts and colours."""

import numpy as np
import pandas as pd
import pytest

from napari_ifcell.core.gating import GateSet, MarkerGate, State
from napari_ifcell.core.gating.session import GatingSession

MARKERS = ["CD45", "CD3e", "CD4", "CD8a", "FOXP3", "CD20", "CD68", "CD163"]


@pytest.fixture
def session():
    # cell 1: CD8 T; cell 2: B; cell 4: nothing; cell 7: CD4 T
    values = {m: [100.0, 100.0, 100.0, 100.0] for m in MARKERS}
    values["CD45"] = [5000.0, 5000.0, 100.0, 5000.0]
    values["CD3e"] = [5000.0, 100.0, 100.0, 5000.0]
    values["CD8a"] = [5000.0, 100.0, 100.0, 100.0]
    values["CD4"] = [100.0, 100.0, 100.0, 5000.0]
    values["CD20"] = [100.0, 5000.0, 100.0, 100.0]
    table = pd.DataFrame(
        {
            "CellID": [1, 2, 4, 7],
            "X_centroid": [5.0, 50, 5, 50],
            "Y_centroid": [5.0, 5, 50, 50],
            **{f"{m}_cell_mean": v for m, v in values.items()},
        }
    )
    gates = {m: MarkerGate(m, (500.0, 1000.0, 60000.0)) for m in MARKERS}
    return GatingSession(table, GateSet(gates=gates), suggestions=dict(gates))


def test_phenotypes_and_lookup(session):
    names = session.phenotype_names
    assert [names[c] for c in session.codes] == ["CD8 T", "B cell", "other", "CD4 T"]
    lut = session.label_lookup("phenotype")
    assert lut.size == 9 and lut[0] == 0 and lut[3] == 0
    assert lut[7] == 1 + names.index("CD4 T")
    assert lut[8] == 0  # one entry past the largest id: what labels beyond the table read


def test_a_threshold_move_updates_everything(session):
    lut = session.label_lookup("state", "CD8a")
    assert lut[1] == 1 + State.POSITIVE
    session.set_thresholds("CD8a", (6000.0, 7000.0, 60000.0), set_by="me")
    session.label_lookup("state", "CD8a", out=lut)
    assert lut[1] == 1 + State.NEGATIVE
    assert session.phenotype_counts()["CD8 T"] == 0 and session.phenotype_counts()["other"] == 2
    assert session.state_counts("CD8a").tolist() == [4, 0, 0, 0]
    session.reset("CD8a")
    assert session.phenotype_counts()["CD8 T"] == 1


def test_histogram_and_cells_in_a_box(session):
    counts, edges = session.histogram("CD3e")
    assert counts.sum() == 4 and edges.size == counts.size + 1
    in_box = session.cells_in(0, 0, 20, 100)
    assert in_box.tolist() == [True, True, False, False]
    assert session.histogram("CD3e", in_box)[0].sum() == 2


def test_bad_thresholds_are_refused(session):
    with pytest.raises(ValueError, match="out of order"):
        session.set_thresholds("CD3e", (3.0, 2.0, 1.0))
    assert session.gates.gates["CD3e"].thresholds == (500.0, 1000.0, 60000.0)


def test_moves_that_change_few_cells_give_what_recomputing_every_cell_gives():
    """A move re-derives only the cells whose state changed; over many moves of parents and
    children of the hierarchy, small and large, everything equals a session built afresh."""
    rng = np.random.default_rng(3)
    n = 5000
    table = pd.DataFrame(
        {"CellID": np.arange(1, n + 1) * 2, "X_centroid": rng.uniform(0, 100, n), "Y_centroid": rng.uniform(0, 100, n)}
        | {f"{m}_cell_mean": rng.lognormal(7, 1.2, n) for m in MARKERS}
    )
    live = GatingSession(table, GateSet(gates={m: MarkerGate(m, (800.0, 1500.0, 40000.0)) for m in MARKERS}))
    lut = live.label_lookup("phenotype")
    small, large = 0, 0
    for step in range(40):
        marker = MARKERS[step % len(MARKERS)]
        positive = float(rng.choice([1200.0, 1500.0, 1600.0, 3000.0, 900.0]))
        live.set_thresholds(marker, (positive - 300.0, positive, 40000.0))
        small += live.changed is not None
        large += live.changed is None
        live.label_lookup("phenotype", out=lut, cells=live.changed)
        fresh = GatingSession(table, GateSet(gates=dict(live.gates.gates)))
        np.testing.assert_array_equal(live.codes, fresh.codes)  # hierarchy breaks included ("inconsistent")
        for m in MARKERS:
            np.testing.assert_array_equal(live.states[m], fresh.states[m])
        np.testing.assert_array_equal(lut, fresh.label_lookup("phenotype"))
        assert live.phenotype_counts() == fresh.phenotype_counts()
    assert small >= 10 and large >= 3  # both ways were taken


def test_a_lookup_of_the_wrong_size_is_refilled_for_every_cell(session):
    """Given a table of another size, the lookup is made anew for all cells, not only ``cells``."""
    refilled = session.label_lookup("phenotype", out=np.zeros(3, np.uint8), cells=np.array([0]))
    np.testing.assert_array_equal(refilled, session.label_lookup("phenotype"))
