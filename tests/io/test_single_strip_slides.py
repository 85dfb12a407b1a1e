"""Uncompressed single-strip TIFFs (ImageJ's and tifffile's default layout) of any size open and
read a window at a time; a compressed strip too large to decode stays refused."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_ifcell.cli import main
from napari_ifcell.io import levels, open_slide, slide_open
from napari_ifcell.io.errors import SlideReadError
from napari_ifcell.io.levels import ContiguousLevel

UM = 0.325
RESOLUTION = {"resolution": (1e4 / UM, 1e4 / UM), "resolutionunit": "CENTIMETER"}


@pytest.fixture
def small_limits(monkeypatch):
    """Limits scaled down so a 2-MB strip plays the part of a multi-gigabyte one."""
    monkeypatch.setattr(levels, "MEMMAP_ABOVE_BYTES", 2**20)
    monkeypatch.setattr(slide_open, "MAX_CHUNK_BYTES", 2**20)


def _planes(shape, dtype=np.uint16) -> np.ndarray:
    return np.random.default_rng(3).integers(0, 4000, shape).astype(dtype)


@pytest.mark.parametrize("byteorder", ["<", ">"])
def test_a_single_strip_fluorescence_tiff_reads_windows_through_a_memory_map(small_limits, tmp_path, byteorder):
    data = _planes((2, 1200, 1500))
    path = tmp_path / "strip.tif"
    tifffile.imwrite(path, data, byteorder=byteorder, photometric="minisblack", **RESOLUTION)
    with tifffile.TiffFile(path) as tif:
        assert tif.pages[0].chunks == (1200, 1500)  # one strip per plane: 3.4 MB, above the limit
    with pytest.warns(UserWarning, match="no channel names"), open_slide(path) as s:
        assert isinstance(s.levels[0], ContiguousLevel) and s.chunk_yx == (1024, 1024)
        window = s.read_region(700, 900, 300, 400)
        assert window.dtype == np.uint16 and window.dtype.isnative
        np.testing.assert_array_equal(window, data[:, 700:1000, 900:1300])
        assert s.pixel_size_um == pytest.approx(UM)
        np.testing.assert_array_equal(s.dask_levels()[0][1, 1100:, 1400:].compute(), data[1, 1100:, 1400:])


def test_a_single_strip_rgb_tiff_reads_windows(small_limits, tmp_path):
    data = _planes((700, 900, 3), np.uint8)
    path = tmp_path / "he.tif"
    tifffile.imwrite(path, data, photometric="rgb", **RESOLUTION)
    with open_slide(path) as s:
        assert s.is_rgb and isinstance(s.levels[0], ContiguousLevel)
        np.testing.assert_array_equal(s.read_region(100, 200, 50, 60), data[100:150, 200:260])


def test_a_compressed_strip_too_large_to_decode_is_still_refused(small_limits, tmp_path):
    path = tmp_path / "zstrip.tif"
    tifffile.imwrite(path, _planes((1200, 1500)), compression="zlib", rowsperstrip=1200, **RESOLUTION)
    with pytest.raises(SlideReadError, match=r"zstrip\.tif: level 0 is stored in 1200x1500 px pieces"):
        open_slide(path)


def test_the_pyramid_command_copies_a_single_strip_slide(small_limits, tmp_path):
    """The command the viewer suggests for a slide without levels works on this layout."""
    data = _planes((2, 1200, 1500))
    path = tmp_path / "strip.tif"
    tifffile.imwrite(path, data, photometric="minisblack", **RESOLUTION)
    out = tmp_path / "pyramid.ome.tif"
    assert main(["pyramid", str(path), str(out), "--channel-names", "Hoechst,CD3e"]) == 0
    with tifffile.TiffFile(out) as tif:
        assert len(tif.series[0].levels) >= 2 and tif.pages[0].is_tiled
        np.testing.assert_array_equal(tif.series[0].asarray(), data)


def test_a_pyramid_with_a_single_strip_lower_level_opens_every_level(small_limits, tmp_path):
    """A tiled level 0 with an uncompressed single-strip reduced level (SubIFD): each level is read
    the way it is stored."""
    data = _planes((2, 2400, 3000))
    path = tmp_path / "mixed.ome.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(data, tile=(256, 256), subifds=1, photometric="minisblack", metadata={"axes": "CYX"})
        tif.write(data[:, ::2, ::2], subfiletype=1, photometric="minisblack")
    with pytest.warns(UserWarning), open_slide(path) as s:
        assert len(s.levels) == 2 and isinstance(s.levels[1], ContiguousLevel)
        assert not isinstance(s.levels[0], ContiguousLevel)
        np.testing.assert_array_equal(s.read_region(100, 200, 40, 50, level=1), data[:, 200:280:2, 400:500:2])
        np.testing.assert_array_equal(s.read_region(100, 200, 40, 50), data[:, 100:140, 200:250])


def test_dask_names_a_mapped_level_without_reading_it(small_limits, tmp_path):
    """dask would hash every byte of the map to name its array: the whole file read per layer."""
    from dask.base import tokenize

    path = tmp_path / "strip.tif"
    tifffile.imwrite(path, _planes((2, 1200, 1500)), photometric="minisblack", **RESOLUTION)
    with pytest.warns(UserWarning), open_slide(path) as s:
        level = s.levels[0]
        reads = []
        level._map = _Counting(level._map, reads)
        assert tokenize(level) == tokenize(level) and not reads


class _Counting:
    """A memory map that records every access to its bytes."""

    def __init__(self, array, reads):
        self.array, self.reads = array, reads

    def __getattr__(self, name):
        self.reads.append(name)
        return getattr(self.array, name)

    def __getitem__(self, key):
        self.reads.append(key)
        return self.array[key]
