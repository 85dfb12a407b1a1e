"""Quantification equals regionprops_table and handles compartments and tiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from skimage.measure import regionprops_table
from skimage.segmentation import expand_labels

from napari_ifcell.core.quantify.cells import QuantifySettings, compartment_labels, intensity_statistics, quantify_cells

MARKERS = ["Hoechst", "CD3e", "CD20"]


@pytest.fixture
def tile():
    rng = np.random.default_rng(3)
    nuclei = np.zeros((160, 200), np.int32)
    for label, (y, x, r) in enumerate([(30, 30, 8), (30, 48, 7), (90, 100, 12), (140, 180, 6), (80, 20, 5)], 1):
        yy, xx = np.ogrid[:160, :200]
        nuclei[((yy - y) ** 2 + (xx - x) ** 2 <= r * r) & (nuclei == 0)] = label
    image = rng.integers(0, 60000, (3, 160, 200), dtype=np.uint16)
    return nuclei, image


def _regionprops_means(labels, image):
    props = regionprops_table(
        labels,
        intensity_image=np.moveaxis(image, 0, -1),
        properties=("label", "intensity_mean", "intensity_std", "intensity_median"),
    )
    return pd.DataFrame(props).set_index("label")


@pytest.mark.parametrize("compartment", ["nucleus", "cell", "ring"])
def test_equals_regionprops_per_compartment(tile, compartment):
    nuclei, image = tile
    table = quantify_cells(
        nuclei, image, MARKERS, pixel_size_um=0.325, settings=QuantifySettings(statistics=("mean", "std", "median"))
    )
    labels = compartment_labels(nuclei, 5)[compartment]
    expected = _regionprops_means(labels, image).loc[table["CellID"]]
    for c, marker in enumerate(MARKERS):
        np.testing.assert_array_equal(table[f"{marker}_{compartment}_mean"], expected[f"intensity_mean-{c}"])
        np.testing.assert_allclose(table[f"{marker}_{compartment}_std"], expected[f"intensity_std-{c}"], rtol=1e-9)
        np.testing.assert_array_equal(table[f"{marker}_{compartment}_median"], expected[f"intensity_median-{c}"])
    if compartment == "cell":  # MCMICRO's plain marker column is the cell mean
        np.testing.assert_array_equal(table["CD3e"], expected["intensity_mean-1"])


def test_morphology_equals_regionprops(tile):
    nuclei, image = tile
    table = quantify_cells(nuclei, image, MARKERS, pixel_size_um=0.5, origin=(1000, 2000))
    props = pd.DataFrame(
        regionprops_table(nuclei, properties=("label", "area", "centroid", "eccentricity", "solidity"))
    )
    np.testing.assert_array_equal(table["Area"], props["area"])
    np.testing.assert_allclose(table["Y_centroid"], props["centroid-0"] + 1000)
    np.testing.assert_allclose(table["X_centroid"], props["centroid-1"] + 2000)
    np.testing.assert_allclose(table["X_centroid_um"], (props["centroid-1"] + 2000) * 0.5)
    np.testing.assert_allclose(table["Eccentricity"], props["eccentricity"])
    np.testing.assert_allclose(table["Solidity"], props["solidity"])


def test_cells_grow_without_overlapping_neighbours(tile):
    nuclei, _ = tile
    comps = compartment_labels(nuclei, 5)
    np.testing.assert_array_equal(comps["cell"], expand_labels(nuclei, 5))
    # every nucleus pixel keeps its label, ring and nucleus never share a pixel
    assert (comps["cell"][nuclei > 0] == nuclei[nuclei > 0]).all()
    assert not ((comps["ring"] > 0) & (nuclei > 0)).any()
    # the two touching nuclei (1 and 2) split the space between them: each ring pixel is nearer its own nucleus
    from scipy import ndimage as ndi

    d1 = ndi.distance_transform_edt(nuclei != 1)
    d2 = ndi.distance_transform_edt(nuclei != 2)
    ring1 = comps["ring"] == 1
    assert (d1[ring1] <= d2[ring1] + 1e-9).all() and (d1[ring1] <= 5).all()


def test_expansion_follows_the_pixel_size():
    s = QuantifySettings(expand_um=1.625)
    assert s.expand_px(0.325) == 5 and s.expand_px(0.65) == round(2.5)


def test_absent_labels_get_nan_and_zero_count():
    labels = np.array([[0, 1], [1, 0]])
    result = intensity_statistics(labels, np.ones((2, 2, 2), np.uint16), np.array([1, 7]), statistics=("mean",))
    assert result["count"].tolist() == [2, 0]
    assert result["mean"][0].tolist() == [1, 1] and np.isnan(result["mean"][1]).all()


def test_ownership_reports_each_cell_once(tile):
    nuclei, image = tile
    left = quantify_cells(nuclei, image, MARKERS, pixel_size_um=0.325, owned=(0, 0, 160, 100))
    right = quantify_cells(nuclei, image, MARKERS, pixel_size_um=0.325, owned=(0, 100, 160, 200))
    whole = quantify_cells(nuclei, image, MARKERS, pixel_size_um=0.325)
    assert sorted([*left["CellID"], *right["CellID"]]) == sorted(whole["CellID"])


def test_bad_settings_list_every_problem():
    with pytest.raises(ValueError) as info:
        QuantifySettings(statistics=("mean", "mode"), compartments=("cytoplasm",), expand_um=-1)
    message = str(info.value)
    assert "'mode'" in message and "'cytoplasm'" in message and "expand_um" in message


def test_large_cell_ids_are_measured_the_same(tile):
    nuclei, image = tile
    big = np.where(nuclei > 0, nuclei.astype(np.int64) + 3_000_000_000, 0)
    small = quantify_cells(nuclei, image, MARKERS, pixel_size_um=0.325)
    large = quantify_cells(big, image, MARKERS, pixel_size_um=0.325)
    assert (large["CellID"] - 3_000_000_000).tolist() == small["CellID"].tolist()
    np.testing.assert_array_equal(large["CD3e_ring_mean"], small["CD3e_ring_mean"])


@pytest.mark.parametrize("distance", [1, 5, 15])
def test_grown_cells_equal_skimages_expand_labels_on_crowded_labels(distance):
    """Ties between equidistant neighbours, labels cut by the edge and dense crowds as well."""
    from napari_ifcell.core.quantify.cells import grow_labels

    rng = np.random.default_rng(distance)
    nuclei = np.zeros((300, 400), np.int32)
    for i in range(1, 400):
        y, x = rng.integers(-3, 300), rng.integers(-3, 400)
        nuclei[max(y, 0) : y + rng.integers(1, 8), max(x, 0) : x + rng.integers(1, 8)] = i
    nuclei[150, 100], nuclei[150, 110] = 500, 501  # a tie at (150, 105)
    np.testing.assert_array_equal(grow_labels(nuclei, distance), expand_labels(nuclei, distance))
    assert not grow_labels(np.zeros((5, 5), np.int32), distance).any()


def test_a_cell_with_pixels_without_data_has_no_median_as_it_has_no_mean():
    """NaN pixels of a float slide sorted last and pulled a cell's median up; it is NaN, as its
    mean is, while the other cells' medians are untouched."""
    from napari_ifcell.core.quantify.cells import intensity_statistics

    labels = np.zeros((20, 20), np.int32)
    labels[2:8, 2:8], labels[10:16, 10:16] = 1, 2
    image = np.arange(400, dtype=np.float32).reshape(1, 20, 20)
    expected = intensity_statistics(labels, image, np.array([1, 2]), statistics=("mean", "median"))
    image[0, 2:4, 2:8] = np.nan
    found = intensity_statistics(labels, image, np.array([1, 2]), statistics=("mean", "median"))
    assert np.isnan(found["median"][0, 0]) and np.isnan(found["mean"][0, 0])
    assert found["median"][1, 0] == expected["median"][1, 0] == np.median(image[0, 10:16, 10:16])


def test_a_channel_named_like_a_morphology_column_is_refused(tile):
    """Its mean would replace the nuclear Area (or the ids) in the table without a word."""
    nuclei, image = tile
    with pytest.raises(ValueError, match="'Area'.*rename the channel"):
        quantify_cells(nuclei, image, ["Hoechst", "Area", "CD20"], pixel_size_um=0.325)
