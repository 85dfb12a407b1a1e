import numpy as np

from napari_ifcell.core.display import contrast_limits


def test_saturated_artefacts_do_not_set_the_upper_limit():
    img = np.full((1, 100, 100), 500, np.uint16)
    img[0, :10, :10] = 5000  # real positive cells: 1 % of pixels
    img[0, 50, 50:60] = 65535  # over-exposed debris
    ((lo, hi),) = contrast_limits(img, low=1, high=99.5)
    assert lo == 500 and hi == 5000


def test_flat_channel_gets_a_usable_range():
    ((lo, hi),) = contrast_limits(np.zeros((1, 8, 8), np.uint16))
    assert hi > lo


def test_floating_point_intensities_get_the_limits_of_the_same_image_stored_as_integers():
    """0-1 intensities (a float32 OME-TIFF) were given (lo, lo + 1): every channel drawn near black."""
    rng = np.random.default_rng(0)
    img = rng.gamma(2.0, 3000.0, (2, 64, 64)).clip(0, 65534).astype(np.uint16)
    as_float = img.astype(np.float32) / 65535
    for (lo, hi), (ilo, ihi) in zip(contrast_limits(as_float), contrast_limits(img)):
        assert hi - lo < 0.5
        assert np.isclose(lo * 65535, ilo, rtol=0.02, atol=2) and np.isclose(hi * 65535, ihi, rtol=0.02)
    ((lo, hi),) = contrast_limits(np.full((1, 8, 8), 0.25, np.float32))
    assert hi > lo
