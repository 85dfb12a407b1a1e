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
