"""The ground-truth cell table of the synthetic slide."""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_ifcell.orion import ORION_CHANNELS
from napari_ifcell.synth.layout import REGION_CODES
from napari_ifcell.synth.markers import CELL_TYPES, LYMPHOCYTE_TYPES
from napari_ifcell.synth.render import Scene

REGION_NAMES = {code: name for name, code in REGION_CODES.items()}


def cell_table(scene: Scene, sums: np.ndarray, pixel_size_um: float) -> pd.DataFrame:
    """One row per cell visible in the label image, MCMICRO-style names where they exist.

    ``sums`` holds, per label, the pixel count and the sums of y and x (from the rendered
    labels), so ``X_centroid``/``Y_centroid``/``Area`` match what regionprops measures.
    """
    cells = scene.cells
    area = sums[0, 1:]
    visible = area > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        cy, cx = sums[1, 1:] / area + 0.0, sums[2, 1:] / area
    types = np.asarray(CELL_TYPES)[cells.type_code]
    table = {
        "CellID": np.arange(1, len(cells) + 1),
        "X_centroid": cx,
        "Y_centroid": cy,
        "Area": area.astype(np.int64),
        "type": types,
        "is_lymphocyte": np.isin(types, LYMPHOCYTE_TYPES),
        "region": [REGION_NAMES[int(r)] for r in cells.region],
        "ambiguous": cells.dim.any(axis=1),
        "overexposed": cells.overexposed,
    }
    for c, marker in enumerate(ORION_CHANNELS):
        table[f"{marker}_positive"] = cells.positive[:, c]
    frame = pd.DataFrame(table)
    frame = frame[visible].reset_index(drop=True)
    frame["X_centroid_um"] = frame["X_centroid"] * pixel_size_um
    frame["Y_centroid_um"] = frame["Y_centroid"] * pixel_size_um
    return frame
