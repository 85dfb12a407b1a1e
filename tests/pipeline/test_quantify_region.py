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


class _CountingLevel:
    """A slide level that records which stored chunk of which channel every read touches."""

    def __init__(self, array):
        self.array, self.reads = array, []
        self.shape, self.dtype, self.chunks = array.shape, array.dtype, array.chunks

    def __getitem__(self, key):
        c, ys, xs = key
        cy, cx = self.chunks[-2:]
        for row in range(ys.start // cy, (ys.stop - 1) // cy + 1):
            for col in range(xs.start // cx, (xs.stop - 1) // cx + 1):
                self.reads.append((c, row, col))
        return self.array[key]


def test_each_image_chunk_is_decoded_once(slides):
    import copy

    if_slide, labels = slides
    counting = copy.copy(if_slide)
    counting.levels = [_CountingLevel(if_slide.levels[0]), *if_slide.levels[1:]]
    table = quantify_region(counting, labels, settings=QuantifySettings(tile=512))
    reads = pd.Series(counting.levels[0].reads).value_counts()
    cy, cx = if_slide.chunk_yx
    n_chunks = -(-if_slide.shape[0] // cy) * -(-if_slide.shape[1] // cx) * if_slide.n_channels
    assert len(table) > 100 and reads.max() == 1 and len(reads) == n_chunks


def test_cells_cut_by_tiles_equal_cells_measured_whole(slides):
    """Sums added over the tiles a cell spans give what measuring it whole gives, at the
    slide's edge too (no pixel off the slide is counted)."""
    from napari_ifcell.core.quantify.cells import quantify_cells

    if_slide, labels = slides
    settings = QuantifySettings(tile=256, statistics=("mean", "std"))
    tiled = quantify_region(if_slide, labels, settings=settings)
    nuclei = labels.read_region(0, 0, *if_slide.shape)[0].astype(np.int32)
    whole = quantify_cells(
        nuclei,
        if_slide.read_region(0, 0, *if_slide.shape),
        if_slide.channel_names,
        settings=settings,
        pixel_size_um=if_slide.pixel_size_um,
    )
    pd.testing.assert_frame_equal(tiled, whole, check_exact=False, rtol=1e-9, atol=1e-9)
    at_edge = (tiled.Y_centroid < 20) | (tiled.X_centroid < 20)
    assert at_edge.sum() > 3


def test_medians_measure_each_cell_whole(slides):
    from napari_ifcell.core.quantify.cells import quantify_cells

    if_slide, labels = slides
    region = (0, 0, 600, 700)
    settings = QuantifySettings(tile=256, statistics=("median",))
    tiled = quantify_region(if_slide, labels, region=region, settings=settings)
    nuclei = labels.read_region(0, 0, 800, 900)[0].astype(np.int32)
    whole = quantify_cells(
        nuclei,
        if_slide.read_region(0, 0, 800, 900),
        if_slide.channel_names,
        settings=settings,
        pixel_size_um=if_slide.pixel_size_um,
        owned=(0, 0, 600, 700),
    )
    pd.testing.assert_frame_equal(tiled, whole)
    assert tiled["CD3e_cell_median"].notna().all() and len(tiled) > 50


def test_the_python_route_checks_its_labels_as_the_command_does(slides, small_pair, truth_store, tmp_path):
    """`quantify_region(slide, open_slide(path))`, the README's route, quantified an H&E into 0
    rows, an intensity image into thousands of "cells" and labels at another pixel size as if on
    the slide's grid; the command refused them. Now the route checks them the same way, and takes
    the label image's path too."""
    if_slide, labels = slides
    region = (300, 300, 400, 500)
    from_path = quantify_region(if_slide, small_pair.labels_path, region=region)
    pd.testing.assert_frame_equal(from_path, quantify_region(if_slide, labels, region=region))
    pd.testing.assert_frame_equal(from_path, quantify_region(if_slide, truth_store.folder, region=region))
    with open_slide(small_pair.he_path) as he, pytest.raises(ValueError, match=r"label image .*got an RGB image"):
        quantify_region(if_slide, he, region=region)
    intensity = tmp_path / "hoechst.tif"
    tifffile.imwrite(intensity, if_slide.read_region(0, 0, *if_slide.shape, level=0, channels=[0])[0])
    with open_slide(intensity) as grey, pytest.raises(ValueError, match="expected a label image"):
        quantify_region(if_slide, grey, region=region)
    finer = tmp_path / "labels_0.25um.ome.tif"
    tifffile.imwrite(
        finer, tifffile.imread(small_pair.labels_path), metadata={"PhysicalSizeX": 0.25, "PhysicalSizeY": 0.25}
    )
    with pytest.raises(ValueError, match=r"the labels say 0.25 µm/px but .* is 0.325 µm/px"):
        quantify_region(if_slide, finer, region=region)
    from napari_ifcell.notes import recording_notes

    with open_slide(if_slide.path, pixel_size_um=0.325) as given, recording_notes() as notes:  # the user's word
        assert len(quantify_region(given, finer, region=region)) == len(from_path)
    assert any("the labels say 0.25 µm/px" in n and "measured at 0.325 µm/px" in n for n in notes)
    with pytest.raises(ValueError, match=r"the labels are 100 x 100 px but"):
        quantify_region(if_slide, np.zeros((100, 100), np.uint32), region=(0, 0, 50, 50))
    small = tmp_path / "small.tif"
    tifffile.imwrite(small, np.zeros((2, 100, 100), np.uint16))
    with open_slide(small, pixel_size_um=0.325) as other, pytest.raises(ValueError) as refused:
        quantify_region(other, truth_store.folder)  # named by the folder given, not its array's "0"
    assert str(refused.value).startswith(f"{truth_store.folder}: the labels are 1100 x 1400 px but small.tif")


def test_tile_sums_add_up_per_cell_and_pixels_without_data_stay_empty():
    """A cell cut by tiles has its sums added; rows of cells outside the table are left out;
    a listed cell without a row gets 0; a float sum over NaN pixels is left empty, with a note."""
    from napari_ifcell.notes import recording_notes
    from napari_ifcell.pipeline.quantify import summed_per_cell

    first = pd.DataFrame({"CellID": [1, 2, 9], "count_nucleus": [10, 4, 7], "sum_nucleus_0": [1.5, np.nan, 3.0]})
    second = pd.DataFrame({"CellID": [2, 5], "count_nucleus": [6, 3], "sum_nucleus_0": [2.0, np.inf]})
    with recording_notes() as said:
        totals = summed_per_cell([first, second], np.array([1, 2, 3, 5]), ["Hoechst"])
    np.testing.assert_array_equal(totals["count_nucleus"], [10, 10, 0, 3])
    assert totals["count_nucleus"].dtype == np.int64
    np.testing.assert_array_equal(totals["sum_nucleus_0"], [1.5, np.nan, 0.0, np.nan])
    assert said == ["2 cells have pixels without data (NaN) in Hoechst: their values there are left empty, not 0"]
