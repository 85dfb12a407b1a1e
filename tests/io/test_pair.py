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


def _ramp_pair(tmp_path, if_px: float, he_shape: tuple[int, int], he_px: float, registration):
    """An IF slide of 64 x 64 px and an H&E whose red is twice its column and green twice its row."""
    from napari_ifcell.io.pair import SlidePair
    from napari_ifcell.io.slide_open import open_slide

    h, w = he_shape
    ramp = np.zeros((h, w, 3), np.uint8)
    ramp[..., 0], ramp[..., 1] = 2 * np.arange(w)[None, :], 2 * np.arange(h)[:, None]
    cm = {"resolutionunit": "CENTIMETER"}
    tifffile.imwrite(tmp_path / "he.tif", ramp, photometric="rgb", resolution=(1e4 / he_px,) * 2, **cm)
    tifffile.imwrite(tmp_path / "if.tif", np.zeros((1, 64, 64), np.uint16), resolution=(1e4 / if_px,) * 2, **cm)
    return SlidePair(open_slide(tmp_path / "if.tif"), open_slide(tmp_path / "he.tif"), registration)


def _he_position_read(pair, y, x, n, atol):
    """The H&E pixel positions an aligned read of n x n IF pixels at (y, x) shows, against
    where ``if_to_he_px`` places those IF pixels."""
    aligned = pair.read_he_aligned(y, x, n, n, um_per_px=pair.pixel_size_um).astype(float) / 2
    expected = np.array([[pair.if_to_he_px(y + i, x + j) for j in range(n)] for i in range(n)])
    np.testing.assert_allclose(aligned[..., 1], expected[..., 0], atol=atol)
    np.testing.assert_allclose(aligned[..., 0], expected[..., 1], atol=atol)
    return aligned


def test_aligned_he_read_follows_a_registration_scale(tmp_path):
    """An H&E 1.25x the IF's size (he_um = if_um x 1.25 + offset): the aligned read was taken at
    um / 1.25 instead of um x 1.25 and drifted off the IF by 4 px over 10."""
    from napari_ifcell.io.pair import Registration

    pair = _ramp_pair(tmp_path, 0.5, (64, 64), 0.5, Registration((3.0, -2.0), 1.25))
    aligned = _he_position_read(pair, 10, 15, 10, atol=0.7)  # to the whole-pixel start
    assert np.diff(aligned[..., 0], axis=1).mean() == pytest.approx(1.25, abs=0.03)  # 1.25 H&E px per IF px
    pair.close()


def test_aligned_he_read_starts_where_the_if_pixel_centre_maps(tmp_path):
    """An H&E at 0.25 µm under an IF at 0.5: pixel centres (µm 0 at pixel 0's centre on both)
    map a quarter of an IF pixel off the corners; with offsets whose start is a whole pixel the
    read is exact, and where it is not, the start is the nearest whole pixel."""
    from napari_ifcell.io.pair import Registration

    pair = _ramp_pair(tmp_path, 0.5, (128, 128), 0.25, Registration((1.125, 1.125), 1.0))
    _he_position_read(pair, 10, 12, 8, atol=0.01)
    pair.registration = Registration((1.3, 1.3), 1.0)  # 0.35 IF px from a whole one; 0.65 from the corner's
    _he_position_read(pair, 10, 12, 8, atol=0.75)
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


def test_an_offset_estimate_with_a_registration_scale_is_in_he_micrometres(tmp_path, monkeypatch):
    """The H&E is read in pixels of um x scale of its own µm: a shift of one such pixel is
    0.625 µm of H&E at scale 1.25, where it was counted as 0.5."""
    from napari_ifcell.core import registration
    from napari_ifcell.io.pair import Registration

    pair = _ramp_pair(tmp_path, 0.5, (64, 64), 0.5, Registration((3.0, -2.0), 1.25))
    monkeypatch.setattr(registration, "estimate_he_shift", lambda *_: registration.ShiftEstimate((1.0, -2.0), 0.9))
    estimate = pair.estimate_offset(0, 0, 32, 32)
    assert estimate.offset_um == pytest.approx((3.0 + 0.625, -2.0 - 1.25))
    pair.close()
