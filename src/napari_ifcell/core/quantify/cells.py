"""Per-cell marker intensities in nucleus, cell and ring compartments, and morphology.

The intensity statistics of all channels and all three compartments come from one pass
over the cells' pixels (a sparse indicator matrix times the pixel values), summed in
integers: exact, and equal to ``skimage.measure.regionprops_table``'s ``intensity_mean``. Morphology
(``core.quantify.morphology``) is computed once per tile for all cells, from the labels alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from napari_ifcell.core.quantify.morphology import morphology

COMPARTMENTS = ("nucleus", "cell", "ring")
STATISTICS = ("mean", "std", "median")


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
        problems = [
            f"unknown statistic {s!r} (choose from {STATISTICS})" for s in self.statistics if s not in STATISTICS
        ]
        problems += [
            f"unknown compartment {c!r} (choose from {COMPARTMENTS})"
            for c in self.compartments
            if c not in COMPARTMENTS
        ]
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


def _segment_sums(keys: np.ndarray, values: np.ndarray, n_keys: int) -> np.ndarray:
    """Per-key sums of every channel in one pass: an indicator matrix (keys x pixels, one
    entry per pixel, so no sort) times the pixels-by-channels values."""
    import scipy.sparse as sp

    indicator = sp.csc_matrix(
        (np.ones(keys.size, values.dtype), keys, np.arange(keys.size + 1)), shape=(n_keys, keys.size)
    )
    return np.asarray(indicator @ values.T)


def _accumulator(dtype, max_count: int, power: int = 1) -> type:
    """The narrowest exact type for sums of ``max_count`` values (to the ``power``):
    int32 where it cannot overflow, halving the memory traffic of the large case."""
    if not np.issubdtype(dtype, np.integer):
        return np.float64
    return np.int32 if int(np.iinfo(dtype).max) ** power * max_count < 2**31 else np.int64


def compartment_statistics(
    nuclei: np.ndarray, cells: np.ndarray, image: np.ndarray, ids: np.ndarray, *, statistics=("mean",)
) -> dict[str, dict[str, np.ndarray]]:
    """Statistics of every channel in the nucleus, ring and cell of each label, in one pass.

    Each pixel of a cell is keyed ``2 * label + (pixel is in the ring)``; sums per key give
    nucleus and ring, and their totals the cell (the two are disjoint). Integer images are
    summed in integers, so means equal ``regionprops_table``'s exactly.

    Returns
    -------
    dict
        compartment -> {"count": (n,), stat: (n, C)} for ``ids`` (NaN where a compartment
        of a label has no pixels).
    """
    n_channels = image.shape[0]
    flat_cells = cells.ravel()
    foreground = np.flatnonzero(flat_cells)
    codes, id_codes, n_codes = _compact(flat_cells[foreground], np.asarray(ids))
    keys = codes * np.int32(2)
    keys += nuclei.ravel()[foreground] == 0
    n_keys = 2 * n_codes
    counts = np.bincount(keys, minlength=n_keys)
    pixels = image.reshape(n_channels, cells.size)[:, foreground]  # 0 channels: morphology only
    max_count = int(counts.max(initial=0))
    sums = _segment_sums(keys, pixels.astype(_accumulator(pixels.dtype, max_count), copy=False), n_keys)
    squares = None
    if "std" in statistics:
        wide: np.ndarray = pixels.astype(_accumulator(pixels.dtype, max_count, power=2), copy=False)
        squares = _segment_sums(keys, wide * wide, n_keys)
    rows = {"nucleus": [2 * id_codes], "ring": [2 * id_codes + 1], "cell": [2 * id_codes, 2 * id_codes + 1]}
    out = {}
    for name, parts in rows.items():
        count = sum(counts[r] for r in parts)
        total = sum(sums[r] for r in parts)
        with np.errstate(invalid="ignore", divide="ignore"):
            result = {"count": count, "mean": np.where(count[:, None] > 0, total / count[:, None], np.nan)}
            if squares is not None:
                variance = sum(squares[r] for r in parts) / count[:, None] - result["mean"] ** 2
                result["std"] = np.sqrt(np.maximum(variance, 0))
        if "median" in statistics:
            labels = {"nucleus": nuclei, "ring": np.where(nuclei == 0, cells, 0), "cell": cells}[name]
            result["median"] = _medians(labels, image, ids)
        out[name] = result
    return out


def _compact(labels: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Small consecutive codes for the labels present (cell ids may be large, e.g. unique
    across segmentation runs); ids absent from the pixels get a code with no pixels."""
    top = int(max(labels.max(initial=0), ids.max(initial=0)))
    if top <= 4 * labels.size + 1024:  # ids small enough to index directly
        return labels.astype(np.int32, copy=False), ids.astype(np.int64), top + 1
    present, codes = np.unique(labels, return_inverse=True)
    where = np.searchsorted(present, ids)
    found = (where < present.size) & (present[np.minimum(where, max(present.size - 1, 0))] == ids)
    return codes.astype(np.int32), np.where(found, where, present.size), present.size + 1


def intensity_statistics(
    labels: np.ndarray, image: np.ndarray, ids: np.ndarray, *, statistics=("mean",)
) -> dict[str, np.ndarray]:
    """Per-label statistics of every channel of ``image`` (C, Y, X) for one label image."""
    return compartment_statistics(labels, labels, image, ids, statistics=statistics)["nucleus"]


def _medians(labels: np.ndarray, image: np.ndarray, ids: np.ndarray) -> np.ndarray:
    flat = labels.ravel()
    foreground = np.flatnonzero(flat)
    order = np.argsort(flat[foreground], kind="stable")
    pixel_index = foreground[order]
    sorted_labels = flat[pixel_index]
    out = np.full((ids.size, image.shape[0]), np.nan)
    if sorted_labels.size == 0:
        return out
    starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    counts = np.diff(np.r_[starts, sorted_labels.size])
    present = sorted_labels[starts]
    values = image.reshape(image.shape[0], -1)[:, pixel_index]
    medians = _segment_medians(values, starts, counts)
    row = np.searchsorted(present, ids)
    found = (row < present.size) & (present[np.minimum(row, present.size - 1)] == ids)
    out[found] = medians[row[found]]
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


def _small_labels(nuclei: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Relabel 1..n when ids are large (skimage allocates per possible label); returns the
    relabelled image and the original id of each new label (None when unchanged)."""
    top = int(nuclei.max(initial=0))
    if top <= 4 * nuclei.size + 1024:
        return nuclei, None
    present, codes = np.unique(nuclei, return_inverse=True)
    if present[0] != 0:
        present, codes = np.r_[0, present], codes + 1
    return codes.reshape(nuclei.shape).astype(np.int64), present


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
    nuclei, original_ids = _small_labels(nuclei)
    table = morphology(nuclei)
    if owned is not None:
        y0, x0, y1, x1 = owned
        inside = table["Y_centroid"].between(y0, y1, inclusive="left") & table["X_centroid"].between(
            x0, x1, inclusive="left"
        )
        table = table[inside].reset_index(drop=True)
    ids = table["CellID"].to_numpy()
    if original_ids is not None:
        table["CellID"] = original_ids[ids]
    table["Y_centroid"] += origin[0]
    table["X_centroid"] += origin[1]
    table["X_centroid_um"] = table["X_centroid"] * pixel_size_um
    table["Y_centroid_um"] = table["Y_centroid"] * pixel_size_um
    cells = compartment_labels(nuclei, settings.expand_px(pixel_size_um))["cell"]
    columns = {}
    stats_needed = tuple(dict.fromkeys(("mean", *settings.statistics)))
    results = compartment_statistics(nuclei, cells, image, ids, statistics=stats_needed)
    for name in settings.compartments:
        result = results[name]
        columns[f"{name}_area"] = result["count"]
        for stat in settings.statistics:
            for c, marker in enumerate(channel_names):
                columns[f"{marker}_{name}_{stat}"] = result[stat][:, c]
        if name == "cell":
            for c, marker in enumerate(channel_names):
                columns[marker] = result["mean"][:, c]
    return pd.concat([table, pd.DataFrame(columns, index=table.index)], axis=1)
