"""IF + H&E pairs: consistency checks, H&E pixel size default, offset estimation."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_ifcell.io import open_pair
from napari_ifcell.io.errors import SlidePairError
from napari_ifcell.orion import ORION_PIXEL_SIZE_UM

from ..conftest import HE_OFFSET_PX, SMALL_SHAPE


def test_orion_he_without_pixel_size_takes_the_ifs(small_pair):
    with pytest.warns(UserWarning, match="pixel size unknown"):
        pair = open_pair(small_pair.if_path, small_pair.he_path)
    assert pair.he_slide.pixel_size_um == ORION_PIXEL_SIZE_UM
    assert any("using the IF's 0.325" in n for n in pair.notes)
    pair.close()


def test_offset_estimated_on_a_region_matches_the_synthetic_shift(small_pair):
    pair = open_pair(small_pair.if_path, small_pair.he_path)
    estimate = pair.estimate_offset(100, 200, 768, 768)
    np.testing.assert_allclose(estimate.offset_px, HE_OFFSET_PX, atol=0.2)
    np.testing.assert_allclose(estimate.offset_um, np.array(HE_OFFSET_PX) * 0.325, atol=0.07)
    assert estimate.correlation > 0.5
    # at level 1 (0.65 µm/px) the estimate still lands within a pixel of level 0
    coarse = pair.estimate_offset(0, 0, 512, 640, level=1)
    np.testing.assert_allclose(coarse.offset_px, HE_OFFSET_PX, atol=0.7)
    pair.close()


def test_aligned_he_read_follows_the_registration(small_pair):
    pair = open_pair(small_pair.if_path, small_pair.he_path, offset_um=(3 * 0.325, -2 * 0.325))
    aligned = pair.read_he_aligned(400, 500, 64, 64, um_per_px=0.325)
    np.testing.assert_array_equal(aligned, pair.he_slide.read_region(403, 498, 64, 64))
    assert pair.if_to_he_px(400, 500) == pytest.approx((403, 498))
    scale, translate = pair.he_world_transform()
    assert scale == (0.325, 0.325) and translate == pytest.approx((-0.975, 0.65))
    pair.close()


def test_aligned_he_read_follows_a_registration_scale(tmp_path):
    """An H&E 1.25x the IF's size (he_um = if_um x 1.25 + offset): the aligned read was taken at
    um / 1.25 instead of um x 1.25 and drifted off the IF by 4 px over 10."""
    from napari_ifcell.io.pair import Registration, SlidePair
    from napari_ifcell.io.slide_open import open_slide

    ramp = np.zeros((128, 128, 3), np.uint8)  # red: twice the H&E column, green: twice its row
    ramp[..., 0], ramp[..., 1] = 2 * np.arange(128)[None, :], 2 * np.arange(128)[:, None]
    res = {"resolution": (2e4, 2e4), "resolutionunit": "CENTIMETER"}
    tifffile.imwrite(tmp_path / "he.tif", ramp, photometric="rgb", **res)
    tifffile.imwrite(tmp_path / "if.tif", np.zeros((1, 128, 128), np.uint16), photometric="minisblack", **res)
    pair = SlidePair(open_slide(tmp_path / "if.tif"), open_slide(tmp_path / "he.tif"), Registration((3.0, -2.0), 1.25))
    aligned = pair.read_he_aligned(20, 30, 10, 10, um_per_px=0.5).astype(float) / 2
    expected = np.array([[pair.if_to_he_px(20 + i, 30 + j) for j in range(10)] for i in range(10)])
    np.testing.assert_allclose(aligned[..., 1], expected[..., 0], atol=0.7)  # rows, to the whole-pixel start
    np.testing.assert_allclose(aligned[..., 0], expected[..., 1], atol=0.7)
    assert np.diff(aligned[..., 0], axis=1).mean() == pytest.approx(1.25, abs=0.03)  # 1.25 H&E px per IF px
    pair.close()


def test_he_that_is_not_rgb_is_refused(small_pair):
    with pytest.raises(
        SlidePairError, match=r"synthetic_if\.ome\.tif: given as the H&E slide but it is not RGB \(19 channels"
    ):
        open_pair(small_pair.if_path, small_pair.if_path)


def test_mismatched_pair_names_both_shapes_and_pixel_sizes(small_pair, tmp_path):
    other = tmp_path / "other_he.ome.tif"
    tifffile.imwrite(
        other,
        np.zeros((500, 700, 3), np.uint8),
        photometric="rgb",
        ome=True,
        metadata={"PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5},
    )
    h, w = SMALL_SHAPE
    with pytest.raises(SlidePairError) as info:
        open_pair(small_pair.if_path, other)
    message = str(info.value)
    assert "synthetic_if.ome.tif and other_he.ome.tif cannot be one section" in message
    assert f"IF {h} x {w} px at 0.325 µm" in message and "H&E 500 x 700 px at 0.5 µm" in message


def test_geojson_on_the_he_maps_a_cell_where_the_viewer_places_it(small_pair):
    """The GeoJSON's pixel corners land on the H&E where the pair's own mapping (and the
    viewer's layers) put each IF pixel, with pixel sizes that differ (0.33 µm on 0.325 µm)."""
    from napari_ifcell.io.qupath_geojson import pair_onto_he

    pair = open_pair(small_pair.if_path, small_pair.he_path, he_pixel_size_um=0.33, offset_um=(1.3, -0.65))
    rows_cols = np.array([[0.0, 0.0], [10.0, 700.0], [1099.0, 1399.0]])
    corners = pair_onto_he(pair)(rows_cols[:, ::-1] + 0.5)  # x/y of each pixel's centre, QuPath's way
    expected = np.array([pair.if_to_he_px(r, c) for r, c in rows_cols])
    np.testing.assert_allclose(corners[:, ::-1] - 0.5, expected, atol=1e-9)
