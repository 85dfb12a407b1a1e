"""Tile ownership (no duplicates, no cut nuclei) and IoU matching."""

from __future__ import annotations

import numpy as np
import pytest

from napari_ifcell.core.segment.metrics import match_at_iou
from napari_ifcell.core.tiles import owned_labels
from napari_ifcell.pipeline import tiles


def _discs(shape, centres, r=6):
    yy, xx = np.indices(shape)
    out = np.zeros(shape, np.int32)
    for i, (y, x) in enumerate(centres, 1):
        out[(yy - y) ** 2 + (xx - x) ** 2 <= r * r] = i
    return out


def test_tiles_with_halo_stitch_without_duplicates_or_cuts():
    shape = (200, 260)
    rng = np.random.default_rng(0)
    centres = [(y, x) for y in range(10, 200, 17) for x in range(10, 260, 17)]
    centres = [(y + rng.integers(-2, 3), x + rng.integers(-2, 3)) for y, x in centres]
    truth = _discs(shape, centres)
    halo, stitched, next_id = 16, np.zeros(shape, np.int64), 1
    for ty, tx, th, tw in tiles((0, 0, *shape), 64):  # many objects straddle tile borders
        y0, x0 = max(ty - halo, 0), max(tx - halo, 0)
        window = truth[y0 : ty + th + halo, x0 : tx + tw + halo]
        mine = owned_labels(window, (ty - y0, tx - x0, ty - y0 + th, tx - x0 + tw))
        target = stitched[y0 : ty + th + halo, x0 : tx + tw + halo]
        new = mine > 0
        assert not (target[new] > 0).any(), "two tiles claimed the same pixel"
        target[new] = mine[new] + next_id - 1
        next_id += int(mine.max())
    assert next_id - 1 == len(centres)  # every nucleus once
    score = match_at_iou(stitched, truth, iou=0.99)
    assert score.tp == len(centres) and score.fp == 0  # and whole


def test_match_at_iou_counts():
    truth = _discs((50, 50), [(10, 10), (30, 30), (40, 10)])
    pred = _discs((50, 50), [(10, 11), (30, 30), (20, 40), (5, 45)])  # one shifted, one missed, two extra
    pred[pred == 2] = 7  # ids need not match
    score = match_at_iou(pred, truth)
    assert (score.tp, score.fp, score.fn) == (2, 2, 1)
    assert score.f1 == pytest.approx(4 / 7)
    with pytest.raises(ValueError):
        match_at_iou(pred, truth, iou=0.3)
