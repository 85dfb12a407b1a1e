"""The IF + H&E workflow in one viewer, through the widgets' controls only (no CLI, no pipeline
calls): Loader -> Segment visible region -> Gating quantifies that store -> a gate moves and the
gated table is saved -> Classifier exports patches, trains a tiny model and predicts -> Review
with keys (a relabel and an undo) -> Compare in a named region and save the report. Each step
starts from what the previous one wrote: no file is chosen twice."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from napari_ifcell._napari.state import login_name
from napari_ifcell._napari.view import camera_of
from napari_ifcell._napari.workflow_widget import WorkflowWidget
from napari_ifcell.core.classes import CLASSES
from napari_ifcell.io.gate_file import load_gates
from napari_ifcell.io.label_store import LabelStore
from napari_ifcell.io.project import Project


@pytest.fixture
def own_pair(small_pair, tmp_path):
    """A copy of the small pair, so this walk's project folder is its own."""
    for path in (small_pair.if_path, small_pair.he_path):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path / small_pair.if_path.name, tmp_path / small_pair.he_path.name


def _press(viewer, qtbot, key, modifier=None):
    from qtpy.QtCore import Qt

    qtbot.keyClick(viewer.window._qt_viewer.canvas.native, key, modifier or Qt.KeyboardModifier.NoModifier)


def test_if_he_workflow_segment_gate_train_predict_review_compare(make_napari_viewer, own_pair, small_pair, qtbot):
    if_path, he_path = own_pair
    project = Project.for_slide(if_path)
    viewer = make_napari_viewer()
    workflow = WorkflowWidget(viewer)
    viewer.window.add_dock_widget(workflow, name="napari-ifcell")
    loader, segment, gating, classifier = (workflow.steps[n] for n in ("Loader", "Segment", "Gating", "Classifier"))

    # Loader: open the pair; the other steps are filled from it
    loader.if_file.value, loader.he_file.value = if_path, he_path
    loader.open_button.changed.emit(True)
    assert loader.pair is not None, loader.status.value
    loader.offset_y.value, loader.offset_x.value = 0.975, -0.65
    assert segment.if_file.value == if_path and gating.if_file.value == if_path
    assert gating.table_file.value == project.cell_table and gating.gated_file.value == project.gated_table

    # Segment the region in view (the automatic backend: Hoechst watershed)
    workflow.show_step("Segment")
    camera_of(viewer).center = (1100 * 0.325 / 2, 1400 * 0.325 / 2)
    camera_of(viewer).zoom = 1.2
    segment.visible_button.changed.emit(True)
    assert "cells found" in segment.status.value, segment.status.value
    n_segmented = len(LabelStore.open(project.labels).index)
    assert n_segmented > 300
    assert gating.labels_file.value == project.labels  # Gating now points at that store

    # Gating: quantify from the store, move a gate; the gated table follows on disk
    workflow.show_step("Gating")
    gating.quantify_button.click()
    assert gating.session is not None, gating.status.text()
    assert len(pd.read_parquet(project.cell_table)) == n_segmented
    qtbot.waitUntil(lambda: project.gated_table.is_file(), timeout=10_000)
    gating.marker.setCurrentText("CD3e")
    negative, positive, over = gating.slider.value()
    before = gating.session.gates.gates["CD3e"].thresholds
    gating.slider.setValue((negative * 0.8, positive * 0.8, over))  # a user drags two handles down
    moved = gating.session.gates.gates["CD3e"].thresholds
    assert moved[0] < before[0] and moved[1] < before[1]
    qtbot.waitUntil(lambda: tuple(load_gates(project.gates).gates["CD3e"].thresholds) == tuple(moved), timeout=10_000)
    qtbot.waitUntil(lambda: not gating.saves.busy, timeout=10_000)
    assert gating.state.user == login_name()  # the login name until a reviewer is named
    assert load_gates(project.gates).gates["CD3e"].set_by == gating.state.user  # who moved it
    gated = pd.read_parquet(project.gated_table)  # what Classifier, Review and Compare read
    shown = {k: v for k, v in gating.session.phenotype_counts().items() if v}
    assert len(gated) == n_segmented and gated["phenotype"].value_counts().to_dict() == shown
    # after the hierarchy (CD3e under CD45) a cell positive for CD3e alone is not a T cell
    assert 0 < (gated["CD3e_state"] == "positive").sum() <= gating.session.state_counts("CD3e")[2]
    assert "Gated table saved" in gating.save_status.text()

    # Classifier: the gated table and store are filled in; export patches, train, predict
    workflow.show_step("Classifier")
    assert classifier.table_file.value == project.gated_table
    assert classifier.dataset_dir.value == project.dataset and classifier.model_dir.value == project.model()
    classifier.training.n_cells.value = 20
    classifier.training.export_button.changed.emit(True)
    assert "cells exported" in classifier.status.value, classifier.status.value
    index = pd.read_parquet(project.dataset / "index.parquet")
    assert "train" in set(index["split"]) and 20 <= len(index) <= 20 * len(CLASSES)  # up to 20 per class
    classifier.training_fields["epochs"].value = 1
    classifier.training.train_button.changed.emit(True)
    assert "Trained 1 epochs" in classifier.status.value, classifier.status.value
    assert (project.model() / "weights.pt").is_file()
    classifier.all_button.changed.emit(True)
    assert f"Predicted {n_segmented} cells; saved" in classifier.status.value, classifier.status.value
    assert classifier.progress.value == classifier.progress.max == n_segmented  # the bar reached the end
    predicted = pd.read_parquet(project.predictions)
    assert len(predicted) == n_segmented and np.isfinite(predicted.filter(like="prob_").to_numpy()).all()
    assert viewer.layers["classifier vs IF"].visible
    learnt = index["split"].isin(["train", "val"]).sum()  # scored on the other cells only
    said = f"{learnt} of {n_segmented} predicted cells left out: the model was trained or validated on"
    assert said in classifier.metrics.value
    assert predicted["model"].eq(str(project.model().resolve())).all()  # which model predicted each cell
    assert not viewer.layers["cells by gate"].visible  # the earlier step's overlay is hidden, kept

    # Review: starts from the gated table and gates; five cells with keys, a relabel and an undo
    from qtpy.QtCore import Qt

    review, compare = workflow.steps["Review"], workflow.steps["Compare"]
    workflow.show_step("Review")
    assert review.table_file.value == project.gated_table and review.gates_file.value == project.gates
    review.reviewer.value = "ana"
    assert gating.state.user == "ana"  # gates moved from now on are recorded as hers
    review.open_button.changed.emit(True)
    assert "Review of" in review.status.value, review.status.value
    review.order.value = "per_class"  # cells that have an automatic class, so A approves
    review.queue_button.changed.emit(True)
    cells = [int(c) for c in review.queue[:5]]
    for key in (Qt.Key.Key_A, Qt.Key.Key_X, Qt.Key.Key_2, Qt.Key.Key_A, Qt.Key.Key_A):
        _press(viewer, qtbot, key)
    _press(viewer, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo the fifth
    table = review.session.state.table().set_index("CellID")
    assert table.loc[cells[1], "review_status"] == "rejected"
    assert table.loc[cells[2], ["reviewed_class", "reviewer"]].tolist() == [CLASSES[1], "ana"]
    assert table.loc[cells[4], "review_status"] == "unreviewed"
    journal = (project.review / "journal.jsonl").read_text().splitlines()
    assert len(journal) == 6  # every key press saved before the next

    # Compare: a region drawn and named in the widget, our predictions (filled in) against the truth
    workflow.show_step("Compare")
    assert not viewer.layers["classifier vs IF"].visible and "regions" in viewer.layers  # a layer to draw in
    assert compare.ours_file.value == project.predictions and compare.truth_file.value == project.gated_table
    assert compare.held_out.value == project.model()  # ours is not scored on the cells it learnt from
    layer = compare.regions_layer()
    layer.add_rectangles([[40.0, 40.0], [300.0, 400.0]])  # as a user draws it (the layer's slide pixels)
    layer.selected_data = {0}
    compare.region_name.value = "tumour"
    compare.name_button.changed.emit(True)
    compare.save_regions_button.changed.emit(True)
    assert json.loads(project.regions.read_text())  # the file the CLI reads too
    compare.add_ours_button.changed.emit(True)
    compare.compare_button.changed.emit(True)
    assert "ours" in compare.status.value, compare.status.value
    assert "tumour" in set(compare.report["region"])
    left_out = f"truth cells left out, the cells our classifier was trained or validated on ({project.model()})"
    assert left_out in "\n".join(compare.about)
    compare.save_button.changed.emit(True)
    assert "Saved" in compare.status.value, compare.status.value
    assert any(project.exports.glob("*.md")) and any(project.exports.glob("*.csv"))
    # cleared to score every cell, the field stays cleared when predictions come again
    compare.held_out.line_edit.value = ""
    classifier.state.announce("predictions")
    assert compare.held_out.line_edit.value == ""
