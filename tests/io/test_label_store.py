"""The on-disk label store: unique ids across runs, replacement, display levels, reopening."""

from __future__ import annotations

import numpy as np
import pytest

from napari_ifcell.io.label_store import LabelStore
from napari_ifcell.io.project import project_folder


def _square(shape, y, x, size=6, value=1):
    out = np.zeros(shape, np.int64)
    out[y : y + size, x : x + size] = value
    return out


def test_create_paint_reopen(tmp_path):
    store = LabelStore.create(tmp_path / "s", (3000, 2500), pixel_size_um=0.325)
    assert len(store.levels) == 3 and store.levels[2].shape == (750, 625)
    ids = store.new_ids(2)
    tile = _square((100, 100), 10, 10, value=ids[0]) + _square((100, 100), 50, 60, value=ids[1])
    assert store.paint(tile, (2000, 1000), run=1) == 2
    store.commit()
    again = LabelStore.open(tmp_path / "s")
    assert again.read(2010, 1010, 2, 2).tolist() == [[ids[0]] * 2] * 2
    assert again.levels[1][1005, 505] == ids[0]  # display level follows
    assert set(again.index.CellID) == set(ids) and again.index.Area.tolist() == [36, 36]
    assert again.new_ids(1)[0] == ids[-1] + 1  # ids never reused after reopening


def test_clearing_a_region_removes_whole_cells_only_there(tmp_path):
    store = LabelStore.create(tmp_path / "s", (400, 400), pixel_size_um=0.5)
    a, b = store.new_ids(2)
    store.paint(_square((400, 400), 96, 96, 10, a) + _square((400, 400), 300, 300, 10, b), (0, 0), run=1)
    removed = store.clear_cells((0, 0, 200, 200))
    assert removed.tolist() == [a]
    assert not (store.read(0, 0, 400, 400) == a).any() and (store.read(0, 0, 400, 400) == b).sum() == 100
    assert store.index.CellID.tolist() == [b]


def test_painting_never_overwrites_existing_cells(tmp_path):
    store = LabelStore.create(tmp_path / "s", (100, 100), pixel_size_um=0.5)
    a, b = store.new_ids(2)
    store.paint(_square((100, 100), 10, 10, 10, a), (0, 0), run=1)
    store.paint(_square((100, 100), 15, 15, 10, b), (0, 0), run=2)
    window = store.read(0, 0, 100, 100)
    assert (window == a).sum() == 100 and (window == b).sum() == 100 - 25
    assert int(store.index.set_index("CellID").loc[b, "Area"]) == 75


def test_shape_mismatch_and_double_create(tmp_path):
    LabelStore.create(tmp_path / "s", (100, 100), pixel_size_um=0.5)
    with pytest.raises(FileExistsError):
        LabelStore.create(tmp_path / "s", (100, 100), pixel_size_um=0.5)
    with pytest.raises(ValueError, match="store is"):
        LabelStore.open_or_create(tmp_path / "s", (200, 100), pixel_size_um=0.5)


def test_project_folder_sits_next_to_the_slide(tmp_path):
    assert project_folder(tmp_path / "slide1.ome.tiff") == tmp_path / "slide1.ifcell"
