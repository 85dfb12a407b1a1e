"""Vectorised morphology equals skimage's regionprops_table on thousands of cells, odd shapes included."""

import numpy as np
import pandas as pd
import pytest
from skimage.draw import ellipse
from skimage.measure import regionprops_table

from napari_ifcell.core.quantify.morphology import MORPHOLOGY, morphology


def _odd_shapes(rng, size=1400) -> np.ndarray:
    """~3,000 labels on a grid of 25 px cells: ellipses at every angle and eccentricity, single
    pixels, lines in both axes, L-shapes, rings with holes, two-piece labels, 2x2 squares,
    labels cut by the array's edge, and neighbours that touch."""
    labels = np.zeros((size, size), np.int32)
    next_id = 1
    for cy in range(0, size, 25):
        for cx in range(0, size, 25):
            kind = rng.integers(0, 9)
            box = labels[cy : cy + 25, cx : cx + 25]
            if kind <= 2:
                rr, cc = ellipse(
                    12, 12, rng.uniform(1, 11), rng.uniform(1, 11), shape=box.shape, rotation=rng.uniform(-np.pi, np.pi)
                )
                box[rr, cc] = next_id
            elif kind == 3:
                box[rng.integers(0, 25), rng.integers(0, 25)] = next_id
            elif kind == 4:
                box[5, 3 : 3 + rng.integers(2, 20)] = next_id if rng.random() < 0.5 else 0
                box[3 : 3 + rng.integers(2, 20), 7] = next_id
            elif kind == 5:
                box[4:20, 4:8] = next_id
                box[16:20, 4:20] = next_id
            elif kind == 6:
                rr, cc = ellipse(12, 12, 10, 9, shape=box.shape)
                box[rr, cc] = next_id
                rr, cc = ellipse(12, 12, 4, 3, shape=box.shape)
                box[rr, cc] = 0
            elif kind == 7:
                box[2:6, 2:6] = next_id
                box[18:21, 15:24] = next_id
            else:
                box[10:12, 10:12] = next_id
                box[10:14, 12:20] = next_id + 1  # touching neighbour
                next_id += 1
            next_id += 1
    return labels


@pytest.fixture(scope="module")
def odd_labels():
    return _odd_shapes(np.random.default_rng(3))


def test_every_column_equals_regionprops_on_odd_shapes(odd_labels):
    ours = morphology(odd_labels)
    reference = pd.DataFrame(regionprops_table(odd_labels, properties=("label", "centroid", *MORPHOLOGY)))
    reference = reference.rename(columns={"label": "CellID", "centroid-0": "Y_centroid", "centroid-1": "X_centroid"})
    assert len(ours) == len(reference) > 3000
    np.testing.assert_array_equal(ours["CellID"], reference["CellID"])
    for prop, column in {"Y_centroid": "Y_centroid", "X_centroid": "X_centroid", **MORPHOLOGY}.items():
        np.testing.assert_allclose(ours[column], reference[prop], rtol=1e-9, atol=1e-9, err_msg=column)


def test_round_and_axis_aligned_cells_get_skimages_orientation():
    labels = np.zeros((40, 40), np.int32)
    labels[2:7, 2:7] = 1  # a square: equal moments, no cross term
    labels[10:12, 10:30] = 2  # a horizontal bar
    labels[15:35, 35:37] = 3  # a vertical bar
    ours = morphology(labels)
    reference = regionprops_table(labels, properties=("label", "orientation", "eccentricity"))
    np.testing.assert_array_equal(ours["Orientation"], reference["orientation"])
    np.testing.assert_array_equal(ours["Eccentricity"], reference["eccentricity"])


def test_labels_absent_from_the_image_are_left_out_and_empty_images_give_no_rows():
    labels = np.zeros((20, 20), np.int32)
    labels[3:6, 3:6] = 7
    table = morphology(labels)
    assert table["CellID"].tolist() == [7]
    assert table.loc[0, "Area"] == 9 and table.loc[0, "Solidity"] == 1.0
    empty = morphology(np.zeros((8, 8), np.int32))
    assert len(empty) == 0 and "Solidity" in empty.columns


def test_convex_areas_of_large_concave_and_scattered_labels_equal_skimages():
    """Tall, concave and many-piece labels (hull chains of hundreds of points) as well."""
    from skimage.draw import polygon

    rng = np.random.default_rng(11)
    labels = np.zeros((900, 900), np.int32)
    for i in range(16):
        cy, cx = 110 + 220 * (i // 4), 110 + 220 * (i % 4)
        angles = np.sort(rng.uniform(0, 2 * np.pi, 14))
        radii = rng.uniform(15, 100, 14)  # a star: deeply concave
        rr, cc = polygon(cy + radii * np.sin(angles), cx + radii * np.cos(angles), labels.shape)
        labels[rr, cc] = i + 1
    labels[rng.integers(0, 900, 300), rng.integers(0, 900, 300)] = 17  # one label in 300 scattered pixels
    labels[0:900, 450] = 18  # a full-height line
    ours = morphology(labels)
    reference = regionprops_table(labels, properties=("label", "solidity"))
    np.testing.assert_array_equal(ours["CellID"], reference["label"])
    np.testing.assert_allclose(ours["Solidity"], reference["solidity"], rtol=1e-12)


def test_no_centroid_within_the_window_gives_no_rows():
    labels = np.zeros((30, 30), np.int32)
    labels[2:6, 2:6] = 1
    assert len(morphology(labels, within=(10, 10, 30, 30))) == 0
    assert morphology(labels, within=(0, 0, 10, 10))["CellID"].tolist() == [1]
