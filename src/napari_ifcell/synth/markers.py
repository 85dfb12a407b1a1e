"""Cell types of the synthetic slide and the markers each one expresses.

Probabilities below 1 model markers that only some cells of a type carry (Ki67 in
proliferating tumour cells, PD-1 on exhausted T cells, CD45RO on memory T cells).
"""

from __future__ import annotations

from napari_ifcell.orion import ORION_CHANNELS

CELL_TYPES = (
    "tumour",
    "stromal",
    "endothelial",
    "CD4 T",
    "CD8 T",
    "regulatory T",
    "B",
    "macrophage",
)
LYMPHOCYTE_TYPES = ("CD4 T", "CD8 T", "regulatory T", "B")

# marker -> probability a cell of the type is positive
MARKER_PROFILES: dict[str, dict[str, float]] = {
    "tumour": {"Pan-CK": 1, "E-cadherin": 1, "Ki67": 0.35, "PD-L1": 0.15},
    "stromal": {"SMA": 1, "Ki67": 0.03},
    "endothelial": {"CD31": 1},
    "CD4 T": {"CD45": 1, "CD3e": 1, "CD4": 1, "CD45RO": 0.5, "PD-1": 0.2, "Ki67": 0.1},
    "CD8 T": {"CD45": 1, "CD3e": 1, "CD8a": 1, "CD45RO": 0.5, "PD-1": 0.25, "Ki67": 0.1},
    "regulatory T": {"CD45": 1, "CD3e": 1, "CD4": 1, "FOXP3": 1, "CD45RO": 0.6},
    "B": {"CD45": 1, "CD20": 1, "Ki67": 0.15},
    "macrophage": {"CD45": 1, "CD68": 1, "CD163": 0.7, "PD-L1": 0.4},
}

# Brightness of a positive cell above background, per marker (uint16 counts).
MARKER_BRIGHTNESS = {
    "Hoechst": 12000,
    "AF1": 0,
    "CD31": 6000,
    "CD45": 7000,
    "CD68": 6000,
    "Argo550": 0,
    "CD4": 5000,
    "FOXP3": 6000,
    "CD8a": 6000,
    "CD45RO": 4000,
    "CD20": 7000,
    "PD-L1": 3500,
    "CD3e": 6000,
    "CD163": 5000,
    "E-cadherin": 7000,
    "PD-1": 4000,
    "Ki67": 8000,
    "Pan-CK": 9000,
    "SMA": 7000,
}
# Camera offset per channel and how much autofluorescence (AF1) bleeds into it.
BACKGROUND = {name: 300 + 15 * i for i, name in enumerate(ORION_CHANNELS)}
AF_BLEED = {
    "Hoechst": 0.05,
    "AF1": 1.0,
    "CD31": 0.15,
    "CD45": 0.2,
    "CD68": 0.25,
    "Argo550": 0.0,
    "CD4": 0.2,
    "FOXP3": 0.1,
    "CD8a": 0.15,
    "CD45RO": 0.2,
    "CD20": 0.1,
    "PD-L1": 0.25,
    "CD3e": 0.15,
    "CD163": 0.3,
    "E-cadherin": 0.2,
    "PD-1": 0.15,
    "Ki67": 0.05,
    "Pan-CK": 0.1,
    "SMA": 0.3,
}
# Hoechst brightness by type: lymphocyte chromatin is dense.
HOECHST_FACTOR = {"tumour": 0.8, "stromal": 0.9, "endothelial": 0.9, "macrophage": 0.75}
# Hematoxylin density of the nucleus and eosin density of the cytoplasm in H&E.
HEMATOXYLIN = {"tumour": 0.55, "stromal": 0.8, "endothelial": 0.8, "macrophage": 0.55}
LYMPHOCYTE_HEMATOXYLIN = 1.0
EOSIN_CYTOPLASM = {"tumour": 0.55, "macrophage": 0.45}
DEFAULT_EOSIN_CYTOPLASM = 0.3

# Nuclear shape per type: semi-major axis (µm, mean and sd), minor/major ratio range and
# boundary irregularity (amplitude of the radial harmonics).
MORPHOLOGY = {
    "tumour": (5.0, 0.7, (0.6, 0.9), 0.10),
    "stromal": (5.5, 0.8, (0.25, 0.4), 0.03),
    "endothelial": (4.5, 0.6, (0.3, 0.45), 0.03),
    "CD4 T": (3.0, 0.25, (0.85, 1.0), 0.02),
    "CD8 T": (2.9, 0.25, (0.85, 1.0), 0.02),
    "regulatory T": (3.0, 0.25, (0.85, 1.0), 0.02),
    "B": (3.1, 0.25, (0.85, 1.0), 0.02),
    "macrophage": (4.2, 0.5, (0.6, 0.8), 0.12),
}

# Tissue regions and the mix of cell types in each (fractions sum to 1).
REGIONS = ("background", "stroma", "tumour", "lymphoid aggregate")
REGION_MIX = {
    "stroma": {
        "stromal": 0.42,
        "endothelial": 0.10,
        "macrophage": 0.12,
        "CD4 T": 0.13,
        "CD8 T": 0.10,
        "regulatory T": 0.03,
        "B": 0.04,
        "tumour": 0.06,
    },
    "tumour": {
        "tumour": 0.86,
        "CD8 T": 0.04,
        "CD4 T": 0.02,
        "macrophage": 0.04,
        "regulatory T": 0.01,
        "B": 0.01,
        "stromal": 0.02,
    },
    "lymphoid aggregate": {
        "B": 0.45,
        "CD4 T": 0.24,
        "CD8 T": 0.12,
        "regulatory T": 0.05,
        "macrophage": 0.06,
        "stromal": 0.05,
        "endothelial": 0.03,
    },
}
# Grid spacing (µm) and occupancy of candidate cell positions per region.
REGION_PACKING = {"stroma": (10.0, 0.55), "tumour": (14.0, 0.95), "lymphoid aggregate": (7.5, 0.95)}
