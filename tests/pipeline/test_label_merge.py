"""The chunk-parallel label merge equals painting the tiles one after another."""

from __future__ import annotations

import numpy as np
import pandas as pd
from skimage.draw import disk

from napari_ifcell.io.atomic import write_npz
from napari_ifcell.io.cell_index import index_from_sums
from napari_ifcell.io.label_store import LabelStore
from napari_ifcell.pipeline import label_merge as merge
from napari_ifcell.pipeline.tiling import tiles

SHAPE, TILE, HALO = (2500, 2300), 512, 48


def _tile_files(folder, rng):
    """Tiles of random disks over their windows; neighbours' disks overlap in the halos."""
    folder.mkdir()
    boxes = tiles((0, 0, *SHAPE), TILE)
    for ty, tx, th, tw in boxes:
        labels = np.zeros((th + 2 * HALO, tw + 2 * HALO), np.int32)
        for n in range(1, rng.integers(0, 60)):
            centre = (rng.uniform(0, labels.shape[0]), rng.uniform(0, labels.shape[1]))
            rr, cc = disk(centre, rng.uniform(2, 14), shape=labels.shape)
            labels[rr, cc] = n
        labels = np.unique(labels, return_inverse=True)[1].reshape(labels.shape).astype(np.int32)
        write_npz(
            merge.tile_file(folder, (ty, tx)),
            labels=labels,
            origin=np.array([ty - HALO, tx - HALO]),
            count=labels.max(),
        )
    return boxes


def test_chunk_merge_equals_serial_paint_in_tile_order(tmp_path):
    boxes = _tile_files(tmp_path / "tiles", np.random.default_rng(0))

    serial = LabelStore.create(tmp_path / "serial", SHAPE, pixel_size_um=0.325)
    run = serial.start_run({})
    for ty, tx, _, _ in boxes:
        with np.load(merge.tile_file(tmp_path / "tiles", (ty, tx))) as data:
            labels, origin = data["labels"], data["origin"]
        if not labels.max():
            continue
        ids = serial.new_ids(int(labels.max()))
        serial.paint(np.where(labels > 0, ids[np.maximum(labels - 1, 0)], 0), (int(origin[0]), int(origin[1])), run)

    store = LabelStore.create(tmp_path / "chunked", SHAPE, pixel_size_um=0.325)
    counts = merge.tile_counts(tmp_path / "tiles", boxes)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    jobs = merge.chunk_jobs(boxes, HALO, SHAPE)
    parts = [
        merge.paint_chunk(
            str(tmp_path / "tiles"), str(tmp_path / "chunked"), chunk, [(boxes[k], int(offsets[k])) for k in ks]
        )
        for chunk, ks in jobs
    ]
    for level in range(1, len(store.levels)):
        for chunk in merge.level_chunks(store.levels[level].shape, level, (0, 0, *SHAPE)):
            merge.downsample_chunk(str(tmp_path / "chunked"), level, chunk)
    index = index_from_sums(parts, run)

    assert len(jobs) == 9 and len(store.levels) == 3
    for a, b in zip(serial.levels, LabelStore.open(tmp_path / "chunked").levels):
        np.testing.assert_array_equal(a[:], b[:])
    assert len(index) > 500
    pd.testing.assert_frame_equal(index, serial.index.astype(index.dtypes.to_dict()), check_exact=False, rtol=1e-12)
