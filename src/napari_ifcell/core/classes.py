"""The cell classes every capability speaks of (Immunocto's five), where the gating
phenotypes go, and the groups the papers report (T cells, lymphocytes)."""

from __future__ import annotations

CLASSES = ("CD4 T", "CD8 T", "B cell", "macrophage", "other")

# gating phenotypes -> classes; unknown / inconsistent cells get no class
CLASS_OF_PHENOTYPE = {
    "CD4 T": "CD4 T",
    "regulatory T": "CD4 T",
    "CD8 T": "CD8 T",
    "B cell": "B cell",
    "macrophage": "macrophage",
    "other": "other",
}

# aggregated rows (Immunocto Table 2): a CD4 T called CD8 T is a correct lymphocyte
CLASS_GROUPS = {"T cells": ("CD4 T", "CD8 T"), "lymphocytes": ("CD4 T", "CD8 T", "B cell")}
LYMPHOCYTE_CLASSES = CLASS_GROUPS["lymphocytes"]


# the same class, the same colour: in every overlay of the viewer and in every export (QuPath,
# OME-Zarr label colours). Chosen to read over IF channels (see the viewer's palette) and over
# H&E's pink eosin and purple haematoxylin.
CLASS_COLOURS = {
    "CD4 T": "#1b9e77",
    "CD8 T": "#bcbd22",
    "B cell": "#1f77b4",
    "macrophage": "#8c564b",
    "other": "#7f7f7f",
}
EXTRA_CLASS_COLOURS = ("#aec7e8", "#004d40", "#20b2aa", "#808000", "#e7298a", "#9d755d")
# "not a cell": a reviewer's rejection (core.review.state.NOT_A_CELL), kept out of the extra
# colours so it shifts no other class's colour
RESERVED_COLOURS = {"unknown": "#ffe4b5", "inconsistent": "#a6761d", "not a cell": "#4d4d4d"}  # seen on IF and H&E


def class_palette(names) -> dict[str, str]:
    """Each name's colour (``#rrggbb``): its own when it has one; other classes take the extra
    colours in alphabetical order, so the viewer and every export give a class the same one."""
    out = {}
    custom = sorted({n for n in names if n not in CLASS_COLOURS and n not in RESERVED_COLOURS})
    for name in names:
        if name in CLASS_COLOURS:
            out[name] = CLASS_COLOURS[name]
        elif name in RESERVED_COLOURS:
            out[name] = RESERVED_COLOURS[name]
        else:
            out[name] = EXTRA_CLASS_COLOURS[custom.index(name) % len(EXTRA_CLASS_COLOURS)]
    return out


def class_rgb(names) -> dict[str, tuple[int, int, int]]:
    """The class colours as 0..255 RGB (QuPath and OME-Zarr store colours so), for the class
    names among ``names`` (None and other non-names skipped)."""
    present = sorted({n for n in names if isinstance(n, str)})
    return {name: (int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16)) for name, c in class_palette(present).items()}
