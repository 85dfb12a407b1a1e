"""Per-cell quantification: nucleus / cell / ring compartments, marker statistics and
morphology, in MCMICRO's column layout.

This package's names are the scripting API."""

from napari_ifcell.core.quantify.cells import (
    COMPARTMENTS,
    STATISTICS,
    QuantifySettings,
    compartment_labels,
    intensity_statistics,
    quantify_cells,
)
from napari_ifcell.core.quantify.morphology import MORPHOLOGY, morphology

__all__ = [
    "COMPARTMENTS",
    "MORPHOLOGY",
    "STATISTICS",
    "QuantifySettings",
    "compartment_labels",
    "intensity_statistics",
    "morphology",
    "quantify_cells",
]
