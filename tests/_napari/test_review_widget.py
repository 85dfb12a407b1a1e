"""The Review widget in a real viewer, driven by key presses as a reviewer would."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from napari_ifcell._napari.loader_widget import LoaderWidget
from napari_ifcell._napari.review.widget import ReviewWidget
from napari_ifcell._napari.view import camera_of
from napari_ifcell.io.gate_file import save_gates
from napari_ifcell.io.project import project_folder

from ..pipeline.review_fixtures import make_project
from ..sam_fixtures import tiny_sam


@pytest.fixture
def review(make_napari_viewer, small_pair, small_table, tmp_path, qtbot):
    for path in (small_pair.if_path, small_pair.he_path):
        shutil.copy(path, tmp_path / path.name)
    if_path, he_path = tmp_path / small_pair.if_path.name, tmp_path / small_pair.he_path.name
    project = project_folder(if_path)
    table, gates = make_project(small_pair, small_table, tmp_path, store_folder=project)
    table.to_parquet(tmp_path / "gated.parquet", index=False)
    save_gates(gates, tmp_path / "gates.yaml")
    viewer = make_napari_viewer()
    loader = LoaderWidget(viewer)
    loader.open_pair(if_path, he_path)
    w = ReviewWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.table_file.value, w.gates_file.value = tmp_path / "gated.parquet", tmp_path / "gates.yaml"
    w.open_button.changed.emit(True)
    assert "Error" in w.status.value  # no reviewer name yet
    w.reviewer.value = "ana"
    w.open_button.changed.emit(True)
    assert "Review of" in w.status.value, w.status.value
    return viewer, w, project, table


def press(viewer, qtbot, key, modifier=None):
    from qtpy.QtCore import Qt

    canvas = viewer.window._qt_viewer.canvas.native
    qtbot.keyClick(canvas, key, modifier or Qt.KeyboardModifier.NoModifier)


def test_keys_approve_relabel_step_and_undo(review, qtbot):
    from qtpy.QtCore import Qt

    viewer, w, project, table = review
    # a class filter keeps only cells of that class, N per class
    w.order.value, w.class_filter.value, w.per_class.value = "per_class", "CD8 T", 5
    w.queue_button.changed.emit(True)
    cd8 = set(table.loc[table["phenotype"] == "CD8 T", "CellID"])
    assert len(w.queue) == 5 and set(w.queue.tolist()) <= cd8
    # a named region of the Compare widget's regions layer limits the queue to its cells
    from napari_ifcell._napari.region_layer import regions_layer, set_layer_regions
    from napari_ifcell.io.regions import Region

    set_layer_regions(regions_layer(viewer, 0.325), [Region.rectangle("nest", 100, 200, 300, 400)])
    w.region_filter.reset_choices()
    w.order.value, w.class_filter.value, w.region_filter.value = "random", "any", "nest"
    w.queue_button.changed.emit(True)
    rows = table.set_index("CellID").loc[w.queue]
    assert len(rows) and rows.Y_centroid.between(100, 400).all() and rows.X_centroid.between(200, 600).all()
    w.region_filter.value = "whole slide"
    w.queue_button.changed.emit(True)
    first, second = int(w.queue[0]), int(w.queue[1])
    assert w.current_cell() == first
    row = table.set_index("CellID").loc[first]
    assert np.allclose(camera_of(viewer).center[-2:], (row.Y_centroid * 0.325, row.X_centroid * 0.325))
    assert w.gallery.titles[:2] == ["H&E", "Hoechst"]
    state = w.session.state
    auto_first = state.auto[state.positions([first])[0]]
    shown = w.gallery.pictures[0].pixmap().toImage()
    press(viewer, qtbot, Qt.Key.Key_A)  # approve -> next
    assert w.current_cell() == second
    assert w.gallery.pictures[0].pixmap().toImage() != shown  # the next cell's H&E crop in the same boxes
    centre = table.set_index("CellID").loc[second, ["Y_centroid", "X_centroid"]].to_numpy(float)
    np.testing.assert_allclose(viewer.layers["current cell"].data, [centre])  # the ring moved with the camera
    press(viewer, qtbot, Qt.Key.Key_2)  # CD8 T -> next
    t = w.session.state.table().set_index("CellID")
    if auto_first >= 0:
        assert t.loc[first, "review_status"] == "approved"
    assert t.loc[second, ["reviewed_class", "reviewer"]].tolist() == ["CD8 T", "ana"]
    # the cell is ringed in its class colour, the one the legend shows for CD8 T
    layer = viewer.layers["reviewed cells"]
    y, x = table.set_index("CellID").loc[second, ["Y_centroid", "X_centroid"]]
    at = np.flatnonzero(np.all(np.isclose(layer.data, [y, x]), axis=1))
    assert len(at) == 1
    from napari.utils.colormaps.standardize_color import transform_color

    from napari_ifcell._napari.palette import CLASS_COLOURS

    np.testing.assert_allclose(layer.border_color[at[0], :3], transform_color(CLASS_COLOURS["CD8 T"])[0][:3], atol=0.01)
    assert CLASS_COLOURS["CD8 T"] in w.legend.value and "rejected" in w.legend.value
    press(viewer, qtbot, Qt.Key.Key_Comma)  # back to the second cell
    assert w.current_cell() == second
    press(viewer, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo the class
    assert w.session.state.table().set_index("CellID").loc[second, "review_status"] == "unreviewed"
    assert not np.all(np.isclose(layer.data, [y, x]), axis=1).any()  # its ring is gone too
    # each key press was written to the journal before the next one was handled
    lines = (project / "review" / "journal.jsonl").read_text().splitlines()
    assert [l.split('"op":"')[1].split('"')[0] for l in lines] == ["review", "review", "undo"]
    assert "kappa" in w.counts.value or auto_first < 0


def test_mask_tools_sam_click_and_exports(review, qtbot):
    viewer, w, project, table = review
    w.order.value = "uncertainty"
    w.queue_button.changed.emit(True)
    cell = w.current_cell()
    # the queue starts with the cells closest to a gate
    from napari_ifcell.core.review.queue import uncertainty

    score = pd.Series(uncertainty(table, w.session.gates), index=table["CellID"])
    assert score[cell] == score.max() and score[int(w.queue[-1])] <= score.median()
    n_before = len(w.session.store.index)
    w.split_button.changed.emit(True)
    assert "split" in w.status.value, w.status.value
    assert len(w.session.store.index) == n_before + 1
    # undo and redo cover mask edits as well as decisions (the keys, as a reviewer uses them)
    from qtpy.QtCore import Qt

    press(viewer, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(w.session.store.index) == n_before and w.status.value.startswith("Undone: split"), w.status.value
    press(viewer, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert len(w.session.store.index) == n_before + 1 and w.status.value.startswith("Redone: split")
    # the mask editor: erase the current cell in the edit layer and apply
    w.edit_button.changed.emit(True)
    edit = viewer.layers["cell edit"]
    # the editor takes the keys while painting, and says so; same units as every layer (no popup)
    assert viewer.layers.selection.active is edit and "Apply or Discard" in w.status.value
    assert tuple(str(u) for u in edit.units) == tuple(str(u) for u in viewer.layers["reviewed cells"].units)
    edit.data = np.where(edit.data == cell, 0, edit.data)
    w.apply_button.changed.emit(True)
    assert cell not in w.session.store.index.CellID.tolist()
    assert viewer.layers.selection.active is viewer.layers["reviewed cells"]  # the review keys are back
    position = w.position
    press(viewer, qtbot, Qt.Key.Key_Period)
    assert w.position == position + 1
    w.edit_button.changed.emit(True)
    w.discard_button.changed.emit(True)
    assert "cell edit" not in viewer.layers and viewer.layers.selection.active is viewer.layers["reviewed cells"]
    # paint a missed cell with napari's "new label" (local max + 1, which may be a distant cell's id)
    w.step(+1)
    w.edit_button.changed.emit(True)
    edit = viewer.layers["cell edit"]
    taken = int(w.session.store.index.CellID.min())  # a real cell far from here
    data = np.asarray(edit.data).copy()
    free = np.argwhere(data == 0)
    fy, fx = free[len(free) // 2]
    data[max(fy - 3, 0) : fy + 4, max(fx - 3, 0) : fx + 4][
        data[max(fy - 3, 0) : fy + 4, max(fx - 3, 0) : fx + 4] == 0
    ] = taken
    edit.data = data
    area_taken = int(w.session.store.index.set_index("CellID").loc[taken, "Area"])
    shown = []
    show = w.gallery.show_crops
    w.gallery.show_crops = lambda crops: shown.append(crops) or show(crops)
    w.apply_button.changed.emit(True)
    # this cell lies within 48 px of the slide's edge: its window was cut there and could not be written back
    assert "cells changed (saved)" in w.status.value, w.status.value
    qtbot.waitUntil(lambda: len(shown) >= 1, timeout=10_000)  # the gallery redrawn with the new outlines
    index = w.session.store.index.set_index("CellID")
    assert index.loc[taken, "Area"] == area_taken  # the distant cell is untouched
    newest = int(index.index.max())
    assert w.session.state.table().set_index("CellID").loc[newest, "review_status"] == "corrected"
    w.agreement_button.changed.emit(True)
    assert list(w.agreement.value["columns"]) == ["pair", "cells", "kappa", "agreement"]
    assert w.agreement.value["data"][0][0] == "auto vs people"
    reviewed = w.agreement.value["data"][0][1]
    said = (
        f"over {reviewed} reviewed cells with an automatic label"
        if reviewed
        else "no reviewed cell has an automatic label"
    )
    assert said in w.status.value  # the click shows something where the user looks
    assert list(w.confusion.value["columns"]) == ["CD4 T", "CD8 T", "B cell", "macrophage", "other", "rejected"]
    # SAM point prompt on empty tissue (a tiny random SAM: the code path, not the quality)
    w.sam = tiny_sam()
    w.sam_click.value = True
    labels = np.asarray(w.session.store.levels[0][:])
    free = np.argwhere(labels[200:900, 200:1200] == 0)[0] + 200

    class Click:
        type = "mouse_press"
        position = (free[0] * 0.325, free[1] * 0.325)

    n = len(w.session.store.index)
    w._on_click(viewer, Click())
    assert len(w.session.store.index) == n + 1 and "sam point" in w.status.value, w.status.value
    w.export_button.changed.emit(True)
    exports = project / "exports"
    assert all((exports / name).is_file() for name in ("cells.geojson", "agreement.csv", "agreement_confusion.csv"))
    assert (project / "review" / "state.parquet").is_file()


def test_keys_say_why_they_do_nothing_and_approve_asks_for_a_class(review, qtbot):
    from qtpy.QtCore import Qt

    viewer, w, project, table = review
    press(viewer, qtbot, Qt.Key.Key_A)
    assert "Build queue" in w.status.value, w.status.value  # no queue yet: said, not silent
    w.queue_button.changed.emit(True)
    state = w.session.state
    unlabelled = [c for c in w.queue.tolist() if state.label[state.positions([c])[0]] < 0]
    assert unlabelled, "the gated fixture has cells whose phenotype is not a review class"
    w.position = w.queue.tolist().index(unlabelled[0])
    w._show_current()
    assert "auto no class (none from the gates or a model), now no class: give it one" in w.cell_info.value
    n_events = state.n_events
    press(viewer, qtbot, Qt.Key.Key_A)
    # nothing to approve: the widget asks for the class and records nothing
    assert state.n_events == n_events and w.current_cell() == unlabelled[0]
    assert "no automatic class" in w.status.value and "2 CD8 T" in w.status.value, w.status.value
    press(viewer, qtbot, Qt.Key.Key_2)
    t = w.session.state.table().set_index("CellID")
    assert t.loc[unlabelled[0], ["reviewed_class", "review_status"]].tolist() == ["CD8 T", "corrected"]
    assert "no automatic class" not in w.status.value  # answered: the question does not stay, stale
    # another labels layer selected takes the number keys for its tools: the status says so
    other = viewer.add_labels(np.zeros((8, 8), np.uint8), name="my labels")
    viewer.layers.selection.active = other
    assert "'my labels'" in w.status.value and "reviewed cells" in w.status.value


def test_new_cells_close_the_open_review(review, qtbot):
    """Segmenting again or taking a label image's cells (Segment announces new labels) closes the
    review: keys then say so instead of deciding on cells that may be gone."""
    from qtpy.QtCore import Qt

    from napari_ifcell._napari.state import LABELS
    from napari_ifcell.io.review_store import ReviewFiles

    viewer, w, project, table = review
    w.queue_button.changed.emit(True)
    w.state.announce(LABELS)
    assert w.session is None and "this review was closed (its decisions are saved)" in w.status.value
    press(viewer, qtbot, Qt.Key.Key_2)
    assert "open" in w.status.value.lower(), w.status.value
    other = ReviewFiles(project)  # the session's lock was handed back
    other.lock("bob")
    other.unlock()


def test_open_gallery_and_export_run_off_the_gui_thread(review, qtbot, monkeypatch):
    from qtpy.QtCore import Qt

    from napari_ifcell._napari.workers import SYNC_ENV

    viewer, w, project, table = review
    monkeypatch.delenv(SYNC_ENV)
    w.open_review()  # re-open in a worker: the GUI goes on, keys wait and say so
    assert w.busy == "opening the review"
    press(viewer, qtbot, Qt.Key.Key_Period)
    assert "wait: opening the review" in w.status.value
    qtbot.waitUntil(lambda: not w.busy and w.session is not None, timeout=30_000)
    assert "Review of" in w.status.value, w.status.value
    w.gallery.titles = []
    w.queue_button.changed.emit(True)
    qtbot.waitUntil(lambda: w.gallery.titles[:2] == ["H&E", "Hoechst"], timeout=30_000)
    w.export_button.changed.emit(True)
    qtbot.waitUntil(lambda: w.status.value.startswith("Written:"), timeout=30_000)
    assert (project / "exports" / "reviewed_cells.parquet").is_file()


def test_the_next_cells_view_is_read_ahead_so_drawing_it_decodes_nothing(review, qtbot):
    """While a cell is looked at, a thread reads the next cell's view through the slides' chunk
    caches: the key press's frame then decodes no tile on the GUI thread."""
    import threading

    from qtpy.QtCore import Qt

    viewer, w, _, _ = review
    viewer.window._qt_window.show()  # napari reads what it draws: the window must be drawn
    qtbot.waitExposed(viewer.window._qt_window)
    w.order.value = "random"
    w.queue_button.changed.emit(True)
    for _ in range(2):  # the first cells are read ahead before the canvas is laid out and zoomed in
        press(viewer, qtbot, Qt.Key.Key_Period)
        qtbot.wait(300)
    gui_reads = []

    class Recording:  # the level as decoded by the cache, noting reads on the GUI thread
        def __init__(self, level, name):
            self.level, self.name = level, name

        def __getitem__(self, key):
            if threading.current_thread() is threading.main_thread():
                gui_reads.append(self.name)
            return self.level[key]

    caches = [w.if_slide.cached_levels[0], w.pair.he_slide.cached_levels[0]]
    for cache, name in zip(caches, ("IF", "H&E")):
        cache.array = Recording(cache.array, name)
    for _ in range(4):
        w._reader.submit(lambda: None).result()  # the read-ahead of the next cell is done
        press(viewer, qtbot, Qt.Key.Key_Period)
        qtbot.wait(100)  # the frame at the new place is drawn
    assert gui_reads == []
    for cache in caches:  # the control: with nothing read ahead, drawing the next cell decodes
        cache._kept.clear()
    press(viewer, qtbot, Qt.Key.Key_Period)
    qtbot.wait(100)
    assert "IF" in gui_reads and "H&E" in gui_reads


def test_a_table_chosen_once_a_review_exists_is_said_not_read(review):
    """The review goes on from its first auto labels: another table chosen to start one was
    passed over in silence."""
    viewer, w, project, table = review
    w.open_button.changed.emit(True)
    assert "gated.parquet was not read: the review keeps its first auto labels" in w.status.value, w.status.value
    assert f"move {project / 'review'} away to start anew" in w.status.value
    w.table_file.line_edit.value = ""
    w.open_button.changed.emit(True)
    assert "Review of" in w.status.value and "not read" not in w.status.value, w.status.value
