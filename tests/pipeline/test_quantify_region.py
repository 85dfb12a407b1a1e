"""Tile-by-tile quantification of a slide region against the synthetic truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tifffile

from napari_ifcell.core.quantify.cells import QuantifySettings
from napari_ifcell.io import open_slide
from napari_ifcell.pipeline import quantify_region, tiles


@pytest.fixture(scope="module")
def slides(small_pair):
    if_slide = open_slide(small_pair.if_path)
    labels = open_slide(small_pair.labels_path)
    yield if_slide, labels
    if_slide.close()
    labels.close()


def test_tiles_cover_the_region_once():
    parts = tiles((10, 20, 250, 300), 100)
    assert len(parts) == 9 and parts[-1] == (210, 220, 50, 100)
    assert sum(h * w for _, _, h, w in parts) == 250 * 300


def test_tiled_equals_untiled(slides):
    if_slide, labels = slides
    region = (100, 150, 700, 900)
    small = quantify_region(if_slide, labels, region=region, settings=QuantifySettings(tile=256))
    whole = quantify_region(if_slide, labels, region=region, settings=QuantifySettings(tile=4096))
    assert small["CellID"].is_unique
    pd.testing.assert_frame_equal(small, whole)


def test_whole_slide_covers_every_true_cell(slides, small_pair):
    if_slide, labels = slides
    table = quantify_region(if_slide, labels, settings=QuantifySettings(tile=512))
    truth = pd.read_csv(small_pair.cells_path)
    assert sorted(table["CellID"]) == sorted(truth["CellID"])
    merged = table.merge(truth, on="CellID", suffixes=("", "_true"))
    np.testing.assert_allclose(merged["X_centroid"], merged["X_centroid_true"], atol=1e-9)
    np.testing.assert_array_equal(merged["Area"], merged["Area_true"])


def test_reads_labels_from_a_plain_array(slides):
    if_slide, labels = slides
    array = tifffile.imread(labels.path)
    from_slide = quantify_region(if_slide, labels, region=(300, 300, 400, 500))
    from_array = quantify_region(if_slide, array, region=(300, 300, 400, 500))
    assert len(from_slide) > 10
    pd.testing.assert_frame_equal(from_slide, from_array)


def test_region_without_cells_gives_an_empty_table_with_the_columns(slides):
    if_slide, _ = slides
    empty = quantify_region(if_slide, np.zeros(if_slide.shape, np.uint32), region=(0, 0, 100, 100))
    assert len(empty) == 0 and {"CellID", "X_centroid", "CD3e", "CD3e_ring_mean"} <= set(empty.columns)
