"""The label store's cell index from label pixels: each cell's pixel count, coordinate sums and
bounding box over a window (``chunk_index_sums``), added up over the windows a cell spans
(``index_from_sums``) into one row per cell: centroid, bounding box, area."""

from __future__ import annotations

import numpy as np
import pandas as pd

INDEX_COLUMNS = ("CellID", "Y_centroid", "X_centroid", "y0", "x0", "y1", "x1", "Area", "run")


def chunk_index_sums(labels: np.ndarray, origin: tuple[int, int]) -> pd.DataFrame:
    """Per cell of a chunk: pixel count, sums of slide rows and columns, bounding box."""
    flat = np.flatnonzero(labels)
    if flat.size == 0:
        return pd.DataFrame(columns=["CellID", "n", "sy", "sx", "y0", "x0", "y1", "x1"])
    ids = labels.ravel()[flat].astype(np.int64)
    rows, cols = np.divmod(flat, labels.shape[1])
    rows, cols = rows + origin[0], cols + origin[1]
    frame = pd.DataFrame({"CellID": ids, "y": rows, "x": cols})
    grouped = frame.groupby("CellID", sort=True)
    out = grouped.agg(
        n=("y", "size"),
        sy=("y", "sum"),
        sx=("x", "sum"),
        y0=("y", "min"),
        x0=("x", "min"),
        y1=("y", "max"),
        x1=("x", "max"),
    )
    out[["y1", "x1"]] += 1  # end exclusive, as regionprops' bbox
    return out.reset_index()


def index_from_sums(parts: list[pd.DataFrame], run: int) -> pd.DataFrame:
    """The store's cell index from every chunk's partial sums."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=list(INDEX_COLUMNS))
    if len(parts) == 1:  # one window: its cells are already one row each
        total = parts[0].set_index("CellID")
    else:
        grouped = pd.concat(parts, ignore_index=True).groupby("CellID", sort=True)
        total = grouped.agg(
            n=("n", "sum"), sy=("sy", "sum"), sx=("sx", "sum"), y0=("y0", "min"), x0=("x0", "min"), y1=("y1", "max")
        )
        total["x1"] = grouped["x1"].max()
    return pd.DataFrame(
        {
            "CellID": total.index.to_numpy(np.int64),
            "Y_centroid": total["sy"].to_numpy(np.float64) / total["n"].to_numpy(),
            "X_centroid": total["sx"].to_numpy(np.float64) / total["n"].to_numpy(),
            "y0": total["y0"].to_numpy(np.int64),
            "x0": total["x0"].to_numpy(np.int64),
            "y1": total["y1"].to_numpy(np.int64),
            "x1": total["x1"].to_numpy(np.int64),
            "Area": total["n"].to_numpy(np.int64),
            "run": run,
        }
    )


PLACE_SAMPLE = 2000  # table rows checked against the index: enough to tell, cheap on a million cells


def cells_elsewhere(index: pd.DataFrame, table: pd.DataFrame) -> tuple[int, pd.DataFrame]:
    """Of a sample of ``table``'s cells (with ``X_centroid``/``Y_centroid`` in px), how many were
    checked and those whose centroid lies outside the index's cell of that id, its box grown by
    half its size on each side (a whole-cell centroid measured for a nucleus stays inside):
    a table of other cells that reuse the ids (columns CellID, table's Y/X, index's Y/X)."""
    if not {"CellID", "X_centroid", "Y_centroid"} <= set(table.columns) or not len(table):
        return 0, table.iloc[:0]
    rows = table[["CellID", "Y_centroid", "X_centroid"]]
    if len(rows) > PLACE_SAMPLE:
        rows = rows.sample(PLACE_SAMPLE, random_state=0)
    columns = ["CellID", "Y_centroid", "X_centroid", "y0", "x0", "y1", "x1"]
    both = rows.astype({"CellID": np.int64}).merge(
        index[columns].astype({"CellID": np.int64}), on="CellID", suffixes=("", "_store")
    )
    inside = np.ones(len(both), bool)
    for axis in ("y", "x"):
        low, high = both[f"{axis}0"].to_numpy(float), both[f"{axis}1"].to_numpy(float)
        grow = np.maximum((high - low) / 2, 2.0)
        at = both[f"{axis.upper()}_centroid"].to_numpy(float)
        inside &= (at >= low - grow) & (at <= high + grow)
    return len(both), both[~inside]
