import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_ifcell.core.registration import estimate_shift


@pytest.mark.parametrize("shift", [(0.0, 0.0), (2.5, -4.0), (-7.0, 1.5)])
def test_estimate_shift_recovers_a_known_subpixel_shift(shift):
    rng = np.random.default_rng(0)
    reference = ndi.gaussian_filter(rng.random((256, 256)), 3)
    moving = ndi.shift(reference, shift, order=3, mode="wrap")
    estimate = estimate_shift(reference, moving, upsample=20)
    np.testing.assert_allclose(estimate.shift_px, shift, atol=0.2)  # 0.2 px = 0.065 µm on Orion
    assert estimate.correlation > 0.95


def test_unrelated_images_have_low_correlation():
    rng = np.random.default_rng(1)
    a, b = (ndi.gaussian_filter(rng.random((128, 128)), 2) for _ in range(2))
    assert abs(estimate_shift(a, b).correlation) < 0.3


def test_shapes_must_match():
    with pytest.raises(ValueError, match="same shape|one shape"):
        estimate_shift(np.zeros((10, 10)), np.zeros((10, 12)))


def test_black_fill_reads_as_glass_not_the_densest_hematoxylin():
    """Registration reads the H&E as the segmenters do: a scanner's black fill is glass."""
    from napari_ifcell.core.registration import hematoxylin_density

    rgb = np.array([[[0, 0, 0], [255, 255, 255], [60, 40, 120]]], np.uint8)
    density = hematoxylin_density(rgb)
    assert density[0, 0] == density[0, 1] < density[0, 2]
