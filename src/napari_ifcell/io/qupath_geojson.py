"""Cells as QuPath-compatible GeoJSON: one Feature per cell, its nucleus outline as a Polygon
in level-0 pixel x/y, ``objectType: "detection"`` and ``classification: {name, color}``."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from napari_ifcell.io.atomic import atomic_write

CLASS_COLOURS = {
    "CD4 T": (0, 200, 255),
    "CD8 T": (255, 215, 0),
    "B cell": (255, 64, 64),
    "macrophage": (255, 140, 0),
    "other": (150, 150, 150),
    "lymphocyte": (255, 0, 255),
}
BLOCK = 1024


def cell_outlines(read, cells: pd.DataFrame) -> dict[int, np.ndarray]:
    """``{CellID: (K, 2) x/y closed ring}`` from a label reader ``read(y, x, h, w)`` and the
    cells' bounding boxes (``y0, x0, y1, x1``); blocks of the slide are read once each."""
    from skimage.measure import find_contours

    out: dict[int, np.ndarray] = {}
    block = (cells["y0"].to_numpy() // BLOCK) * 1_000_000 + cells["x0"].to_numpy() // BLOCK
    for _, group in cells.groupby(block):
        y0, x0 = int(group.y0.min()) - 1, int(group.x0.min()) - 1
        y1, x1 = int(group.y1.max()) + 1, int(group.x1.max()) + 1
        labels = read(y0, x0, y1 - y0, x1 - x0)
        boxes = group[["y0", "x0", "y1", "x1"]].to_numpy()
        for cell_id, (cy0, cx0, cy1, cx1) in zip(group["CellID"].to_numpy(), boxes):
            sub = labels[int(cy0) - y0 - 1 : int(cy1) - y0 + 1, int(cx0) - x0 - 1 : int(cx1) - x0 + 1]
            contours = find_contours((sub == cell_id).astype(float), 0.5)
            if not contours:
                continue
            ring = max(contours, key=len)  # (row, col), relative to sub
            xy = np.column_stack([ring[:, 1] + cx0 - 1, ring[:, 0] + cy0 - 1])
            if not np.array_equal(xy[0], xy[-1]):
                xy = np.vstack([xy, xy[:1]])
            out[int(cell_id)] = np.round(xy, 2)
    return out


def store_outlines(store, cell_ids) -> dict[int, np.ndarray]:
    """:func:`cell_outlines` of the cells ``cell_ids`` of a label store (boxes from its index)."""
    index = store.index
    return cell_outlines(store.read, index[index["CellID"].isin(cell_ids)])


def cells_geojson(table: pd.DataFrame, outlines: dict[int, np.ndarray], *, class_column: str, measurements=()) -> dict:
    """A FeatureCollection; cells without an outline become Points at their centroid."""
    features = []
    names = table[class_column].to_numpy(object)
    values = {m: table[m].to_numpy(float) for m in measurements}
    xs, ys = table["X_centroid"].to_numpy(float), table["Y_centroid"].to_numpy(float)
    for i, cell in enumerate(table["CellID"].to_numpy(np.int64).tolist()):
        props = {"objectType": "detection", "isLocked": False, "name": str(cell)}
        if isinstance(names[i], str):
            props["classification"] = {"name": names[i], "color": list(CLASS_COLOURS.get(names[i], (200, 200, 200)))}
        measured = {m: float(v[i]) for m, v in values.items() if np.isfinite(v[i])}
        if measured:
            props["measurements"] = measured
        ring = outlines.get(cell)
        geometry = (
            {"type": "Polygon", "coordinates": [ring.tolist()]}
            if ring is not None and len(ring) >= 4
            else {"type": "Point", "coordinates": [xs[i], ys[i]]}
        )
        features.append(
            {
                "type": "Feature",
                "id": str(uuid.uuid5(uuid.NAMESPACE_OID, f"napari-ifcell/{cell}")),
                "geometry": geometry,
                "properties": props,
            }
        )
    return {"type": "FeatureCollection", "features": features}


def write_geojson(doc: dict, path: str | Path) -> Path:
    return atomic_write(Path(path), lambda p: p.write_text(json.dumps(doc), encoding="utf-8"))
