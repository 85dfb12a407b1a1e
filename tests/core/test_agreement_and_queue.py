import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score, confusion_matrix

from napari_ifcell.core.gating import GateSet, MarkerGate
from napari_ifcell.core.review.agreement import agreement, agreement_table, auto_vs_people, between_reviewers
from napari_ifcell.core.review.queue import review_queue, uncertainty
from napari_ifcell.core.review.state import ReviewState
from napari_ifcell.io.regions import Region


def reviewed_state():
    rng = np.random.default_rng(3)
    classes = ("CD4 T", "CD8 T", "B cell", "macrophage", "other")
    auto = rng.choice(classes, 200)
    state = ReviewState.from_auto(np.arange(1, 201), auto)
    for cell in range(1, 121):
        who = "ana" if cell <= 80 else "ben"
        if rng.random() < 0.8:
            state.apply({"op": "review", "action": "approve", "cells": [cell], "who": who})
        else:
            state.apply(
                {"op": "review", "action": "set_class", "cells": [cell], "class": str(rng.choice(classes)), "who": who}
            )
    for cell in range(41, 81):  # ben reviews 40 of ana's cells again, sometimes differently
        name = classes[(cell * 7) % 5] if cell % 3 == 0 else state.classes[state.label[cell - 1]]
        state.apply({"op": "review", "action": "set_class", "cells": [cell], "class": name, "who": "ben"})
    state.apply({"op": "review", "action": "reject", "cells": [5], "who": "ana"})
    return state, auto


def test_kappa_and_confusion_equal_scikit_learn():
    state, auto = reviewed_state()
    a = auto_vs_people(state)
    t = state.table()
    reviewed = t[t.review_status != "unreviewed"]
    people = np.where(reviewed.review_status == "rejected", "rejected", reviewed.reviewed_class)
    labels = [*state.classes, "rejected"]
    assert a.n == 120
    assert a.kappa == pytest.approx(cohen_kappa_score(reviewed.auto_class, people, labels=labels))
    np.testing.assert_array_equal(a.confusion.to_numpy(), confusion_matrix(reviewed.auto_class, people, labels=labels))
    assert 0.5 < a.kappa < 1.0


def test_cells_without_a_label_are_skipped_and_one_category_has_no_kappa():
    rng = np.random.default_rng(5)
    first, second = rng.integers(-1, 4, 500), rng.integers(-1, 4, 500)
    second[:300] = np.where(rng.random(300) < 0.7, first[:300], second[:300])  # some agreement
    a = agreement(first, second, ["w", "x", "y", "z"])
    both = (first >= 0) & (second >= 0)
    assert a.n == both.sum() < 500
    assert a.kappa == pytest.approx(cohen_kappa_score(first[both], second[both]))
    np.testing.assert_array_equal(a.confusion.to_numpy(), confusion_matrix(first[both], second[both]))
    assert np.isnan(agreement([2, 2, -1], [2, 2, 1], ["w", "x", "y"]).kappa)  # chance agreement is total
    assert np.isnan(agreement([-1], [0], ["w"]).kappa) and agreement([-1], [0], ["w"]).n == 0
    with pytest.raises(ValueError, match="below 2"):
        agreement([0], [2], ["x", "y"])


def test_kappa_between_two_reviewers_on_shared_cells():
    state, _ = reviewed_state()
    pair = between_reviewers(state, "ana", "ben")
    shared = sorted(set(state.by_reviewer["ana"]) & set(state.by_reviewer["ben"]))
    assert pair.n == len(shared) == 40
    names = list(state.classes) + ["rejected"]
    ana = [names[state.by_reviewer["ana"][c]] for c in shared]
    ben = [names[state.by_reviewer["ben"][c]] for c in shared]
    assert pair.kappa == pytest.approx(cohen_kappa_score(ana, ben, labels=names))
    table = agreement_table(state)
    assert table[["first", "second"]].values.tolist() == [["auto", "people"], ["ana", "ben"]]


def test_queue_orders_and_filters():
    table = pd.DataFrame(
        {
            "CellID": np.arange(1, 9),
            "Y_centroid": np.arange(8) * 100.0,
            "X_centroid": 50.0,
            "auto_class": ["CD4 T", "CD8 T", "CD4 T", "other", "CD4 T", "other", "B cell", "CD4 T"],
            "review_status": ["unreviewed"] * 7 + ["approved"],
            "prob_a": [0.9, 0.5, 0.6, 0.99, 0.7, 0.55, 0.8, 0.5],
        }
    )
    assert review_queue(table, order="uncertainty", score=uncertainty(table)).tolist() == [2, 6, 3, 5, 7, 1, 4]
    assert review_queue(table, order="per_class", classes=["CD4 T", "other"], n_per_class=2, seed=1).tolist()[2:] in (
        [4, 6],
        [6, 4],
    )
    assert set(review_queue(table, order="per_class", classes=["CD4 T"], n_per_class=2)) <= {1, 3, 5}
    assert sorted(review_queue(table, order="random", statuses=None)) == list(range(1, 9))
    assert review_queue(table, order="random", region=(150, 0, 300, 100)).tolist().__len__() == 3  # rows 2, 3, 4
    assert set(review_queue(table, order="random", region=Region.rectangle("r", 150, 0, 300, 100))) == {3, 4, 5}
    with pytest.raises(ValueError, match="unknown order"):
        review_queue(table, order="size")
    # a rejected cell is found by the class it had ("not a cell" only in exports and the compare truth)
    rejected = table.assign(review_status=["rejected", "unreviewed", "rejected"] + ["unreviewed"] * 5)
    assert sorted(review_queue(rejected, order="random", classes=["CD4 T"], statuses=["rejected"])) == [1, 3]


def test_cells_near_a_gate_are_most_uncertain():
    gate = MarkerGate("CD3e", (1000.0, 2000.0, 60000.0), compartment="cell")
    gates = GateSet(gates={"CD3e": gate})
    table = pd.DataFrame({"CD3e_cell_mean": [100.0, 950.0, 1500.0, 2100.0, 9000.0]})
    score = uncertainty(table, gates)
    assert score[2] == 1.0  # in the uncertain range
    assert score[1] > score[0] and score[3] > score[4] and score[1] < 1.0


def test_without_gates_uncertain_states_count():
    table = pd.DataFrame(
        {"CD3e_state": ["negative", "uncertain", "positive"], "CD4_state": ["negative", "negative", "over-exposed"]}
    )
    assert uncertainty(table).tolist() == [0.0, 1.0, 0.0]
