"""Overlays drawn through a per-cell lookup table (gate states, predicted classes) follow the
table at every zoom: napari keeps a pyramid's coarsest level across ``refresh()``."""

from __future__ import annotations

import numpy as np
import pytest
from napari.utils.colormaps import DirectLabelColormap

from napari_ifcell._napari.layers import redraw_lookup
from napari_ifcell.core.display import LookupView

COARSEST = 3


@pytest.fixture
def overlay(make_napari_viewer, qtbot):
    """A 4-level pyramid of 16 cells drawn through an empty lookup (before a prediction), the
    whole slide in view."""
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(800, 600)
    cells = np.repeat(np.repeat(np.arange(1, 17, dtype=np.uint32).reshape(4, 4), 1024, 0), 1024, 1)
    lut = np.zeros(17, np.uint8)
    colours = {None: "transparent", 0: "transparent", 1: "red", 2: "blue", 3: "green"}
    layer = viewer.add_labels(
        [LookupView(cells[::step, ::step], lut) for step in (1, 2, 4, 8)],
        multiscale=True,
        colormap=DirectLabelColormap(color_dict=colours),
    )
    viewer.reset_view()
    qtbot.wait(50)
    assert layer.data_level == COARSEST
    return viewer, layer, lut


def test_a_whole_slide_view_shows_the_lookup_as_changed(overlay, qtbot):
    _, layer, lut = overlay
    lut[1:] = np.arange(16) % 3 + 1  # the prediction arrives
    redraw_lookup(layer)
    qtbot.wait(50)
    assert set(np.unique(np.asarray(layer._data_view))) == {1, 2, 3}


def test_a_change_made_zoomed_in_shows_when_zoomed_out(overlay, qtbot):
    viewer, layer, lut = overlay
    viewer.camera.zoom *= 16
    qtbot.wait(50)
    assert layer.data_level < COARSEST
    lut[1:] = np.arange(16) % 3 + 1  # a gate moved, or a prediction arrived, zoomed in
    redraw_lookup(layer)
    viewer.reset_view()  # the whole slide again
    qtbot.wait(50)
    assert layer.data_level == COARSEST
    assert set(np.unique(np.asarray(layer._data_view))) == {1, 2, 3}
