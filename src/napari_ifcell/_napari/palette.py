"""Every overlay colour of the plugin in one place, and the legends that explain them.

Overlays sit on top of IF channels drawn in saturated colormaps (blue, green, magenta,
yellow, red, cyan, orange, purple, white): an overlay in one of those colours reads as a
marker. So each colour here is at least ``MIN_DELTA_E`` (CIEDE2000) from the brightest colour
of every colormap the Loader gives an IF channel (checked by the tests), and colours shown
together differ from each other."""

from __future__ import annotations

from html import escape

from napari_ifcell.core.classes import CLASS_COLOURS, EXTRA_CLASS_COLOURS, RESERVED_COLOURS, class_palette

__all__ = ["CLASS_COLOURS", "EXTRA_CLASS_COLOURS", "RESERVED_COLOURS", "class_palette", "legend_html"]

MIN_DELTA_E = 15.0

# gate states: negative, uncertain, positive, over-exposed
STATE_COLOURS = ("#4c78a8", "#bbbbbb", "#ff9896", "#7570b3")

# classes (review classes, phenotypes, predicted classes): CLASS_COLOURS, EXTRA_CLASS_COLOURS,
# RESERVED_COLOURS and class_palette come from core.classes, as the exports use them too

# a model's calls against the truth (classifier: per cell; compare: per detection)
OUTCOME_COLOURS = {"TP": "#1b9e77", "FP": "#ff9896", "FN": "#aec7e8", "TN": "#666666", "ignored": "#999999"}

REJECTED_COLOUR = "#ffe4b5"  # review: a cell rejected as not a cell
CURRENT_COLOUR = "#c5b0d5"  # review: the ring on the current cell
REGION_COLOUR_ON_DARK = "#ffe4b5"  # region outlines and names over IF (dark)
REGION_COLOUR_ON_LIGHT = "#000080"  # ... over H&E (light)

MODEL_SYMBOLS = ("disc", "square", "triangle_up", "diamond", "star")  # compare: one per model


def legend_html(entries, *, title: str = "", symbol: str = "&#9632;") -> str:
    """A legend for a Qt label: one coloured swatch and name per ``(name, colour)`` entry."""
    swatches = [f'<span style="color: {colour}">{symbol}</span>&nbsp;{escape(str(name))}' for name, colour in entries]
    head = f"<b>{escape(title)}</b>&nbsp; " if title else ""
    return head + " &nbsp; ".join(swatches)
