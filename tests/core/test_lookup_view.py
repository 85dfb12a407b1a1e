import numpy as np

from napari_ifcell.core.display import LookupView


def test_reads_through_the_lookup_and_follows_changes():
    base = np.array([[0, 1, 2], [2, 9, 1]], np.uint32)
    lut = np.array([0, 3, 4], np.uint8)
    view = LookupView(base, lut)
    assert view.shape == (2, 3) and view.dtype == np.uint8
    np.testing.assert_array_equal(view[:, :], [[0, 3, 4], [4, 0, 3]])  # label 9 is past the table: 0
    lut[1] = 7  # recolouring changes the table only
    np.testing.assert_array_equal(view[1], [4, 0, 7])
    np.testing.assert_array_equal(np.asarray(view), [[0, 7, 4], [4, 0, 7]])


def test_a_table_ending_in_background_reads_labels_beyond_it_as_background():
    """The gating table ends with a 0 entry: the fast path (one clipped take) gives the same."""
    base = np.array([[0, 1, 2], [3, 9, 70000]], np.uint32)
    lut = np.array([0, 3, 4, 0], np.uint8)
    np.testing.assert_array_equal(LookupView(base, lut)[:], [[0, 3, 4], [0, 0, 0]])
    lut[3] = 5  # no longer ending in 0: the general path, same meaning
    np.testing.assert_array_equal(LookupView(base, lut)[:], [[0, 3, 4], [5, 0, 0]])
