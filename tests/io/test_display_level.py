"""The array-like napari reads slides through: the same pixels as numpy indexing of the level,
in every layout, through the chunk cache or not; channels split lazily."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from napari_ifcell.io.chunk_cache import DecodedChunkCache
from napari_ifcell.io.display_level import DisplayLevel

RNG = np.random.default_rng(0)
LEVELS = {  # layout -> (level as stored, as napari sees it)
    "CYX": (a := RNG.integers(0, 1000, (5, 37, 41)).astype(np.uint16), a),
    "YX": (b := RNG.integers(0, 1000, (37, 41)).astype(np.uint16), b[None]),
    "YXS": (c := RNG.integers(0, 255, (37, 41, 4)).astype(np.uint8), c[..., :3]),
    "SYX": (d := RNG.integers(0, 255, (3, 37, 41)).astype(np.uint8), np.moveaxis(d, 0, -1)),
}
KEYS = [
    np.s_[...],
    np.s_[2:30, 5:7],
    np.s_[0],
    np.s_[-1, 3:20:4],
    np.s_[:, ::3, 10],
    np.s_[1:3, 5:9, 2:40:7],
    np.s_[5:5, 1:3],
    np.s_[..., 1],
    np.s_[3:10, 4, ...],
]


@pytest.mark.parametrize("layout", LEVELS)
@pytest.mark.parametrize("cached", [False, True])
def test_selections_match_numpy(layout, cached):
    stored, seen = LEVELS[layout]
    reader = DecodedChunkCache(zarr.array(stored, chunks=(16,) * stored.ndim), 1 << 20) if cached else stored
    level = DisplayLevel(reader, layout)
    assert level.shape == seen.shape and level.dtype == seen.dtype and level.size == seen.size
    np.testing.assert_array_equal(np.asarray(level), seen)
    for key in KEYS:
        try:
            want = seen[key]
        except IndexError:
            continue
        got = level[key]
        got = np.asarray(got) if isinstance(got, DisplayLevel) else got
        assert got.shape == want.shape, key
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("layout", ["CYX", "YX"])
def test_a_channel_is_split_lazily_and_reads_only_its_window(layout):
    stored, seen = LEVELS[layout]
    cache = DecodedChunkCache(zarr.array(stored, chunks=(1, 16, 16) if stored.ndim == 3 else (16, 16)), 1 << 20)
    plane = DisplayLevel(cache, layout)[-1]  # napari splitting the IF stack into layers
    assert isinstance(plane, DisplayLevel) and plane.shape == seen.shape[1:] and cache.decoded == 0
    np.testing.assert_array_equal(plane[3:9:2, 20:30], seen[-1][3:9:2, 20:30])
    assert cache.decoded == 1  # one 16 px chunk of one channel
    np.testing.assert_array_equal(plane[7], seen[-1][7])


@pytest.mark.parametrize("layout", ["YXS", "SYX"])
def test_a_colour_is_split_lazily(layout):
    stored, seen = LEVELS[layout]
    red = DisplayLevel(stored, layout)[:, :, 0]  # napari's "split RGB"
    assert isinstance(red, DisplayLevel) and red.shape == seen.shape[:2]
    np.testing.assert_array_equal(red[3:9:2, 20:30], seen[3:9:2, 20:30, 0])
    np.testing.assert_array_equal(np.asarray(red), seen[..., 0])


def test_a_whole_slide_level_is_not_read_into_memory(monkeypatch):
    import napari_ifcell.io.display_level as module

    level = DisplayLevel(LEVELS["CYX"][0], "CYX")
    monkeypatch.setattr(module, "MAX_WHOLE_READ_BYTES", 1000)
    with pytest.raises(MemoryError, match="5 x 37 x 41 slide level"):
        np.asarray(level)  # napari's "merge to stack" on IF channels would stack whole levels
    assert level[0, :3, :3].shape == (3, 3)  # regions still read


def test_bad_selections_are_refused():
    level = DisplayLevel(LEVELS["CYX"][0], "CYX")
    with pytest.raises(IndexError):
        level[5]
    with pytest.raises(IndexError):
        level[0, 0, 0, 0]
    with pytest.raises(TypeError, match="ints and slices"):
        level[[0, 1]]
    with pytest.raises(IndexError, match="positive steps"):
        level[0, ::-1]
