"""Quantify the cells of a region or a whole slide, tile by tile."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from napari_ifcell.core.quantify import QuantifySettings, quantify_cells
from napari_ifcell.pipeline.regions import read_labels, tiles

Progress = Callable[[str, int, int], None]


def quantify_region(
    if_slide,
    labels,
    *,
    region: tuple[int, int, int, int] | None = None,
    settings: QuantifySettings = QuantifySettings(),
    channels=None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """The cell table of ``region`` (level-0 ``y, x, h, w``; default the whole slide).

    Reads one tile plus halo at a time; each cell is measured whole, in the tile that
    holds its centroid, so a cell cut by a tile border is reported exactly once.
    """
    region = region or (0, 0, *if_slide.shape)
    names = list(if_slide.channel_names) if channels is None else [if_slide.channel_names[if_slide.channel_index(c)] if isinstance(c, str) else if_slide.channel_names[c] for c in channels]
    halo = settings.halo + settings.expand_px(if_slide.pixel_size_um)
    parts = []
    todo = tiles(region, settings.tile)
    for i, (ty, tx, th, tw) in enumerate(todo):
        if progress:
            progress("quantify", i, len(todo))
        window = (ty - halo, tx - halo, th + 2 * halo, tw + 2 * halo)
        nuclei = read_labels(labels, *window)
        if not nuclei.any():
            continue
        image = if_slide.read_region(*window, level=0, channels=names)
        parts.append(
            quantify_cells(nuclei, image, names, settings=settings, pixel_size_um=if_slide.pixel_size_um,
                           origin=(window[0], window[1]), owned=(halo, halo, halo + th, halo + tw))  # fmt: skip
        )
    if progress:
        progress("quantify", len(todo), len(todo))
    if not parts:
        return quantify_cells(np.zeros((1, 1), np.int32), np.zeros((len(names), 1, 1), np.uint16), names,
                              settings=settings, pixel_size_um=if_slide.pixel_size_um)  # fmt: skip
    return pd.concat(parts, ignore_index=True).sort_values("CellID", ignore_index=True)
