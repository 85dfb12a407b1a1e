"""Quantify the cells of a region or a whole slide, tile by tile."""

from __future__ import annotations

from collections.abc import Callable, Generator

import numpy as np
import pandas as pd

from napari_ifcell.core.quantify.cells import QuantifySettings, quantify_cells
from napari_ifcell.core.steps import run_to_end
from napari_ifcell.pipeline.tiling import read_labels, tiles

Progress = Callable[[str, int, int], None]


def quantify_region(
    if_slide,
    labels,
    *,
    region: tuple[int, int, int, int] | None = None,
    settings: QuantifySettings | None = None,
    channels=None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """The cell table of ``region``: ``quantify_region_steps`` run to the end."""
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
    """The cell table of ``region`` (level-0 ``y, x, h, w``; default the whole slide).

    Reads one tile plus halo at a time; each cell is measured whole, in the tile that
    holds its centroid, so a cell cut by a tile border is reported exactly once. An H&E slide
    (RGB) has no markers: its cells get their position and morphology only. Yields
    ``("quantify", i, n)`` per tile, then returns the table.
    """
    settings = settings or QuantifySettings()
    region = region or (0, 0, *if_slide.shape)
    if if_slide.is_rgb:
        names = []
    elif channels is None:
        names = list(if_slide.channel_names)
    else:
        names = [
            if_slide.channel_names[if_slide.channel_index(c)] if isinstance(c, str) else if_slide.channel_names[c]
            for c in channels
        ]
    halo = settings.halo + settings.expand_px(if_slide.pixel_size_um)
    parts = []
    todo = tiles(region, settings.tile)
    for i, (ty, tx, th, tw) in enumerate(todo):
        yield "quantify", i, len(todo)
        window = (ty - halo, tx - halo, th + 2 * halo, tw + 2 * halo)
        nuclei = read_labels(labels, *window)
        if not nuclei.any():
            continue
        image = (
            np.zeros((0, *nuclei.shape), np.uint8)
            if if_slide.is_rgb
            else if_slide.read_region(*window, level=0, channels=names)
        )
        parts.append(
            quantify_cells(
                nuclei,
                image,
                names,
                settings=settings,
                pixel_size_um=if_slide.pixel_size_um,
                origin=(window[0], window[1]),
                owned=(halo, halo, halo + th, halo + tw),
            )
        )
    yield "quantify", len(todo), len(todo)
    if not parts:
        return quantify_cells(
            np.zeros((1, 1), np.int32),
            np.zeros((len(names), 1, 1), np.uint16),
            names,
            settings=settings,
            pixel_size_um=if_slide.pixel_size_um,
        )
    return pd.concat(parts, ignore_index=True).sort_values("CellID", ignore_index=True)
