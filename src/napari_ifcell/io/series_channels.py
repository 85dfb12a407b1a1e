"""Channels stored as one image series each, read as one multichannel slide.

Some writers store each channel of a fluorescence image as its own OME ``Image`` (tifffile's
OME writer called once per channel) or as its own page series (a plain TIFF written plane by
plane). Read as the first series alone, such a file would be a one-channel slide whose other
channels no one can reach.
"""

from __future__ import annotations

import numpy as np
import tifffile

from napari_ifcell.io.levels import cyx_key, is_associated_image, is_next_level, open_level_arrays
from napari_ifcell.io.metadata import ome_channel_names_by_image


def channel_series(tif: tifffile.TiffFile, index: int) -> tuple[list[int], list[str]]:
    """(indices, OME channel names) of the series holding the slide's channels one each: two or
    more single-plane (YX) series of the main series' size and pixel type, none named as a
    thumbnail, label or macro, not all OME Images of one channel name (positions of a
    multi-position file); ([], []) when the main series is not one of several such. A name is
    "" where its Image gives none, or more than one."""
    all_series = tif.series
    main = all_series[index]
    if tif.is_svs or main.axes != "YX":
        return [], []
    same = [
        i
        for i, s in enumerate(all_series)
        if s.axes == "YX" and s.shape == main.shape and s.dtype == main.dtype and not is_associated_image(s)
    ]
    if len(same) < 2 or index not in same:
        return [], []
    by_image = ome_channel_names_by_image(_ome_xml(tif))
    names = [str(by_image[i][0] or "") if i < len(by_image) and len(by_image[i]) == 1 else "" for i in same]
    if names[0] and len(set(names)) == 1:  # every Image is "DAPI": positions or scenes, not channels
        return [], []
    return same, names


def _ome_xml(tif: tifffile.TiffFile) -> str:
    """The file's OME-XML, also one tifffile refused as invalid; "" without any."""
    if tif.is_ome and tif.ome_metadata:
        return tif.ome_metadata
    description = tif.pages.first.description or ""
    return description if "<OME" in description[:2048] else ""


def channel_level_series(tif: tifffile.TiffFile, indices: list[int]) -> list[list]:
    """Each channel's pyramid levels (series), finest first: its SubIFDs, else its reduced
    copies stored as series of their own. Of each smaller size (the next level after the last)
    there must be one series per channel, the k-th of them the k-th channel's (whether a writer
    wrote channel by channel or level by level)."""
    per_channel = [list(tif.series[i].levels) for i in indices]
    if any(len(levels) > 1 for levels in per_channel):
        return per_channel
    all_series = tif.series
    main = all_series[indices[0]]
    by_shape: dict[tuple, list[int]] = {}
    for i, series in enumerate(all_series):
        if series.axes == "YX" and series.dtype == main.dtype and not is_associated_image(series):
            by_shape.setdefault(tuple(series.shape), []).append(i)
    previous = tuple(main.shape)
    for size, found in sorted(by_shape.items(), key=lambda item: -item[0][0] * item[0][1]):
        if size == previous:
            continue
        if len(found) != len(indices) or not is_next_level(previous, size):
            break
        for levels, i in zip(per_channel, found, strict=True):
            levels.append(all_series[i])
        previous = size
    return per_channel


def channel_levels(path, tif: tifffile.TiffFile, indices: list[int], per_channel: list[list]) -> tuple[list, list]:
    """(one ``StackedChannels`` per pyramid level, the main series' level series): the levels
    (``channel_level_series``) every channel has at the same sizes."""
    n_levels = min(len(levels) for levels in per_channel)
    while n_levels > 1 and any(
        levels[n_levels - 1].shape != per_channel[0][n_levels - 1].shape for levels in per_channel
    ):
        n_levels -= 1
    arrays = [
        open_level_arrays(path, tif, i, levels[:n_levels]) for i, levels in zip(indices, per_channel, strict=True)
    ]
    stacked = [StackedChannels([channel[level] for channel in arrays]) for level in range(n_levels)]
    return stacked, per_channel[0][:n_levels]


class StackedChannels:
    """Single-channel ``(Y, X)`` arrays of one size read as one ``(C, Y, X)`` array; a chunk is
    one channel's tile, so a read of some channels decodes only theirs."""

    def __init__(self, channels: list):
        self.channels = channels
        first = channels[0]
        y, x = first.shape
        cy, cx = first.chunks
        self.shape, self.chunks = (len(channels), y, x), (1, cy, cx)
        self.dtype, self.ndim = np.dtype(first.dtype), 3

    def __dask_tokenize__(self):
        from dask.base import tokenize

        return "stacked-channels", tokenize(*self.channels)

    def __getitem__(self, key) -> np.ndarray:
        c, y, x = cyx_key(key)
        if isinstance(c, np.ndarray) and c.ndim == 0 and c.dtype.kind in "iu":
            c = int(c)  # a 0-d index picks one channel, as in numpy
        if isinstance(c, (int, np.integer)):
            return np.asarray(self.channels[c][y, x])
        planes = [np.asarray(self.channels[int(i)][y, x]) for i in np.arange(len(self.channels))[c]]
        return np.stack(planes) if planes else np.asarray(self.channels[0][y, x])[None][:0]
