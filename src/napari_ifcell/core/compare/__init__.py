"""Comparing models region by region: one-to-one point matching within a radius in µm,
model type maps, and the per-region report with a Total row.

This package's names are the scripting API."""

from napari_ifcell.core.compare.matching import match_points
from napari_ifcell.core.compare.report import OUTCOME_CODES, comparison_counts, comparison_report, score_cells
from napari_ifcell.core.compare.type_maps import COMPARISON_CLASSES, PRESETS, TypeMap, type_map

__all__ = [
    "COMPARISON_CLASSES",
    "OUTCOME_CODES",
    "PRESETS",
    "TypeMap",
    "comparison_counts",
    "comparison_report",
    "match_points",
    "score_cells",
    "type_map",
]
