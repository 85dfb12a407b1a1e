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
