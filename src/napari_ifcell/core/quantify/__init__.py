"""Per-cell quantification: nucleus / cell / ring compartments, marker statistics and
morphology, in MCMICRO's column layout.

This package's names are the scripting API."""

from napari_ifcell.core.quantify.cells import (
    COMPARTMENTS,
    STATISTICS,
    QuantifySettings,
    compartment_labels,
    intensity_statistics,
    morphology,
    quantify_cells,
)

__all__ = [
    "COMPARTMENTS",
    "STATISTICS",
    "QuantifySettings",
    "compartment_labels",
    "intensity_statistics",
    "morphology",
    "quantify_cells",
]
