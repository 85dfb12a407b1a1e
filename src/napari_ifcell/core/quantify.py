"""Per-cell marker intensities in nucleus, cell and ring compartments, and morphology.

The intensity statistics come from one sort of the foreground pixels by label, after which
every channel is summed per cell with ``np.add.reduceat`` in integers: exact, and equal to
``skimage.measure.regionprops_table``'s ``intensity_mean`` on the same input. Morphology
comes from ``regionprops_table`` itself, once per tile (it does not depend on channels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

COMPARTMENTS = ("nucleus", "cell", "ring")
STATISTICS = ("mean", "std", "median")
# Morphology in MCMICRO's column names, from the nucleus mask.
MORPHOLOGY = {
    "area": "Area", "axis_major_length": "MajorAxisLength", "axis_minor_length": "MinorAxisLength",
    "eccentricity": "Eccentricity", "solidity": "Solidity", "extent": "Extent", "orientation": "Orientation",
}  # fmt: skip


@dataclass(frozen=True)
class QuantifySettings:
    """How cells are measured; shared by the GUI, the CLI and the pipeline.

    ``expand_um``: how far the cell compartment grows around the nucleus (Orion's 5-px ring
    is 1.625 µm); neighbours never overlap. ``statistics``: any of "mean", "std", "median".
    ``tile`` and ``halo``: level-0 pixels per tile and the margin read around it (must hold
    the largest cell plus the expansion).
    """

    expand_um: float = 1.625
    statistics: tuple[str, ...] = ("mean", "std")
    compartments: tuple[str, ...] = COMPARTMENTS
    tile: int = 2048
    halo: int = 64

    def __post_init__(self):
        problems = [f"unknown statistic {s!r} (choose from {STATISTICS})" for s in self.statistics if s not in STATISTICS]
        problems += [f"unknown compartment {c!r} (choose from {COMPARTMENTS})" for c in self.compartments if c not in COMPARTMENTS]
        if self.expand_um < 0:
            problems.append(f"expand_um must be >= 0, got {self.expand_um}")
        if self.tile <= 0 or self.halo < 0:
            problems.append(f"tile must be > 0 and halo >= 0, got {self.tile}, {self.halo}")
        if problems:
            raise ValueError("invalid quantification settings: " + "; ".join(problems))

    def expand_px(self, pixel_size_um: float) -> int:
        return int(round(self.expand_um / pixel_size_um))


def compartment_labels(nuclei: np.ndarray, expand_px: int) -> dict[str, np.ndarray]:
    """Label images of the nucleus, the cell (nucleus grown without overlap) and the ring."""
    from skimage.segmentation import expand_labels

    cells = expand_labels(nuclei, expand_px) if expand_px > 0 else nuclei
    return {"nucleus": nuclei, "cell": cells, "ring": np.where(nuclei == 0, cells, 0)}


def intensity_statistics(
    labels: np.ndarray, image: np.ndarray, ids: np.ndarray, *, statistics=("mean",)
) -> dict[str, np.ndarray]:
    """Per-label statistics of every channel.

    Parameters
    ----------
    labels : (Y, X) int array
    image : (C, Y, X) array, integer or float
    ids : (n,) labels to report, in that order; a label with no pixels gives NaN.

    Returns
    -------
    dict
        statistic name -> ``(n, C)`` float64 array, plus ``"count"`` -> ``(n,)`` pixels.
    """
    n_channels = image.shape[0]
    flat = labels.ravel()
    foreground = np.flatnonzero(flat)
    order = np.argsort(flat[foreground], kind="stable")
    pixel_index = foreground[order]
    sorted_labels = flat[pixel_index]
    starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]]) if sorted_labels.size else np.zeros(0, int)
    present = sorted_labels[starts]
    counts = np.diff(np.r_[starts, sorted_labels.size])
    values = image.reshape(n_channels, -1)[:, pixel_index]
    integer = np.issubdtype(values.dtype, np.integer)
    acc = np.int64 if integer else np.float64

    out = {}
    per_present: dict[str, np.ndarray] = {}
    if present.size:
        sums = np.add.reduceat(values, starts, axis=1, dtype=acc).T
        per_present["mean"] = sums / counts[:, None]
        if "std" in statistics:
            wide = values.astype(acc)
            squares = np.add.reduceat(wide * wide, starts, axis=1).T
            variance = squares / counts[:, None] - per_present["mean"] ** 2
            per_present["std"] = np.sqrt(np.maximum(variance, 0))
        if "median" in statistics:
            per_present["median"] = _segment_medians(values, starts, counts)
    index_of = np.full(int(max(ids.max(initial=0), present.max(initial=0))) + 1, -1)
    index_of[present] = np.arange(present.size)
    row = index_of[ids]
    found = row >= 0
    out["count"] = np.where(found, counts[row] if present.size else 0, 0)
    for stat in statistics:
        table = np.full((ids.size, n_channels), np.nan)
        if present.size:
            table[found] = per_present[stat][row[found]]
        out[stat] = table
    return out


def _segment_medians(values: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Median of each label's pixels (segments of ``values`` along axis 1), every channel."""
    segment = np.repeat(np.arange(starts.size), counts)
    medians = np.empty((starts.size, values.shape[0]))
    lo = starts + (counts - 1) // 2
    hi = starts + counts // 2
    for c, channel in enumerate(values):
        ordered = channel[np.lexsort((channel, segment))].astype(np.float64)
        medians[:, c] = 0.5 * (ordered[lo] + ordered[hi])
    return medians


def morphology(nuclei: np.ndarray, ids: np.ndarray | None = None) -> pd.DataFrame:
    """Nuclear morphology and centroids (MCMICRO column names), one row per label."""
    from skimage.measure import regionprops_table

    props = regionprops_table(nuclei, properties=("label", "centroid", *MORPHOLOGY))
    table = pd.DataFrame(props).rename(columns={"label": "CellID", "centroid-0": "Y_centroid", "centroid-1": "X_centroid", **MORPHOLOGY})
    if ids is not None:
        table = table.set_index("CellID").loc[ids].reset_index()
    return table


def quantify_cells(
    nuclei: np.ndarray,
    image: np.ndarray,
    channel_names,
    *,
    settings: QuantifySettings = QuantifySettings(),
    pixel_size_um: float,
    origin: tuple[int, int] = (0, 0),
    owned: tuple[int, int, int, int] | None = None,
) -> pd.DataFrame:
    """The cell table of one tile.

    Parameters
    ----------
    nuclei : (Y, X) labels; image : (C, Y, X)
        The tile with its halo.
    origin : (y, x)
        Level-0 position of ``nuclei[0, 0]``; centroids are reported in slide pixels.
    owned : (y0, x0, y1, x1), optional
        Rows and columns of this array whose cells this tile reports: a cell belongs to the
        tile that holds its centroid, so cells cut by tile borders are counted once, whole.

    Returns
    -------
    DataFrame
        ``CellID``, ``X_centroid``, ``Y_centroid`` (px) and their ``_um``, morphology,
        ``<marker>`` (cell-compartment mean, as MCMICRO) and ``<marker>_<compartment>_<stat>``.
    """
    table = morphology(nuclei)
    if owned is not None:
        y0, x0, y1, x1 = owned
        inside = table["Y_centroid"].between(y0, y1, inclusive="left") & table["X_centroid"].between(x0, x1, inclusive="left")
        table = table[inside].reset_index(drop=True)
    ids = table["CellID"].to_numpy()
    table["Y_centroid"] += origin[0]
    table["X_centroid"] += origin[1]
    table["X_centroid_um"] = table["X_centroid"] * pixel_size_um
    table["Y_centroid_um"] = table["Y_centroid"] * pixel_size_um
    compartments = compartment_labels(nuclei, settings.expand_px(pixel_size_um))
    columns = {}
    stats_needed = tuple(dict.fromkeys(("mean", *settings.statistics)))
    for name in settings.compartments:
        result = intensity_statistics(compartments[name], image, ids, statistics=stats_needed)
        columns[f"{name}_area"] = result["count"]
        for stat in settings.statistics:
            for c, marker in enumerate(channel_names):
                columns[f"{marker}_{name}_{stat}"] = result[stat][:, c]
        if name == "cell":
            for c, marker in enumerate(channel_names):
                columns[marker] = result["mean"][:, c]
    return pd.concat([table, pd.DataFrame(columns, index=table.index)], axis=1)
