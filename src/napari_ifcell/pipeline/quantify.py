"""Quantify the cells of a region or a whole slide, tile by tile, reading each stored chunk once.

Tiles follow the slide's chunk grid. Each tile reads its labels with a halo (for whole
nuclei and the grown cell compartment) but the image only over the tile itself: it
measures the morphology of the cells whose centroid it holds, and sums every channel over
the pixels of all cells it holds. A cell cut by tile borders has its sums added up over
the tiles (sums and counts add; means and standard deviations follow), so no image chunk
is decoded twice. Medians do not add up: with ``median`` in the statistics every tile reads
its halo of the image too and measures its own cells whole.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from contextlib import closing

import numpy as np
import pandas as pd

from napari_ifcell.core.quantify.cells import (
    QuantifySettings,
    cell_table,
    compact_labels,
    compartment_labels,
    compartment_sums,
    owned_morphology,
    positions_in,
    quantify_cells,
    statistics_from_sums,
)
from napari_ifcell.core.steps import run_to_end
from napari_ifcell.pipeline.tile_threads import in_order
from napari_ifcell.pipeline.tiling import (
    aligned_tiles,
    core_in,
    halo_window,
    nuclei_on_grid,
    read_labels,
    region_on_slide,
    tiles,
)

Progress = Callable[[str, int, int], None]
TileParts = tuple[pd.DataFrame, pd.DataFrame]  # (owned cells' morphology, sums over the tile's pixels)


def quantify_region(
    if_slide,
    labels,
    *,
    region: tuple[int, int, int, int] | None = None,
    settings: QuantifySettings | None = None,
    channels=None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """The cell table of ``region``: ``quantify_region_steps`` run to the end. ``labels``: a label
    image's path, a label store folder, a label image opened with ``open_slide``, or a level-0 array."""
    steps = quantify_region_steps(if_slide, labels, region=region, settings=settings, channels=channels)
    return run_to_end(steps, progress)


def quantify_region_steps(
    if_slide,
    labels,
    *,
    region: tuple[int, int, int, int] | None = None,
    settings: QuantifySettings | None = None,
    channels=None,
) -> Generator[tuple[str, int, int], None, pd.DataFrame]:
    """The cell table of ``region`` (level-0 ``y, x, h, w``; default the whole slide): the
    cells whose centroid lies in it, each measured whole.

    An H&E slide (RGB) has no markers: its cells get their position, morphology and
    compartment areas only. Yields ``("quantify", i, n)`` per tile, then returns the table.
    """
    settings = settings or QuantifySettings()
    region = region_on_slide(region, if_slide.shape, if_slide.path)
    names = marker_names(if_slide, channels)
    labels, opened = nuclei_on_grid(labels, if_slide)
    try:
        if "median" in settings.statistics:
            return (yield from _whole_cell_steps(if_slide, labels, region, settings, names))
        boxes = quantify_tiles(if_slide, region, settings)

        def measure(box):
            return quantify_tile_parts(if_slide, labels, box, region=region, settings=settings, names=names)

        parts = yield from _measured_in_threads(measure, boxes)
        return table_from_parts(parts, names, settings, if_slide.pixel_size_um)
    finally:
        if opened and hasattr(labels, "close"):  # a label store's array has nothing to close
            labels.close()


def _measured_in_threads(measure, boxes) -> Generator[tuple[str, int, int], None, list]:
    """``measure(box)`` of every box that gives something, in the boxes' order, computed in
    threads (``tile_threads``); yields ``("quantify", done, n)``. Closing it (Cancel) stops
    the tiles."""
    parts = []
    yield "quantify", 0, len(boxes)
    with closing(in_order(measure, boxes)) as measured:
        for i, part in enumerate(measured, 1):
            if part is not None:
                parts.append(part)
            yield "quantify", i, len(boxes)
    return parts


def marker_names(if_slide, channels=None) -> list[str]:
    """The channels quantified: ``channels`` (names or indices) or all; none for an RGB slide."""
    if if_slide.is_rgb:
        return []
    if channels is None:
        return list(if_slide.channel_names)
    return [if_slide.channel_names[if_slide.channel_index(c) if isinstance(c, str) else c] for c in channels]


def quantify_tiles(if_slide, region, settings: QuantifySettings) -> list[tuple[int, int, int, int]]:
    """Tiles on the slide's chunk grid covering ``region`` and the margin its cells reach into."""
    margin = settings.halo + settings.expand_px(if_slide.pixel_size_um)
    y, x, h, w = region
    y0, x0 = max(y - margin, 0), max(x - margin, 0)
    y1, x1 = min(y + h + margin, if_slide.shape[0]), min(x + w + margin, if_slide.shape[1])
    return aligned_tiles((y0, x0, y1 - y0, x1 - x0), settings.tile, if_slide.chunk_yx)


def quantify_tile_parts(if_slide, labels, box, *, region, settings: QuantifySettings, names) -> TileParts | None:
    """One tile's share of a region's table: the morphology of the cells it owns (centroid in
    ``box`` and in ``region``) and the channel sums over its pixels of every cell there.
    None when the tile and its halo hold no cell."""
    pixel_size = if_slide.pixel_size_um
    expand = settings.expand_px(pixel_size)
    halo = settings.halo + expand
    ty, tx, th, tw = box
    origin = (ty - halo, tx - halo)
    nuclei = read_labels(labels, *origin, th + 2 * halo, tw + 2 * halo)
    if not nuclei.any():
        return None
    nuclei, original_ids = compact_labels(nuclei)
    ry, rx, rh, rw = region
    owned = (max(ty, ry) - origin[0], max(tx, rx) - origin[1], min(ty + th, ry + rh) - origin[0])
    owned += (min(tx + tw, rx + rw) - origin[1],)
    morph, _ = owned_morphology(nuclei, original_ids, owned=owned, origin=origin, pixel_size_um=pixel_size)
    core = (slice(halo, halo + th), slice(halo, halo + tw))
    cells = compartment_labels(nuclei, expand)["cell"][core]
    present = np.flatnonzero(np.bincount(cells.ravel()))
    present = present[present > 0]
    if present.size == 0:
        return morph, pd.DataFrame()
    image = (
        np.zeros((0, th, tw), np.uint8) if not names else if_slide.read_region(ty, tx, th, tw, level=0, channels=names)
    )
    sums = compartment_sums(nuclei[core], cells, image, present, squares="std" in settings.statistics)
    if original_ids is not None:
        sums["CellID"] = original_ids[present]
    return morph, sums


def table_from_parts(parts, names, settings: QuantifySettings, pixel_size_um) -> pd.DataFrame:
    """The cell table from tiles' parts: sums added up per cell, statistics from the totals."""
    parts = [p for p in parts if p is not None]
    morph = [m for m, _ in parts if len(m)]
    if not morph:
        return _empty_table(names, settings, pixel_size_um)
    table = pd.concat(morph, ignore_index=True).sort_values("CellID", ignore_index=True)
    sums = summed_per_cell([s for _, s in parts if len(s)], table["CellID"].to_numpy(), names)
    stats_needed = tuple(dict.fromkeys(("mean", *settings.statistics)))
    return cell_table(table, statistics_from_sums(sums, len(names), statistics=stats_needed), names, settings)


def summed_per_cell(frames: list[pd.DataFrame], cell_ids: np.ndarray, names) -> dict[str, np.ndarray]:
    """Every column of the tiles' sums (:func:`compartment_sums`) added up per cell of
    ``cell_ids`` (sorted; not empty, nor is ``frames``), one column at a time into arrays:
    beside the totals it holds one copy of the sums (for a million cells pandas' groupby held
    2.4 GB). Rows of cells not in ``cell_ids`` are left out; a cell with no row gets 0.

    A float sum over pixels without data (NaN or infinite, e.g. outside a warped field) is
    left empty (NaN), with a note: added as 0, the cell's means would read dim, not unknown.
    Integer sums are exact; float sums are added in order (pandas' groupby compensated the
    rounding: a cell cut by three or more tiles can differ from it in the last bit)."""
    frame = pd.concat(frames, ignore_index=True)
    ids = frame["CellID"].to_numpy()
    row_cell, listed = positions_in(cell_ids, ids)
    row_cell = row_cell[listed]
    totals: dict[str, np.ndarray] = {}
    no_data, no_data_channels = np.zeros(cell_ids.size, bool), set()
    for column in frame.columns.drop("CellID"):
        values = frame[column].to_numpy()[listed]
        total = np.zeros(cell_ids.size, values.dtype)
        np.add.at(total, row_cell, values)
        if values.dtype.kind == "f":  # integer sums are all finite
            missing = row_cell[~np.isfinite(values)]
            if missing.size:
                total[missing] = np.nan
                no_data[missing] = True
                no_data_channels.add(int(column.rsplit("_", 1)[1]))
        totals[column] = total
    if no_data_channels:
        from napari_ifcell.notes import note

        note(
            f"{int(no_data.sum())} cells have pixels without data (NaN) in "
            f"{', '.join(str(names[c]) for c in sorted(no_data_channels))}: their values there are left empty, not 0"
        )
    return totals


def _empty_table(names, settings, pixel_size_um) -> pd.DataFrame:
    return quantify_cells(
        np.zeros((1, 1), np.int32),
        np.zeros((len(names), 1, 1), np.uint16),
        names,
        settings=settings,
        pixel_size_um=pixel_size_um,
    )


def _whole_cell_steps(if_slide, labels, region, settings, names):
    """Every tile reads the image over its halo too and measures the cells it owns whole
    (medians cannot be added up over tiles)."""
    halo = settings.halo + settings.expand_px(if_slide.pixel_size_um)
    todo = tiles(region, settings.tile)

    def measure(box):
        window = halo_window(box, halo, if_slide.shape)
        nuclei = read_labels(labels, *window)
        if not nuclei.any():
            return None
        image = (
            np.zeros((0, *nuclei.shape), np.uint8)
            if not names
            else if_slide.read_region(*window, level=0, channels=names)
        )
        return quantify_cells(
            nuclei,
            image,
            names,
            settings=settings,
            pixel_size_um=if_slide.pixel_size_um,
            origin=window[:2],
            owned=core_in(window, box),
        )

    parts = yield from _measured_in_threads(measure, todo)
    if not parts:
        return _empty_table(names, settings, if_slide.pixel_size_um)
    return pd.concat(parts, ignore_index=True).sort_values("CellID", ignore_index=True)
