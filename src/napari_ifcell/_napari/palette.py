"""Every overlay colour of the plugin in one place, and the legends that explain them.

Overlays sit on top of IF channels drawn in saturated colormaps (blue, green, magenta,
yellow, red, cyan, orange, purple, white): an overlay in one of those colours reads as a
marker. So each colour here is at least ``MIN_DELTA_E`` (CIEDE2000) from the brightest colour
of every colormap the Loader gives an IF channel (checked by the tests), and colours shown
together differ from each other."""

from __future__ import annotations

from html import escape

MIN_DELTA_E = 15.0

# gate states: negative, uncertain, positive, over-exposed
STATE_COLOURS = ("#4c78a8", "#bbbbbb", "#ff9896", "#7570b3")

# classes (review classes, phenotypes, predicted classes): the same class, the same colour
CLASS_COLOURS = {
    "CD4 T": "#1b9e77",
    "CD8 T": "#bcbd22",
    "B cell": "#f7b6d2",
    "macrophage": "#8c564b",
    "other": "#7f7f7f",
}
EXTRA_CLASS_COLOURS = ("#aec7e8", "#c49c94", "#20b2aa", "#808000", "#e7298a", "#9d755d")
RESERVED_COLOURS = {"unknown": "#ffe4b5", "inconsistent": "#000000"}

# a model's calls against the truth (classifier: per cell; compare: per detection)
OUTCOME_COLOURS = {"TP": "#1b9e77", "FP": "#ff9896", "FN": "#aec7e8", "TN": "#666666", "ignored": "#999999"}

REJECTED_COLOUR = "#ffe4b5"  # review: a cell rejected as not a cell
CURRENT_COLOUR = "#c5b0d5"  # review: the ring on the current cell
REGION_COLOUR_ON_DARK = "#ffe4b5"  # region outlines and names over IF (dark)
REGION_COLOUR_ON_LIGHT = "#000080"  # ... over H&E (light)

MODEL_SYMBOLS = ("disc", "square", "triangle_up", "diamond", "star")  # compare: one per model


def class_colour(name: str, index: int) -> str:
    """A class's colour: its own when it has one, else the next extra colour."""
    if name in CLASS_COLOURS:
        return CLASS_COLOURS[name]
    if name in RESERVED_COLOURS:
        return RESERVED_COLOURS[name]
    return EXTRA_CLASS_COLOURS[index % len(EXTRA_CLASS_COLOURS)]


def legend_html(entries, *, title: str = "", symbol: str = "&#9632;") -> str:
    """A legend for a Qt label: one coloured swatch and name per ``(name, colour)`` entry."""
    swatches = [f'<span style="color: {colour}">{symbol}</span>&nbsp;{escape(str(name))}' for name, colour in entries]
    head = f"<b>{escape(title)}</b>&nbsp; " if title else ""
    return head + " &nbsp; ".join(swatches)
