"""The Classifier widget in a real viewer: train, predict where you look, outcomes overlay."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_ifcell._napari.classifier_widget import ClassifierWidget
from napari_ifcell._napari.loader_widget import LoaderWidget
from napari_ifcell._napari.view import camera_of
from napari_ifcell.core.classify.outcomes import (
    OUTCOMES,
    outcome_counts,
    outcome_scores,
    outcomes,
    truth_and_probability,
)

from ..conftest import HE_OFFSET_PX


@pytest.fixture(scope="module")
def prepared(small_pair, small_table, tmp_path_factory):
    """A gated table, a patch data set and a model trained on it, made once for the module."""
    from napari_ifcell.core.classify.model import ClassifierConfig
    from napari_ifcell.core.gating.apply import gated_table
    from napari_ifcell.core.gating.auto import suggested_gateset
    from napari_ifcell.core.steps import run_to_end
    from napari_ifcell.io import open_pair, open_slide
    from napari_ifcell.pipeline.classify import train_on_dataset_steps
    from napari_ifcell.pipeline.dataset import export_dataset
    from napari_ifcell.pipeline.tiling import read_labels

    folder = tmp_path_factory.mktemp("classifier")
    gates, _ = suggested_gateset(small_table)
    table = gated_table(small_table, gates)
    table.to_parquet(folder / "gated.parquet", index=False)
    pair = open_pair(small_pair.if_path, small_pair.he_path, offset_um=tuple(v * 0.325 for v in HE_OFFSET_PX))
    labels = open_slide(small_pair.labels_path)
    export_dataset(
        pair,
        table,
        lambda y, x, h, w: read_labels(labels, y, x, h, w),
        folder / "ds",
        config=ClassifierConfig(epochs=8),
        sampling="natural",
        n=10**6,
    )
    run_to_end(train_on_dataset_steps(folder / "ds", folder / "trained"))
    return folder


def _classifier_widget(make_napari_viewer, small_pair, folder, model_dir):
    viewer = make_napari_viewer()
    loader = LoaderWidget(viewer)
    loader.open_pair(small_pair.if_path, small_pair.he_path)
    loader.offset_y.value, loader.offset_x.value = (v * 0.325 for v in HE_OFFSET_PX)
    w = ClassifierWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.table_file.value, w.labels_file.value = folder / "gated.parquet", small_pair.labels_path
    w.dataset_dir.value, w.model_dir.value = folder / "ds", model_dir
    return viewer, w


@pytest.fixture
def fresh_predictions(small_pair):
    """Predictions are saved in the shared pair's project, and a later prediction adds to them:
    each test starts, and leaves the pair, without any."""
    from napari_ifcell.io.project import Project

    path = Project.for_slide(small_pair.if_path).predictions
    path.unlink(missing_ok=True)
    yield
    path.unlink(missing_ok=True)


@pytest.fixture
def trained_here(make_napari_viewer, small_pair, prepared, tmp_path, fresh_predictions):
    """The widget after *Train* on the module's data set (the model goes to ``tmp_path``)."""
    viewer, w = _classifier_widget(make_napari_viewer, small_pair, prepared, tmp_path / "model")
    w.training.train_button.changed.emit(True)
    return viewer, w, tmp_path


@pytest.fixture
def widget(make_napari_viewer, small_pair, prepared, tmp_path, fresh_predictions):
    """The widget with the module's trained model (no training per test)."""
    viewer, w = _classifier_widget(make_napari_viewer, small_pair, prepared, prepared / "trained")
    return viewer, w, tmp_path


def test_train_predict_and_overlay(trained_here):
    viewer, w, tmp_path = trained_here
    assert (tmp_path / "model" / "weights.pt").is_file() and "Trained" in w.status.value
    assert w.progress.value >= 1
    w.all_button.changed.emit(True)
    assert "Predicted" in w.status.value and w.target.value == "lymphocytes"
    assert all(f.native.isVisibleTo(w.native) for f in (w.target, w.threshold, w.show_tn, w.save_button))
    layer = viewer.layers["classifier vs IF"]
    truth, prob = w.truth_and_probability("lymphocytes")
    # a true lymphocyte the model is confident about is drawn red (TP)
    rows = np.flatnonzero((truth == 1) & (prob > 0.9))
    assert rows.size
    cell = w.table.iloc[rows[0]]
    y, x = int(round(cell.Y_centroid)), int(round(cell.X_centroid))
    data = layer.data[0] if layer.multiscale else layer.data
    assert int(np.asarray(data[y : y + 1, x : x + 1])[0, 0]) == 1 + OUTCOMES.index("TP")
    from napari.utils.colormaps.standardize_color import transform_color

    from napari_ifcell._napari.palette import OUTCOME_COLOURS

    tp = transform_color(OUTCOME_COLOURS["TP"])[0]
    np.testing.assert_allclose(layer.colormap.color_dict[1 + OUTCOMES.index("TP")], tp, atol=0.01)
    assert OUTCOME_COLOURS["FN"] in w.legend.value and "FN" in w.legend.value  # the legend of those colours
    # scored on the cells it did not learn from: the model folder records its train and val cells
    index = pd.read_parquet(w.dataset_dir.value / "index.parquet")
    learnt = w.table["CellID"].isin(index.loc[index["split"].isin(["train", "val"]), "CellID"]).to_numpy()
    assert 0 < learnt.sum() < len(w.table) and (w.unseen == ~learnt).all()
    said = f"{learnt.sum()} of {len(w.table)} predicted cells left out: the model was trained or validated on them"
    assert said in w.metrics.value
    assert (w.lut[w.table["CellID"].to_numpy()[learnt]] == 0).all()  # and they are not drawn as outcomes
    every, _ = truth_and_probability(w.table, w.config, "lymphocytes")
    held_out = outcome_counts(outcomes(every[~learnt], np.nan_to_num(prob[~learnt]), threshold=0.5))
    f1 = float(w.metrics.value.split("F1 ")[1].split(";")[0])
    assert f1 == pytest.approx(outcome_scores(held_out)["f1"], abs=0.001) and f1 > 0.6
    assert outcome_counts(outcomes(every, np.nan_to_num(prob), threshold=0.5))["TP"] > held_out["TP"]
    # another slide opened: the previous one's outcomes, legend and metrics are not shown over it
    w.state.changed.emit("slides")
    assert w.table is None and w.legend.value == "" and w.metrics.value == ""
    assert not any(f.native.isVisibleTo(w.native) for f in (w.target, w.threshold, w.show_tn, w.save_button))


def test_threshold_moves_predicted_positives(widget):
    viewer, w, _ = widget
    w.all_button.changed.emit(True)

    def positives():
        tp = int(w.metrics.value.split("TP ")[1].split(",")[0])
        fp = int(w.metrics.value.split("FP ")[1].split(",")[0])
        return tp + fp

    w.threshold.value = 0.2
    low = positives()
    w.threshold.value = 0.95
    assert positives() < low
    w.show_tn.value = True
    assert (w.lut == 1 + OUTCOMES.index("TN")).any()
    w.save_button.changed.emit(True)
    assert "Metrics saved" in w.status.value


def test_predict_visible_region_only(widget):
    viewer, w, _ = widget
    from napari_ifcell._napari.view import visible_region_px

    camera_of(viewer).center = (0, 60.0, 80.0)
    # about 133 µm across whatever size the canvas was given (in a busy test run it can be larger)
    camera_of(viewer).zoom = 6.0 * max(viewer.canvas.size) / 800
    w.visible_button.changed.emit(True)
    predicted = w.table["predicted"].notna()
    assert 0 < predicted.sum() < len(w.table)
    y, x, h, wd = visible_region_px(viewer, 0.325, (2048, 2048))
    inside = w.table["Y_centroid"].between(y, y + h) & w.table["X_centroid"].between(x, x + wd)
    assert predicted[~inside].sum() <= 0.05 * predicted.sum()  # what is seen, not the slide
    assert f" of {predicted.sum()} predicted cells left out: the model was trained or validated on" in w.metrics.value


def test_a_model_that_learnt_every_cell_in_view_has_nothing_to_score(widget, prepared, tmp_path):
    """Not "F1 0.000": the line says no cell is left to score it on, and why."""
    import shutil

    viewer, w, _ = widget
    shutil.copytree(prepared / "trained", tmp_path / "all")
    table = pd.read_parquet(prepared / "gated.parquet")
    table[["CellID", "X_centroid", "Y_centroid"]].to_parquet(tmp_path / "all" / "learnt_cells.parquet")
    w.model_dir.value = tmp_path / "all"
    w.all_button.changed.emit(True)
    assert "Predicted" in w.status.value, w.status.value
    n = len(table)
    assert w.metrics.value.startswith("lymphocytes: no predicted cell with an IF label left to score")
    assert f"{n} of {n} predicted cells left out" in w.metrics.value and "F1" not in w.metrics.value


def test_training_fields_start_from_the_data_set_and_reach_the_model(widget, prepared, tmp_path):
    import json

    viewer, w, _ = widget
    w.dataset_dir.value = prepared / "ds"
    assert w.training_fields["epochs"].value == 8  # the data set's config, not the class default
    w.training_fields["epochs"].value = 2
    w.training_fields["batch_size"].value = 16
    w.model_dir.value = tmp_path / "quick"
    w.training.train_button.changed.emit(True)
    saved = json.loads((tmp_path / "quick" / "config.json").read_text())["config"]
    assert saved["epochs"] == 2 and saved["batch_size"] == 16
    assert len(json.loads((tmp_path / "quick" / "config.json").read_text())["history"]) <= 2


def test_the_table_is_checked_against_the_store_off_the_gui_thread(widget, qtbot, monkeypatch):
    """Checking the table reads the label store (about a second on a million cells): the GUI
    thread only starts the work, and the predictions still arrive."""
    import threading

    import napari_ifcell.pipeline.classify as classify

    viewer, w, _ = widget
    ran_on = []
    real = classify.load_prediction_inputs

    def recording(*args, **kwargs):
        ran_on.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(classify, "load_prediction_inputs", recording)
    w.predict(visible=False, sync=False)
    assert "Checking the table against the label store" in w.status.value
    qtbot.waitUntil(lambda: "Predicted" in w.status.value or "Error" in w.status.value, timeout=60_000)
    assert "Predicted" in w.status.value, w.status.value
    assert ran_on and ran_on[0] is not threading.main_thread()


def test_training_can_be_cancelled_and_work_buttons_are_off_while_it_runs(
    widget, prepared, tmp_path, qtbot, monkeypatch
):
    """Train and Predict had no Cancel and stayed clickable: two trainings could write one
    model folder, or a prediction start from a model still being written."""
    from napari_ifcell._napari.workers import SYNC_ENV

    monkeypatch.delenv(SYNC_ENV)
    _, w, _ = widget
    w.dataset_dir.value, w.model_dir.value = prepared / "ds", tmp_path / "cancelled"
    w.training_fields["epochs"].value = 1000
    assert not w.cancel_button.enabled
    w.training.train_button.changed.emit(True)
    work_buttons = (w.training.train_button, w.training.export_button, w.visible_button, w.all_button)
    assert not any(b.enabled for b in work_buttons) and w.cancel_button.enabled
    qtbot.waitUntil(lambda: w.progress.value >= 1 or "Error" in w.status.value, timeout=60_000)  # an epoch done
    assert w.progress.value >= 1, w.status.value
    w.cancel_button.changed.emit(True)
    qtbot.waitUntil(lambda: w.all_button.enabled, timeout=60_000)
    assert w.status.value == "Training cancelled; no model was saved."
    assert not (tmp_path / "cancelled" / "weights.pt").exists()
    assert all(b.enabled for b in work_buttons) and not w.cancel_button.enabled
    w.model_dir.value = prepared / "trained"
    w.all_button.changed.emit(True)  # the buttons work again: a prediction runs to its end
    qtbot.waitUntil(lambda: "Predicted" in w.status.value or "Error" in w.status.value, timeout=60_000)
    assert "Predicted" in w.status.value and w.cancel_button.enabled is False
