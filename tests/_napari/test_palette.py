"""Overlay colours never read as an IF marker, and colours shown together are told apart."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from napari_ifcell._napari import palette
from napari_ifcell._napari.layers import CYCLE, ORION_COLORMAPS


def _lab(colour) -> np.ndarray:
    from skimage.color import rgb2lab
    from vispy.color import Color

    return rgb2lab(np.asarray(Color(colour).rgb, float)[None, None])[0, 0]


def _delta_e(a, b) -> float:
    from skimage.color import deltaE_ciede2000

    return float(deltaE_ciede2000(_lab(a), _lab(b)))


def _channel_colours() -> dict[str, str]:
    """The brightest colour of every colormap the Loader gives an IF channel."""
    from napari.utils.colormaps import ensure_colormap

    out = {}
    for name in set(ORION_COLORMAPS.values()) | set(CYCLE):
        r, g, b = ensure_colormap(name).map(np.array([1.0]))[0, :3]
        out[name] = f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"
    return out


GROUPS = {
    "gate states": list(palette.STATE_COLOURS),
    "classes": [*palette.CLASS_COLOURS.values(), *palette.EXTRA_CLASS_COLOURS, *palette.RESERVED_COLOURS.values()],
    "outcomes": list(palette.OUTCOME_COLOURS.values()),
    "review": [*palette.CLASS_COLOURS.values(), palette.REJECTED_COLOUR, palette.CURRENT_COLOUR],
    "regions": [palette.REGION_COLOUR_ON_DARK, palette.REGION_COLOUR_ON_LIGHT],
}


@pytest.mark.parametrize("group", GROUPS)
def test_no_overlay_colour_is_an_if_channel_colour(group):
    channels = _channel_colours()
    assert "#ffff00" in channels.values() and "#ff00ff" in channels.values()  # CD20, CD3e
    for colour in GROUPS[group]:
        nearest = min(channels, key=lambda c: _delta_e(colour, channels[c]))
        assert _delta_e(colour, channels[nearest]) >= palette.MIN_DELTA_E, (group, colour, nearest)


@pytest.mark.parametrize("group", GROUPS)
def test_colours_shown_together_differ(group):
    for a, b in itertools.combinations(GROUPS[group], 2):
        assert _delta_e(a, b) >= 10, (group, a, b)


def test_legend_names_each_colour():
    html = palette.legend_html([("positive", "#ff9896"), ("B <cell>", "#f7b6d2")], title="CD20")
    assert "#ff9896" in html and "positive" in html and "B &lt;cell&gt;" in html and "<b>CD20</b>" in html


# typical H&E colours: eosin pink (stroma, cytoplasm), pale eosin, haematoxylin purple (nuclei)
H_AND_E = {"eosin": "#e7a1c0", "pale eosin": "#f2c6dc", "haematoxylin": "#5b3a8e"}


def test_class_colours_read_over_h_and_e():
    """Cells recoloured by class over an H&E: a pink class once vanished into eosin."""
    for colour in [*palette.CLASS_COLOURS.values(), *palette.EXTRA_CLASS_COLOURS]:
        nearest = min(H_AND_E, key=lambda name: _delta_e(colour, H_AND_E[name]))
        assert _delta_e(colour, H_AND_E[nearest]) >= 20, (colour, nearest)


def test_custom_classes_take_the_extra_colours_alphabetically_and_exports_use_the_same_colours():
    from napari_ifcell.core.classes import class_rgb

    colours = palette.class_palette(["tumour", "CD8 T", "stroma", "unknown"])
    # a reviewer's "not a cell" in a reviewed table's export shifts no other class's colour
    rejected = palette.class_palette(["tumour", "CD8 T", "stroma", "unknown", "not a cell"])
    assert rejected == {**colours, "not a cell": palette.RESERVED_COLOURS["not a cell"]}
    assert colours == {
        "tumour": palette.EXTRA_CLASS_COLOURS[1],
        "CD8 T": palette.CLASS_COLOURS["CD8 T"],
        "stroma": palette.EXTRA_CLASS_COLOURS[0],
        "unknown": palette.RESERVED_COLOURS["unknown"],
    }
    exported = class_rgb(["B cell", None, "tumour", "stroma", "B cell"])
    as_hex = {name: "#{:02x}{:02x}{:02x}".format(*rgb) for name, rgb in exported.items()}
    assert as_hex == {"B cell": "#1f77b4", "tumour": colours["tumour"], "stroma": colours["stroma"]}


def test_a_rejected_cell_is_told_from_other_and_inconsistent_cells():
    """A reviewed table's export: 'not a cell' was a lighter grey beside 'other' (Delta E 10.6),
    read as one class in QuPath."""
    rejected = palette.RESERVED_COLOURS["not a cell"]
    for name in ("other", "inconsistent", "unknown"):
        colour = {**palette.CLASS_COLOURS, **palette.RESERVED_COLOURS}[name]
        assert _delta_e(rejected, colour) >= 15, name
