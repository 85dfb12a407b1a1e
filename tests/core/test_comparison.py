import numpy as np
import pandas as pd
import pytest

from napari_ifcell.core.compare.report import OUTCOME_CODES, comparison_counts, comparison_report, score_cells
from napari_ifcell.io.regions import Region


def cells(rows):
    return pd.DataFrame(rows, columns=["y", "x", "class"])


def test_classes_must_agree_and_unknown_truth_is_not_scored():
    px = 0.5
    truth = cells([(0, 0, "lymphocyte"), (0, 40, "other"), (0, 80, None), (0, 120, "lymphocyte")])
    predicted = cells(
        [
            (0, 1, "lymphocyte"),  # TP
            (0, 41, "lymphocyte"),  # on an "other" cell: FP for lymphocyte, and "other" is missed
            (0, 81, "lymphocyte"),  # on a cell without IF label: ignored
            (0, 200, "other"),
        ]
    )  # nothing there: FP
    counts, t_out, p_out = score_cells(truth, predicted, um_per_px=px)
    counts = counts.set_index("class")
    assert counts.loc["lymphocyte", ["tp", "fp", "fn", "ignored"]].tolist() == [1, 1, 1, 1]
    assert counts.loc["other", ["tp", "fp", "fn", "ignored"]].tolist() == [0, 1, 1, 0]
    assert t_out.tolist() == [OUTCOME_CODES["TP"], OUTCOME_CODES["FN"], 0, OUTCOME_CODES["FN"]]
    assert p_out.tolist() == [OUTCOME_CODES["TP"], OUTCOME_CODES["FP"], OUTCOME_CODES["ignored"], OUTCOME_CODES["FP"]]


def test_totals_sum_counts_instead_of_averaging_f1():
    a, b = Region.rectangle("A", 0, 0, 100, 100), Region.rectangle("B", 0, 200, 100, 100)
    truth = cells(
        [(10, 10, "lymphocyte"), (20, 20, "lymphocyte")]
        + [(10 + i * 8, 210, "lymphocyte") for i in range(10)]
        + [(50, 50, "other"), (50, 250, "other")]
    )
    # A: 1 of 2 found; B: all 10 found plus 2 false positives; "other" all found
    predicted = cells(
        [(10, 10, "lymphocyte")]
        + [(10 + i * 8, 210, "lymphocyte") for i in range(10)]
        + [(90, 290, "lymphocyte"), (90, 230, "lymphocyte"), (50, 50, "other"), (50, 250, "other")]
    )
    counts, _ = comparison_counts([a, b], truth, {"m": predicted}, um_per_px=0.325)
    report = comparison_report(counts).set_index("region")
    assert report.loc["A", "n lymphocyte"] == 2 and report.loc["B", "n lymphocyte"] == 10
    assert report.loc["Total", "n lymphocyte"] == 12 and report.loc["Total", "n other"] == 2
    assert report.loc["A", "m lymphocyte P"] == 1.0 and report.loc["A", "m lymphocyte R"] == 0.5
    assert report.loc["B", "m lymphocyte P"] == pytest.approx(10 / 12)
    # total: TP 11, FP 2, FN 1 -> F1 22 / 25, not the mean of the regions' F1
    assert report.loc["Total", "m lymphocyte F1"] == pytest.approx(22 / 25)
    assert report.loc["Total", "m lymphocyte F1"] != pytest.approx(
        (report.loc["A", "m lymphocyte F1"] + report.loc["B", "m lymphocyte F1"]) / 2
    )
    assert report.loc["Total", "m mean F1"] == pytest.approx((22 / 25 + 1.0) / 2)
    assert list(report.index) == ["A", "B", "Total"]


def test_polygon_membership():
    triangle = Region("tri", "polygon", np.array([[0, 0], [0, 100], [100, 0]], float))
    inside = triangle.contains([10, 60, 49, 51, -1], [10, 60, 49, 51, 5])
    assert inside.tolist() == [True, False, True, False, False]


def test_overlapping_regions_count_each_cell_once_in_the_total():
    # B lies inside A: the 10 lymphocytes of B are also A's; the slide has 14 lymphocytes, not 24
    a, b = Region.rectangle("A", 0, 0, 200, 200), Region.rectangle("B", 0, 0, 100, 100)
    truth = cells(
        [(10 + i * 8, 20, "lymphocyte") for i in range(10)] + [(150, 150 + i * 10, "lymphocyte") for i in range(4)]
    )
    # all of B's found, one of the outer four missed, one false positive in B
    predicted = cells(
        [(10 + i * 8, 20, "lymphocyte") for i in range(10)]
        + [(150, 150 + i * 10, "lymphocyte") for i in range(3)]
        + [(50, 80, "lymphocyte")]
    )
    counts, outcomes = comparison_counts([a, b], truth, {"m": predicted}, um_per_px=0.325)
    report = comparison_report(counts).set_index("region")
    assert report.loc["A", "n lymphocyte"] == 14 and report.loc["B", "n lymphocyte"] == 10
    assert report.loc["Total", "n lymphocyte"] == 14
    total = counts[(counts["region"] == "Total") & (counts["class"] == "lymphocyte")].iloc[0]
    assert (total.tp, total.fp, total.fn) == (13, 1, 1)
    assert report.loc["Total", "m lymphocyte F1"] == pytest.approx(26 / 28)
    # each cell has one outcome: the missed one FN, the extra one FP, the rest TP
    truth_codes, predicted_codes = outcomes["m"]
    assert np.bincount(truth_codes, minlength=4)[1:4].tolist() == [13, 0, 1]
    assert np.bincount(predicted_codes, minlength=4)[1:4].tolist() == [13, 1, 0]


def test_agreement_total_counts_each_cell_once():
    from napari_ifcell.core.compare.agreement import model_agreement

    a, b = Region.rectangle("A", 0, 0, 200, 200), Region.rectangle("B", 0, 0, 100, 100)
    first = cells([(10 + i * 8, 20, "lymphocyte") for i in range(10)] + [(150, 150, "other")])
    second = cells([(10 + i * 8, 20, "lymphocyte") for i in range(10)] + [(150, 150, "lymphocyte")])
    table = model_agreement([a, b], {"x": first, "y": second}, um_per_px=0.325).set_index("region")
    assert table.loc["Total", "cells_a"] == 11 and table.loc["Total", "matched"] == 11
    assert table.loc["Total", "same_class"] == 10
    assert list(table.index) == ["A", "B", "Total"]
    from sklearn.metrics import cohen_kappa_score

    first_classes, second_classes = ["lymphocyte"] * 10 + ["other"], ["lymphocyte"] * 11
    assert np.isnan(table.loc["B", "kappa"])  # one class on both sides: undefined
    assert table.loc["Total", "kappa"] == pytest.approx(cohen_kappa_score(first_classes, second_classes))
    from napari_ifcell.core.compare.agreement import _kappa

    rng = np.random.default_rng(1)
    x = rng.choice(["B cell", "T cell", "other"], 300)
    y = np.where(rng.random(300) < 0.6, x, rng.choice(["B cell", "T cell", "tumour"], 300))
    assert _kappa(x, y) == pytest.approx(cohen_kappa_score(x, y)) and 0.3 < _kappa(x, y) < 0.9


def test_total_with_mask_matching_in_some_regions_only():
    # A's model cells have contours (a mask matcher), B's do not (centroid matching): the
    # Total pairs each region's cells the way its own row does
    a, b = Region.rectangle("A", 0, 0, 100, 100), Region.rectangle("B", 0, 200, 100, 100)
    truth = cells([(50, 50, "lymphocyte"), (50, 250, "lymphocyte")])
    predicted = cells([(50, 51, "lymphocyte"), (50, 251, "lymphocyte")])

    def mask_match(t_rows, p_rows):  # rows within region A's cells: its one cell pairs with the one prediction
        return np.array([[0, 0]] if len(t_rows) and len(p_rows) else [], np.int64).reshape(-1, 2)

    counts, _ = comparison_counts(
        [a, b], truth, {"m": predicted}, um_per_px=0.325, iou_matchers={("A", "m"): mask_match}
    )
    rows = counts.set_index(["region", "class"]).loc[:, ["tp", "fp", "fn"]]
    assert rows.loc[("A", "lymphocyte")].tolist() == [1, 0, 0] and rows.loc[("B", "lymphocyte")].tolist() == [1, 0, 0]
    assert rows.loc[("Total", "lymphocyte")].tolist() == [2, 0, 0]


def test_a_region_called_total_is_refused():
    with pytest.raises(ValueError, match="may not be called 'Total'"):
        comparison_counts([Region.rectangle("Total", 0, 0, 10, 10)], cells([]), {}, um_per_px=0.325)
