"""A review project on the small synthetic pair: gated cells, and a label store holding the
true nuclei (so mask edits have something real to edit)."""

from __future__ import annotations

import numpy as np


def make_project(small_pair, small_table, folder, store_folder=None):
    from napari_ifcell.core.gating.apply import gated_table
    from napari_ifcell.core.gating.auto import suggested_gateset
    from napari_ifcell.io import open_slide
    from napari_ifcell.io.label_store import LabelStore

    gates, _ = suggested_gateset(small_table)
    table = gated_table(small_table, gates)
    with open_slide(small_pair.labels_path) as labels:
        truth = np.asarray(labels.read_region(0, 0, *labels.shape, level=0))
    truth = truth[0] if truth.ndim == 3 else truth
    store = LabelStore.create(store_folder or folder / "labels", truth.shape, pixel_size_um=0.325)
    store.paint(truth, (0, 0), run=store.start_run({"source": "synthetic truth"}))
    store.meta["next_id"] = int(truth.max()) + 1
    store.commit()
    return table, gates


def neighbours(store, min_area=80, skip=()):
    """Two touching cells (ids), both big enough to measure, neither in ``skip``."""

    labels = np.asarray(store.levels[0][:])
    a, b = labels[:, :-1], labels[:, 1:]
    touching = (a != b) & (a > 0) & (b > 0)
    areas = store.index.set_index("CellID")["Area"]
    for p, q in zip(a[touching], b[touching]):
        if areas[p] >= min_area and areas[q] >= min_area and not {int(p), int(q)} & set(skip):
            return int(p), int(q)
    raise AssertionError("no touching cells")
