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
