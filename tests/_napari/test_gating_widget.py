"""The Gating widget in a real viewer: thresholds move, cells and counts follow."""

from __future__ import annotations

import re
import threading
import time

import numpy as np
import pandas as pd
import pytest

from napari_ifcell._napari.gating_widget import GatingWidget
from napari_ifcell._napari.view import camera_of
from napari_ifcell.core.gating import State
from napari_ifcell.io.gate_file import load_gates


@pytest.fixture(scope="module")
def saved_table(small_table, tmp_path_factory):
    """The small pair's cell table on disk, quantified once for the module's viewers."""
    path = tmp_path_factory.mktemp("gating") / "cells.parquet"
    small_table.to_parquet(path)
    return path


def _gating_widget(make_napari_viewer, small_pair):
    viewer = make_napari_viewer()
    widget = GatingWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.if_file.value, widget.labels_file.value = small_pair.if_path, small_pair.labels_path
    return viewer, widget


@pytest.fixture
def quantified(make_napari_viewer, small_pair, tmp_path):
    """The widget after *Quantify cells* (the slide quantified from its nuclei)."""
    viewer, widget = _gating_widget(make_napari_viewer, small_pair)
    widget.table_file.value = tmp_path / "cells.parquet"
    widget.quantify_button.click()
    return viewer, widget, pd.read_csv(small_pair.cells_path)


@pytest.fixture
def gating(make_napari_viewer, small_pair, saved_table):
    """The widget after *Load cell table* (the same table, quantified once per module)."""
    viewer, widget = _gating_widget(make_napari_viewer, small_pair)
    widget.table_file.value = saved_table
    widget.load_button.click()
    return viewer, widget, pd.read_csv(small_pair.cells_path)


def _colour_index_at(layer, cell):
    y, x = int(round(cell["Y_centroid"])), int(round(cell["X_centroid"]))
    data = layer.data[0] if layer.multiscale else layer.data
    return int(np.asarray(data[y : y + 1, x : x + 1])[0, 0])


def test_quantify_adds_a_recolourable_layer_and_saves_the_table(quantified, tmp_path):
    viewer, widget, truth = quantified
    assert (tmp_path / "cells.parquet").is_file()
    assert "cells by gate" in [layer.name for layer in viewer.layers]
    assert widget.session is not None and "CD3e" in widget.session.markers
    assert "CD3e -> CD45" in widget.hierarchy.text()


def test_quantify_measures_the_slide_with_the_pixel_size_typed_in_the_loader(make_napari_viewer, small_pair, tmp_path):
    """Quantify re-opened the file by its path: a pixel size typed in the Loader was lost."""
    from napari_ifcell._napari.loader_widget import LoaderWidget

    viewer = make_napari_viewer()
    loader = LoaderWidget(viewer)
    loader.open_pair(small_pair.if_path, small_pair.he_path, sync=True)
    loader.if_pixel_size.value = 0.5  # the file says 0.325
    widget = GatingWidget(viewer)
    widget.labels_file.value, widget.table_file.value = small_pair.labels_path, tmp_path / "cells.parquet"
    widget.quantify_button.click()
    table = pd.read_parquet(tmp_path / "cells.parquet")
    assert len(table) > 500 and np.allclose(table["X_centroid_um"], table["X_centroid"] * 0.5)


def test_fijis_float_label_image_is_quantified_and_shown(make_napari_viewer, small_pair, tmp_path):
    """Fiji saves label images as 32-bit float: the table was written, then the layer failed
    (a float image cannot be looked up) and gating never started."""
    import tifffile

    labels = tifffile.imread(small_pair.labels_path)
    tifffile.imwrite(tmp_path / "fiji.tif", labels.astype(np.float32), imagej=True)
    viewer = make_napari_viewer()
    widget = GatingWidget(viewer)
    widget.if_file.value, widget.labels_file.value = small_pair.if_path, tmp_path / "fiji.tif"
    widget.table_file.value = tmp_path / "cells.parquet"
    widget.quantify_button.click()
    table = pd.read_parquet(tmp_path / "cells.parquet")
    assert len(table) == len(np.unique(labels)) - 1 > 500
    layer = viewer.layers["cells by gate"]
    data = layer.data[0] if layer.multiscale else layer.data
    assert widget.session is not None and np.issubdtype(np.asarray(data[:8, :8]).dtype, np.integer)


def test_moving_a_threshold_recolours_cells_and_updates_counts(gating):
    viewer, widget, truth = gating
    layer = viewer.layers["cells by gate"]
    widget.marker.setCurrentText("CD20")
    b_cell = truth[(truth["type"] == "B") & ~truth["ambiguous"] & ~truth["overexposed"]].iloc[0]
    assert _colour_index_at(layer, b_cell) == 1 + State.POSITIVE
    before = widget.range_counts.text()
    # the user drags the positive threshold above every cell
    _, edges, _ = widget.session.display_axis("CD20")
    top = float(edges[-1])
    widget.slider.setValue((top - 0.02, top - 0.01, top - 0.005))  # the brightest cell: over-exposed
    assert _colour_index_at(layer, b_cell) in (1 + State.NEGATIVE, 1 + State.UNCERTAIN)
    assert widget.range_counts.text() != before and "positive 0" in widget.range_counts.text()
    assert widget.session.gates.gates["CD20"].source == "manual"
    assert "B cell 0" in widget.phenotypes.text()


def test_colour_by_phenotype(gating):
    viewer, widget, truth = gating
    layer = viewer.layers["cells by gate"]
    widget.colour_by.setCurrentText("phenotype")
    names = widget.session.phenotype_names
    cd8 = truth[(truth["type"] == "CD8 T") & ~truth["ambiguous"] & ~truth["overexposed"]].iloc[0]
    assert _colour_index_at(layer, cd8) == 1 + names.index("CD8 T")
    assert layer.colormap.color_dict[1 + names.index("other")] is not None


def test_small_moves_recolour_the_cells_they_change_as_a_full_refill_would(gating):
    """A drag refills only the changed cells' colours; switching marker or colouring between
    drags must not leave colours of the one shown before."""
    _, widget, _ = gating
    for colouring, marker in [("phenotype", "CD3e"), ("phenotype", "CD8a"), ("marker state", "CD8a")]:
        widget.colour_by.setCurrentText(colouring)
        widget.marker.setCurrentText(marker)
        negative, positive, over = widget.slider.value()
        recoloured = 0
        for step in (0.05, 0.1, -0.2):
            widget.slider.setValue((negative + step - 0.05, positive + step, over))
            assert widget.session.changed is not None  # a small move: the partial path ran
            recoloured += widget.session.changed.size
            mode = "phenotype" if colouring == "phenotype" else "state"
            np.testing.assert_array_equal(widget.lut, widget.session.label_lookup(mode, marker))
        assert recoloured > 0


def test_gates_save_and_load(gating, tmp_path, qtbot):
    viewer, widget, _ = gating
    widget.marker.setCurrentText("CD3e")
    widget.set_thresholds("CD3e", (900.0, 1000.0, 30000.0))
    widget.gates_file.value = tmp_path / "gates.yaml"
    widget.save_button.click()
    assert (tmp_path / "gates.yaml").is_file() and "saved" in widget.status.text()
    widget.set_thresholds("CD3e", (1.0, 2.0, 3.0))
    widget.marker.setCurrentText("CD8a")
    widget.load_gates_button.click()
    assert widget.session.gates.gates["CD3e"].thresholds == (900.0, 1000.0, 30000.0)
    assert widget.marker.currentText() == "CD8a"  # the marker being tuned stays in view
    # a broken gate file is reported and the current gates stay
    (tmp_path / "gates.yaml").write_text("schema_version: 1\ngates: {CD3e: {thresholds: [3, 2, 1]}}\n")
    widget.load_gates_button.click()
    assert "thresholds out of order" in widget.status.text()
    assert widget.session.gates.gates["CD3e"].thresholds == (900.0, 1000.0, 30000.0)
    # scimap's manual_gates.csv loads too: one log1p gate per marker, no uncertain band
    (tmp_path / "manual_gates.csv").write_text("markers,slide\nCD3e,7.0\n")
    widget.gates_file.value = tmp_path / "manual_gates.csv"
    widget.load_gates_button.click()
    assert widget.session.gates.gates["CD3e"].thresholds[:2] == pytest.approx((np.expm1(7.0),) * 2)
    # the CSV is imported, not written back: a moved gate is saved in a gate file beside it
    assert "imported from manual_gates.csv" in widget.status.text()
    assert "Note: hierarchy link(s) CD3e -> CD45 left out" in widget.status.text()  # as the CLI says
    widget.gated_file.value = tmp_path / "gated.parquet"
    widget.set_thresholds("CD3e", (900.0, 1000.0, 30000.0))
    saved_to = widget.gates_file.value
    assert saved_to.suffix == ".yaml"
    qtbot.waitUntil(lambda: saved_to.is_file() and "CD3e" in load_gates(saved_to).gates, timeout=5000)
    qtbot.waitUntil(lambda: load_gates(saved_to).gates["CD3e"].thresholds == (900.0, 1000.0, 30000.0), timeout=5000)
    assert "Error" not in widget.save_status.text() and "Gated table saved" in widget.save_status.text()
    assert (tmp_path / "manual_gates.csv").read_text() == "markers,slide\nCD3e,7.0\n"


def test_histogram_of_cells_in_view(gating, qtbot):
    viewer, widget, _ = gating
    widget.marker.setCurrentText("Pan-CK")
    whole = widget.session.histogram("Pan-CK")[0].sum()
    camera_of(viewer).center = (0, 50, 50)
    camera_of(viewer).zoom = 8
    widget.scope.setCurrentText("cells in view")

    def negatives_shown():
        return int(re.search(r"negative (\d+)", widget.range_counts.text()).group(1))

    in_view = negatives_shown()
    assert in_view < whole
    # panned to other cells, the histogram and counts follow once the view settles (they stayed)
    camera_of(viewer).center = (0, 250, 350)
    there = widget.session.state_counts("Pan-CK", widget._subset())[0]
    assert there != in_view
    qtbot.waitUntil(lambda: negatives_shown() == there, timeout=3000)
    plotted = widget.plot.axes.patches[0].get_data().values.sum()
    assert plotted == widget._subset().sum() < whole


def test_handles_set_out_of_order_are_reported_not_raised(gating):
    """Thresholds that cross (handles set from code) leave the gate as it was and say why."""
    viewer, widget, _ = gating
    widget.marker.setCurrentText("CD3e")
    before = widget.session.gates.gates["CD3e"].thresholds
    negative, positive, over = widget.slider.value()
    widget.slider.setValue((positive, negative, over))  # no exception reaches Qt
    assert widget.session.gates.gates["CD3e"].thresholds == before
    assert "out of order" in widget.status.text()


def test_before_a_table_the_plot_says_what_to_do_and_gating_controls_are_off(make_napari_viewer, small_pair):
    viewer, widget = _gating_widget(make_napari_viewer, small_pair)
    texts = [t.get_text() for t in widget.plot.axes.texts]
    assert any("Quantify cells" in t for t in texts)
    assert not widget.slider.isEnabled() and not any(f.isEnabled() for f in widget.threshold_fields)
    assert not widget.load_gates_button.isEnabled()
    widget.load_gates()  # from a script: nothing to load gates into, said, not raised
    assert "no cell table yet" in widget.status.text()


def test_thresholds_typed_in_raw_intensity_are_used_exactly(gating):
    """The slider's display axis (asinh) and the raw intensities side by side; a typed raw
    value is the threshold, to the digit, and the slider and counts follow."""
    from napari_ifcell.core.gating import forward, inverse

    viewer, widget, _ = gating
    widget.marker.setCurrentText("CD3e")
    gate = widget.session.gates.gates["CD3e"]
    shown = [float(f.text()) if f.text() else np.inf for f in widget.threshold_fields]
    np.testing.assert_allclose(shown, gate.thresholds, rtol=1e-5)
    assert widget.plot.raw_axis is not None  # the top axis is in raw intensity
    before = widget.range_counts.text()
    _, edges, _ = widget.session.display_axis("CD3e")
    low, high = (
        round(float(inverse(edges[0] + f * (edges[-1] - edges[0]), gate.transform, gate.cofactor)), 1)
        for f in (0.3, 0.6)
    )
    negative, positive = widget.threshold_fields[:2]
    negative.setText(str(low))
    positive.setText(str(high))
    positive.editingFinished.emit()
    assert widget.session.gates.gates["CD3e"].thresholds[:2] == (low, high)
    np.testing.assert_allclose(widget.slider.value()[:2], forward([low, high], gate.transform, gate.cofactor))
    assert widget.range_counts.text() != before
    # values too close for a slider handle are told apart in the fields
    positive.setText(str(low + 0.1))
    positive.editingFinished.emit()
    assert [float(f.text()) for f in widget.threshold_fields[:2]] == pytest.approx([low, low + 0.1], abs=1e-9)
    positive.setText(str(low - 10))  # below the negative threshold: said, the gate is kept
    positive.editingFinished.emit()
    assert "out of order" in widget.status.text()
    assert widget.session.gates.gates["CD3e"].thresholds[:2] == (low, low + 0.1)
    positive.setText("abc")  # not a number: the field is named, the gate kept
    positive.editingFinished.emit()
    assert "positive threshold: 'abc' is not a number" in widget.status.text()
    assert widget.session.gates.gates["CD3e"].thresholds[:2] == (low, low + 0.1)


def test_a_table_of_another_segmentation_is_refused_not_gated_on_other_cells(
    make_napari_viewer, small_pair, small_table, tmp_path
):
    """After the slide is segmented again the old table names cells the store no longer has;
    loading it once gated an empty picture without a word."""
    from ..pipeline.review_fixtures import make_project

    make_project(small_pair, small_table, tmp_path)  # a label store of the pair's nuclei
    stale = tmp_path / "stale.parquet"
    small_table.assign(CellID=small_table["CellID"] + 50_000).to_parquet(stale)
    _, widget = _gating_widget(make_napari_viewer, small_pair)
    widget.labels_file.value, widget.table_file.value = tmp_path / "labels", stale
    widget.load_button.click()
    assert widget.session is None
    assert re.search(
        rf"stale.parquet: {len(small_table)} of {len(small_table)} cells .* another segmentation", widget.status.text()
    )
    widget.table_file.value = tmp_path / "cells.parquet"
    small_table.to_parquet(tmp_path / "cells.parquet")
    widget.load_button.click()  # the table of these nuclei loads
    assert widget.session is not None and len(widget.session.table) == len(small_table)


def test_raw_intensity_ticks_do_not_crowd_where_the_transform_compresses(qtbot):
    """asinh squeezes the high raw values together: ticks evenly spaced in raw intensity
    (matplotlib's own) overlapped there ("5000 6000 7000 8000"). The top axis's ticks are
    spread along the display axis instead, and stay readable round numbers."""
    from napari_ifcell._napari.gating_plot import raw_ticks
    from napari_ifcell.core.gating.gates import forward, inverse

    lo, hi = 2.04, 4.55  # the gating screenshot's CD3e, asinh with cofactor 150
    ticks = raw_ticks(lo, hi, lambda v: inverse(v, "asinh", 150.0))
    on_display = np.array([forward(t, "asinh", 150.0) for t in ticks])
    assert len(ticks) >= 4 and np.all(np.diff(on_display) > 0.1 * (hi - lo))
    assert all(float(f"{t:.2g}") == t for t in ticks)
    assert len(raw_ticks(1000.0, 1040.0, lambda v: v)) >= 5  # a narrow range keeps its ticks apart
    from napari_ifcell._napari.gating_plot import HistogramPlot

    plot = HistogramPlot()  # the histogram's top axis uses them
    to_raw = lambda v: inverse(v, "asinh", 150.0)  # noqa: E731
    plot.show(
        np.ones(10),
        np.linspace(lo, hi, 11),
        [3.0, 3.2, 4.4],
        title="CD3e",
        to_raw=to_raw,
        from_raw=lambda r: forward(r, "asinh", 150.0),
    )
    np.testing.assert_allclose(plot.raw_axis.get_xticks(), ticks)


def test_another_slide_in_the_loader_ends_the_gating_of_this_ones_table(
    make_napari_viewer, small_pair, saved_table, tmp_path, qtbot, monkeypatch
):
    """The fields follow the Loader to the new slide's project: the old table's gates, saved as
    they move, would have been written there as the new slide's gated table."""
    import shutil

    from napari_ifcell._napari.loader_widget import LoaderWidget

    for name in ("first.ome.tif", "second.ome.tif"):
        shutil.copy(small_pair.if_path, tmp_path / name)
    viewer = make_napari_viewer()
    loader = LoaderWidget(viewer)
    loader.if_file.value = tmp_path / "first.ome.tif"
    loader.open_button.changed.emit(True)
    widget = GatingWidget(viewer)
    widget.labels_file.value, widget.table_file.value = small_pair.labels_path, saved_table
    widget.load_button.click()
    assert widget.session is not None and widget.thresholds.isEnabled()
    assert {"*.svs", "*.zarr"} <= set(widget.if_file.filter.split())  # its dialog offers every slide kind
    qtbot.waitUntil(lambda: (tmp_path / "first.ifcell" / "gated.parquet").is_file() and not widget.saves.busy)

    # a save still writing an earlier move when the slide changes must not finish over the last
    import napari_ifcell.pipeline.gating as gating_module

    real_save, written, flushing = gating_module.save_gating, [], threading.Event()

    def slow_save(table, gates, **paths):
        thresholds = gates.gates["CD3e"].thresholds
        if thresholds[0] == 800.0:  # the earlier move's write: still writing when the slide changes
            flushing.wait(timeout=5)
            time.sleep(0.3)
        written.append(thresholds)
        return real_save(table, gates, **paths)

    real_flush = widget.saves.flush
    monkeypatch.setattr(widget.saves, "flush", lambda: (flushing.set(), real_flush()))
    monkeypatch.setattr(gating_module, "save_gating", slow_save)
    widget.set_thresholds("CD3e", (800.0, 1000.0, 30000.0))
    assert widget.save_gated(sync=False) is not None  # in a worker, still writing
    widget.set_thresholds("CD3e", (900.0, 1000.0, 30000.0))  # a last move, its save still waiting
    loader.if_file.value = tmp_path / "second.ome.tif"
    loader.open_button.changed.emit(True)
    qtbot.waitUntil(lambda: len(written) == 2 and not widget.saves.busy, timeout=10_000)
    assert written == [(800.0, 1000.0, 30000.0), (900.0, 1000.0, 30000.0)]  # in the order asked
    assert load_gates(tmp_path / "first.ifcell" / "gates.yaml").gates["CD3e"].thresholds == (900.0, 1000.0, 30000.0)
    assert widget.session is None and not widget.thresholds.isEnabled() and widget.marker.count() == 0
    assert "slide changed" in widget.status.text()
    assert not [layer for layer in viewer.layers if layer.name == "cells by gate"]
    assert str(widget.gated_file.value).startswith(str(tmp_path / "second.ifcell"))
    widget.save_gated(sync=True)  # what the save timer would have run after a last move
    assert not (tmp_path / "second.ifcell" / "gated.parquet").exists()


def test_the_notes_the_cli_prints_are_said_in_the_status(make_napari_viewer, small_pair, small_table, tmp_path):
    """A table with cells without a value in a gated column loaded without a word in the tab:
    the CLI said why they are uncertain, the tab only raised a warning napari may not show."""
    table = small_table.copy()
    table.loc[table.index[:7], "CD20_cell_mean"] = np.nan
    table.to_parquet(tmp_path / "holes.parquet")
    _, widget = _gating_widget(make_napari_viewer, small_pair)
    widget.table_file.value = tmp_path / "holes.parquet"
    widget.load_button.click()
    assert widget.session is not None
    assert re.search(r"Note: .*holes.parquet: cells without a value \(NaN\) .*CD20_cell_mean 7", widget.status.text())


def test_quantify_can_be_cancelled_and_its_buttons_are_off_while_it_runs(
    make_napari_viewer, small_pair, tmp_path, qtbot, monkeypatch
):
    """Quantify had no Cancel, and a second click started a second pass writing the same table."""
    from napari_ifcell._napari.workers import SYNC_ENV

    monkeypatch.delenv(SYNC_ENV)
    _, widget = _gating_widget(make_napari_viewer, small_pair)
    widget.table_file.value = tmp_path / "cells.parquet"
    assert not widget.cancel_button.isEnabled()
    widget.quantify_button.click()
    assert not widget.quantify_button.isEnabled() and not widget.load_button.isEnabled()
    assert widget.cancel_button.isEnabled()
    widget.cancel_button.click()
    qtbot.waitUntil(lambda: widget.quantify_button.isEnabled(), timeout=30_000)
    assert widget.status.text() == "Quantify cancelled: no new cell table was written."
    assert not (tmp_path / "cells.parquet").exists() and widget.session is None
    assert not widget.cancel_button.isEnabled()
    widget.quantify_button.click()  # and it runs again to the end
    qtbot.waitUntil(lambda: widget.session is not None, timeout=60_000)
    assert (tmp_path / "cells.parquet").is_file() and widget.load_button.isEnabled()


def test_the_nuclei_field_picks_a_store_folder_or_a_label_image(make_napari_viewer, small_pair, monkeypatch):
    """The Nuclei picker chose folders only, so a label TIFF had to be typed: it has a File...
    button for a label image beside the folder picker (Gating, Classifier and Export alike)."""
    from qtpy.QtWidgets import QFileDialog

    from napari_ifcell._napari.classifier_widget import ClassifierWidget
    from napari_ifcell._napari.export_widget import ExportWidget

    asked = []

    def pick(parent, caption, start, filter):
        asked.append(filter)
        return str(small_pair.labels_path), filter

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(pick))
    viewer = make_napari_viewer()
    for widget in (GatingWidget(viewer), ClassifierWidget(viewer), ExportWidget(viewer)):
        assert widget.labels_file.mode.value == "d"  # its Choose button picks a label store folder
        widget.labels_file.file_button.click()
        assert str(widget.labels_file.value) == str(small_pair.labels_path)
    assert asked == ["Label images (*.tif *.tiff)"] * 3


def test_moving_one_handle_keeps_the_other_thresholds_exactly(gating):
    """The over-exposed limit lies past the brightest cell, where the slider holds it clipped:
    moving the positive handle saved the brightest cell's value as the new limit."""
    _, widget, _ = gating
    widget.marker.setCurrentText("CD20")
    gate = widget.session.gates.gates["CD20"]
    _, edges, _ = widget.session.display_axis("CD20")
    assert widget.thresholds.to_display(gate.thresholds)[2] > edges[-1]  # the case: a limit off the histogram
    negative, positive, over = widget.slider.value()
    widget.slider.setValue((negative, positive + 0.01, over))
    moved = widget.session.gates.gates["CD20"]
    assert moved.thresholds[0] == gate.thresholds[0] and moved.thresholds[2] == gate.thresholds[2]
    assert moved.thresholds[1] > gate.thresholds[1]
