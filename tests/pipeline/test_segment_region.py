"""Segmenting regions into the label store with the CPU backends, against the synthetic truth."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_ifcell.core.detection_metrics import match_at_iou
from napari_ifcell.io import open_pair
from napari_ifcell.io.label_store import LabelStore
from napari_ifcell.pipeline import SegmentSettings, run_to_end, segment_region

from ..conftest import HE_OFFSET_PX


@pytest.fixture(scope="module")
def pair(small_pair):
    pair = open_pair(small_pair.if_path, small_pair.he_path, offset_um=tuple(v * 0.325 for v in HE_OFFSET_PX))
    yield pair
    pair.close()


@pytest.fixture(scope="module")
def truth(small_pair):
    return tifffile.imread(small_pair.labels_path)


@pytest.mark.parametrize("backend", ["hoechst", "he"])
def test_cpu_backends_find_the_true_nuclei(pair, truth, tmp_path, backend):
    store = LabelStore.create(tmp_path / "store", pair.if_slide.shape, pixel_size_um=0.325)
    result = run_to_end(segment_region(pair.if_slide, store, pair=pair, settings=SegmentSettings(backend=backend)))
    assert result.completed and result.cells == len(store.index) > 0
    score = match_at_iou(np.asarray(store.levels[0][:]), truth)
    print(f"{backend}: precision {score.precision:.3f} recall {score.recall:.3f} F1 {score.f1:.3f}")
    assert score.f1 >= 0.9


def test_rerun_on_an_overlapping_region_replaces_cells(pair, tmp_path):
    store = LabelStore.create(tmp_path / "store", pair.if_slide.shape, pixel_size_um=0.325)
    first = run_to_end(segment_region(pair.if_slide, store, region=(0, 0, 600, 700)))
    ids_first = set(store.index.CellID)
    second = run_to_end(segment_region(pair.if_slide, store, region=(300, 350, 600, 700)))
    idx = store.index
    in_overlap = (idx.Y_centroid >= 300) & (idx.Y_centroid < 600) & (idx.X_centroid >= 350) & (idx.X_centroid < 700)
    assert second.removed > 0 and (idx[in_overlap].run == 2).all()  # replaced, not duplicated
    assert idx.CellID.is_unique and not (set(idx[idx.run == 2].CellID) & ids_first)  # fresh ids
    labels = np.asarray(store.levels[0][:])
    assert set(np.unique(labels)) - {0} == set(idx.CellID)  # index and pixels agree
    # the same number of cells in the overlap as a clean run finds there
    clean = LabelStore.create(tmp_path / "clean", pair.if_slide.shape, pixel_size_um=0.325)
    run_to_end(segment_region(pair.if_slide, clean, region=(300, 350, 600, 700)))
    c = clean.index
    clean_overlap = (c.Y_centroid >= 300) & (c.Y_centroid < 600) & (c.X_centroid >= 350) & (c.X_centroid < 700)
    assert abs(int(in_overlap.sum()) - int(clean_overlap.sum())) <= 2
    assert first.cells > 0


def test_a_cancelled_run_leaves_the_store_consistent(pair, tmp_path):
    store = LabelStore.create(tmp_path / "store", pair.if_slide.shape, pixel_size_um=0.325)
    steps = segment_region(pair.if_slide, store, settings=SegmentSettings(tile=256))
    for _ in range(4):
        next(steps)
    steps.close()  # the user pressed Cancel
    reopened = LabelStore.open(tmp_path / "store")
    labels = np.asarray(reopened.levels[0][:])
    assert 0 < len(reopened.index) and set(np.unique(labels)) - {0} == set(reopened.index.CellID)


def test_he_backend_needs_the_he(pair, tmp_path):
    store = LabelStore.create(tmp_path / "store", pair.if_slide.shape, pixel_size_um=0.325)
    with pytest.raises(ValueError, match="together with its H&E"):
        run_to_end(segment_region(pair.if_slide, store, settings=SegmentSettings(backend="he")))
    with pytest.raises(ValueError, match="unknown backend 'cellpose'"):
        run_to_end(segment_region(pair.if_slide, store, settings=SegmentSettings(backend="cellpose")))
