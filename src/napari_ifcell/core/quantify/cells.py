"""Per-cell marker intensities in nucleus, cell and ring compartments, and morphology.

The intensity statistics of all channels and all three compartments come from one pass
over the cells' pixels (a sparse indicator matrix times the pixel values), summed in
integers: exact, and equal to ``skimage.measure.regionprops_table``'s ``intensity_mean``. Morphology
(``core.quantify.morphology``) is computed once per tile for all cells, from the labels alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

import numpy as np
import pandas as pd

from napari_ifcell.core.quantify.morphology import morphology

COMPARTMENTS = ("nucleus", "cell", "ring")
STATISTICS = ("mean", "std", "median")
CHANNEL_GROUP = 4  # channels gathered per pass of compartment_sums


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
    cells = grow_labels(nuclei, expand_px) if expand_px > 0 else nuclei
    return {"nucleus": nuclei, "cell": cells, "ring": np.where(nuclei == 0, cells, 0)}


def grow_labels(nuclei: np.ndarray, distance_px: int) -> np.ndarray:
    """skimage's ``expand_labels`` for a whole number of pixels, equal to it pixel for pixel:
    each background pixel within ``distance_px`` of a label takes its nearest label (the same
    feature transform), but the distance test is done in integers (no float distance map)."""
    if not nuclei.any():
        return np.zeros_like(nuclei)
    from scipy import ndimage as ndi

    near_y, near_x = ndi.distance_transform_edt(nuclei == 0, return_distances=False, return_indices=True)
    dy = near_y - np.arange(nuclei.shape[0], dtype=near_y.dtype)[:, None]
    dx = near_x - np.arange(nuclei.shape[1], dtype=near_x.dtype)[None, :]
    return np.where(dy * dy + dx * dx <= distance_px * distance_px, nuclei[near_y, near_x], 0)


def _indicator(keys: np.ndarray, n_keys: int):
    """A keys x pixels matrix with one entry per pixel (so no sort): times the pixels' values
    (channels x pixels, transposed) it gives every key's sums of every channel in one pass."""
    import scipy.sparse as sp

    return sp.csc_matrix((np.ones(keys.size, np.int8), keys, np.arange(keys.size + 1)), shape=(n_keys, keys.size))


def _sums(indicator, values: np.ndarray) -> np.ndarray:
    return np.asarray(indicator.astype(values.dtype) @ values.T)


def _accumulator(dtype, max_count: int, power: int = 1) -> type:
    """The narrowest exact type for sums of ``max_count`` values (to the ``power``):
    int32 where it cannot overflow, halving the memory traffic of the large case."""
    if not np.issubdtype(dtype, np.integer):
        return np.float64
    return np.int32 if int(np.iinfo(dtype).max) ** power * max_count < 2**31 else np.int64


def compartment_sums(
    nuclei: np.ndarray, cells: np.ndarray, image: np.ndarray, ids: np.ndarray, *, squares: bool = False
) -> pd.DataFrame:
    """Pixel counts and per-channel sums (and sums of squares) in the nucleus and ring of each
    label, over the pixels given: sums over disjoint parts of the cells (tiles) add up.

    Each pixel of a cell is keyed ``2 * label + (pixel is in the ring)``; one sparse product
    per group of channels sums them all. Integer images are summed exactly in integers.

    Returns
    -------
    DataFrame
        One row per id: ``CellID``, ``count_<part>``, ``sum_<part>_<c>`` (and ``sq_<part>_<c>``)
        for part in nucleus, ring and channel index c.
    """
    n_channels = image.shape[0]
    flat_cells = cells.ravel()
    foreground = np.flatnonzero(flat_cells)
    codes, id_codes, n_codes = _compact(flat_cells[foreground], np.asarray(ids))
    keys = codes * np.int32(2)
    keys += nuclei.ravel()[foreground] == 0
    n_keys = 2 * n_codes
    counts = np.bincount(keys, minlength=n_keys)
    max_count = int(counts.max(initial=0))
    rows = {"nucleus": 2 * id_codes, "ring": 2 * id_codes + 1}
    frame: dict[str, np.ndarray] = {"CellID": np.asarray(ids, np.int64)}
    frame.update({f"count_{part}": counts[r].astype(np.int64) for part, r in rows.items()})
    exact = np.int64 if np.issubdtype(image.dtype, np.integer) else np.float64
    flat_image = image.reshape(n_channels, cells.size)
    indicator = _indicator(keys, n_keys)
    for c0 in range(0, n_channels, CHANNEL_GROUP):  # a few channels at a time: bounded memory
        pixels = flat_image[c0 : c0 + CHANNEL_GROUP, foreground]
        total = _sums(indicator, pixels.astype(_accumulator(pixels.dtype, max_count), copy=False))
        square = None
        if squares:
            wide: np.ndarray = pixels.astype(_accumulator(pixels.dtype, max_count, power=2), copy=False)
            square = _sums(indicator, wide * wide)
        for c in range(pixels.shape[0]):
            for part, r in rows.items():
                frame[f"sum_{part}_{c0 + c}"] = total[r, c].astype(exact)
                if square is not None:
                    frame[f"sq_{part}_{c0 + c}"] = square[r, c].astype(exact)
    return pd.DataFrame(frame)


def statistics_from_sums(sums, n_channels: int, *, statistics=("mean",)) -> dict:
    """Means (and standard deviations) per compartment from :func:`compartment_sums`' columns
    (summed over a cell's parts; a DataFrame or a mapping of column name to array):
    compartment -> {"count": (n,), stat: (n, C)}, NaN where a compartment of a cell has no
    pixels. Computed a channel at a time (a million cells' channels are not all copied at
    once); each (n, C) array is stored channel by channel, so its columns are contiguous."""
    parts = {"nucleus": ("nucleus",), "ring": ("ring",), "cell": ("nucleus", "ring")}
    stats = ("mean", "std") if "std" in statistics else ("mean",)

    def added(members: tuple[str, ...], prefix: str, channel: int | None = None) -> np.ndarray:
        """The members' columns added: ``<prefix>_<part>`` or ``<prefix>_<part>_<channel>``."""
        suffix = "" if channel is None else f"_{channel}"
        return reduce(np.add, [np.asarray(sums[f"{prefix}_{part}{suffix}"]) for part in members])

    out = {}
    for name, members in parts.items():
        count = added(members, "count")
        by_channel = {stat: np.empty((n_channels, count.size)) for stat in stats}
        with np.errstate(invalid="ignore", divide="ignore"):
            for c in range(n_channels):
                mean = np.where(count > 0, added(members, "sum", c) / count, np.nan)
                by_channel["mean"][c] = mean
                if "std" in by_channel:
                    variance = added(members, "sq", c) / count - mean**2
                    by_channel["std"][c] = np.sqrt(np.maximum(variance, 0))
        out[name] = {"count": count, **{stat: values.T for stat, values in by_channel.items()}}
    return out


def compartment_statistics(
    nuclei: np.ndarray, cells: np.ndarray, image: np.ndarray, ids: np.ndarray, *, statistics=("mean",)
) -> dict[str, dict[str, np.ndarray]]:
    """Statistics of every channel in the nucleus, ring and cell of each label, in one pass.

    Returns
    -------
    dict
        compartment -> {"count": (n,), stat: (n, C)} for ``ids`` (NaN where a compartment
        of a label has no pixels); means equal ``regionprops_table``'s exactly.
    """
    sums = compartment_sums(nuclei, cells, image, ids, squares="std" in statistics)
    out = statistics_from_sums(sums, image.shape[0], statistics=statistics)
    if "median" in statistics:
        ring = np.where(nuclei == 0, cells, 0)
        for name, labels in {"nucleus": nuclei, "ring": ring, "cell": cells}.items():
            out[name]["median"] = _medians(labels, image, np.asarray(ids))
    return out


def _compact(labels: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Small consecutive codes for the labels present (cell ids may be large, e.g. unique
    across segmentation runs); ids absent from the pixels get a code with no pixels."""
    top = int(max(labels.max(initial=0), ids.max(initial=0)))
    if top <= 4 * labels.size + 1024:  # ids small enough to index directly
        return labels.astype(np.int32, copy=False), ids.astype(np.int64), top + 1
    present, codes = np.unique(labels, return_inverse=True)
    where, found = positions_in(present, ids)
    return codes.astype(np.int32), np.where(found, where, present.size), present.size + 1


def positions_in(sorted_ids: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each of ``ids`` is in ``sorted_ids`` (sorted, unique), and whether it is there at
    all (where it is not, its position is only where it would go)."""
    where = np.searchsorted(sorted_ids, ids)
    if sorted_ids.size == 0:
        return where, np.zeros(where.shape, bool)
    return where, sorted_ids[np.minimum(where, sorted_ids.size - 1)] == ids


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
    row, found = positions_in(present, ids)
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
        if channel.dtype.kind == "f":  # pixels without data (NaN, sorted last): no median, as no mean
            no_data = np.add.reduceat(~np.isfinite(channel), starts)  # values come grouped by segment
            medians[no_data > 0, c] = np.nan
    return medians


def compact_labels(nuclei: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Relabel 1..n when ids are large (per-label arrays are sized by the largest id); returns
    the relabelled image and the original id of each new label (None when unchanged)."""
    top = int(nuclei.max(initial=0))
    if top <= 4 * nuclei.size + 1024:
        return nuclei, None
    present, codes = np.unique(nuclei, return_inverse=True)
    if present[0] != 0:
        present, codes = np.r_[0, present], codes + 1
    return codes.reshape(nuclei.shape).astype(np.int64), present


def owned_morphology(
    nuclei: np.ndarray,
    original_ids: np.ndarray | None = None,
    *,
    owned: tuple[int, int, int, int] | None = None,
    origin: tuple[int, int] = (0, 0),
    pixel_size_um: float,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Morphology of the labels whose centroid lies in ``owned`` (array rows/columns, end
    exclusive; all labels when None), positions in slide pixels and µm, ``CellID`` the
    original ids; and the labels' ids in ``nuclei`` (to index per-label arrays)."""
    table = morphology(nuclei, within=owned)
    ids = table["CellID"].to_numpy()
    if original_ids is not None:
        table["CellID"] = original_ids[ids]
    table["Y_centroid"] += origin[0]
    table["X_centroid"] += origin[1]
    table["X_centroid_um"] = table["X_centroid"] * pixel_size_um
    table["Y_centroid_um"] = table["Y_centroid"] * pixel_size_um
    return table, ids


def cell_table(morph: pd.DataFrame, results: dict, channel_names, settings: QuantifySettings) -> pd.DataFrame:
    """``morph`` with the compartment areas and marker statistics of ``results`` (rows in
    the same order): ``<compartment>_area``, ``<marker>_<compartment>_<stat>`` and ``<marker>``
    (the cell mean, as MCMICRO)."""
    columns = {name: morph[name].to_numpy() for name in morph.columns}

    def add(column: str, values: np.ndarray) -> None:
        if column in columns:  # a channel named like a morphology column: Area, CellID...
            raise ValueError(f"a channel's column {column!r} would replace the table's own; rename the channel")
        columns[column] = values

    for name in settings.compartments:
        result = results[name]
        add(f"{name}_area", result["count"])
        for stat in settings.statistics:
            for c, marker in enumerate(channel_names):
                add(f"{marker}_{name}_{stat}", result[stat][:, c])
        if name == "cell":
            for c, marker in enumerate(channel_names):
                add(marker, result["mean"][:, c])
    # The float columns copied once, into one block: pandas' constructor from a dict copies
    # each column and then stacks them (2.8 GB more for a million cells).
    floats = [name for name, values in columns.items() if values.dtype == np.float64]
    block = np.empty((len(floats), len(morph)))
    for row, name in enumerate(floats):
        block[row] = columns[name]
    table = pd.DataFrame(block.T, columns=floats, index=morph.index, copy=False)
    for position, name in enumerate(columns):
        if name not in table.columns:
            table.insert(position, name, columns[name])
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
    nuclei, original_ids = compact_labels(nuclei)
    table, ids = owned_morphology(nuclei, original_ids, owned=owned, origin=origin, pixel_size_um=pixel_size_um)
    cells = compartment_labels(nuclei, settings.expand_px(pixel_size_um))["cell"]
    stats_needed = tuple(dict.fromkeys(("mean", *settings.statistics)))
    results = compartment_statistics(nuclei, cells, image, ids, statistics=stats_needed)
    return cell_table(table, results, channel_names, settings)
