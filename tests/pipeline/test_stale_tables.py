"""A table quantified from an earlier segmentation is refused where it would be placed on the
store's outlines: predicting (overlay, exports) as well as reviewing and exporting."""

from __future__ import annotations

import pytest

from .review_fixtures import make_project


def test_predicting_a_table_of_another_segmentation_is_refused(small_pair, small_table, tmp_path):
    from napari_ifcell.io.cell_table import write_cell_table
    from napari_ifcell.pipeline.classify import load_prediction_inputs

    make_project(small_pair, small_table, tmp_path)
    stale = write_cell_table(small_table.assign(CellID=small_table["CellID"] + 50_000), tmp_path / "stale.parquet")
    n = len(small_table)
    with pytest.raises(ValueError, match=rf"stale.parquet: {n} of {n} cells .* another segmentation .* quantify again"):
        load_prediction_inputs(stale, tmp_path / "no-model", need_truth=False, store=tmp_path / "labels")
    # the store's own cells pass the check (and the missing model is what is reported next)
    same = write_cell_table(small_table, tmp_path / "same.parquet")
    with pytest.raises(Exception, match="no-model"):
        load_prediction_inputs(same, tmp_path / "no-model", need_truth=False, store=tmp_path / "labels")


def test_cutting_patches_of_a_table_of_another_segmentation_is_refused(small_pair, small_table, tmp_path):
    """The patches' nucleus masks are cut by CellID from the store: a table of other cells would
    give patches with empty masks. The CLI says so in one line (exit 2) and writes nothing."""
    from napari_ifcell.io.cell_table import write_cell_table

    from ..test_cli import run_cli
    from ..test_real_slides import one_line_error

    table, _ = make_project(small_pair, small_table, tmp_path)
    stale = write_cell_table(table.assign(CellID=table["CellID"] + 50_000), tmp_path / "stale.parquet")
    args = ["--if", small_pair.if_path, "--he", small_pair.he_path, "--labels", tmp_path / "labels"]
    done = run_cli("export-dataset", stale, *args, "--out", tmp_path / "patches", "-n", "5")
    one_line_error(done, "stale.parquet", f"{len(table)} of {len(table)} cells", "another segmentation")
    assert not (tmp_path / "patches").exists()


def test_matching_masks_against_a_truth_table_of_another_segmentation_is_refused(small_pair, small_table, tmp_path):
    """Mask IoU matching finds the truth's masks by CellID in the store: a truth table of other
    cells would match nothing and report every true cell as missed."""
    import numpy as np
    import pandas as pd

    from napari_ifcell.io.regions import Region
    from napari_ifcell.pipeline.compare import compare_models, truth_cells

    table, _ = make_project(small_pair, small_table, tmp_path)
    region = Region.rectangle("r", 0, 0, 400, 400)
    predicted = pd.DataFrame({"y": [50.0], "x": [50.0], "class": ["other"], "contour": [np.zeros((3, 2))]})

    def compare(truth):
        return compare_models(
            [region], truth, {"m": predicted}, um_per_px=0.325, match="iou", labels=tmp_path / "labels"
        )

    n = len(table)
    with pytest.raises(ValueError, match=rf"the truth table: {n} of {n} cells .* another segmentation"):
        compare(truth_cells(table.assign(CellID=table["CellID"] + 50_000)))
    report, _, _ = compare(truth_cells(table))  # the store's own cells are compared
    assert len(report)
