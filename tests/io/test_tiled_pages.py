"""Tiled TIFF levels decoded in the reading thread read what tifffile itself reads, in every
layout tifffile writes, from several threads at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tifffile

from napari_ifcell.io import open_slide
from napari_ifcell.io.errors import SlideReadError
from napari_ifcell.io.tiled_pages import TiledPages

RNG = np.random.default_rng(3)
FLUO = RNG.integers(0, 4000, (3, 203, 333)).astype(np.uint16)
RGB = np.clip(RNG.normal(150, 40, (203, 333, 3)), 0, 255).astype(np.uint8)

LAYOUTS = {
    "ome zlib uint16": dict(data=FLUO, ome=True, compression="zlib", metadata={"axes": "CYX"}),
    "predictor float32": dict(
        data=FLUO.astype(np.float32) / 7, ome=True, compression="zlib", predictor=True, metadata={"axes": "CYX"}
    ),
    "big-endian lzw": dict(data=FLUO, ome=True, compression="lzw", byteorder=">", metadata={"axes": "CYX"}),
    "bigtiff uncompressed": dict(data=FLUO, ome=True, bigtiff=True, metadata={"axes": "CYX"}),
    "one grey plane": dict(data=FLUO[0], compression="zlib"),
    "rgb jpeg": dict(data=RGB, photometric="rgb", compression="jpeg"),
    "rgb zstd": dict(data=RGB, photometric="rgb", compression="zstd"),
}


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_reads_equal_tifffiles_own_in_threads(tmp_path, name):
    kwargs = dict(LAYOUTS[name])
    data = kwargs.pop("data")
    path = tmp_path / ("slide.ome.tif" if kwargs.get("ome") else "slide.tif")
    tifffile.imwrite(path, data, tile=(64, 64), **kwargs)
    expected = tifffile.imread(path)
    with open_slide(path, pixel_size_um=0.5) as slide:
        assert isinstance(slide.levels[0], TiledPages)
        np.testing.assert_array_equal(slide.levels[0][(slice(None),) * expected.ndim], expected)
        windows = [(y, x, 70, 90) for y in (0, 60, 150) for x in (0, 100, 260)]  # tile edges, slide edges

        def read(window):
            return slide.read_region(*window)

        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(read, windows * 3))
    for (y, x, h, w), region in zip(windows * 3, got):
        want = np.zeros((h, w, 3) if slide.is_rgb else (*expected.shape[:-2], h, w), expected.dtype)
        inside = expected[y : y + h, x : x + w] if slide.is_rgb else expected[..., y : y + h, x : x + w]
        if slide.is_rgb:
            want[: inside.shape[0], : inside.shape[1]] = inside
        else:
            want[..., : inside.shape[-2], : inside.shape[-1]] = inside
        np.testing.assert_array_equal(region.reshape(want.shape), want)


def test_every_level_of_a_subifd_pyramid_is_read_in_the_reading_thread(tmp_path):
    path = tmp_path / "pyramid.ome.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(FLUO, subifds=2, tile=(64, 64), compression="zlib", metadata={"axes": "CYX"})
        tif.write(FLUO[:, ::2, ::2], subfiletype=1, tile=(64, 64), compression="zlib")
        tif.write(FLUO[:, ::4, ::4], subfiletype=1, tile=(64, 64), compression="zlib")
    with open_slide(path, pixel_size_um=0.5) as slide:
        assert [type(level) for level in slide.levels] == [TiledPages] * 3
        for level, step in zip(slide.levels, (1, 2, 4)):
            np.testing.assert_array_equal(level[1, :, :], FLUO[1, ::step, ::step])
            np.testing.assert_array_equal(level[:, 5:70, 60:130], FLUO[:, ::step, ::step][:, 5:70, 60:130])


def test_a_corrupt_tile_names_the_file_and_the_window(tmp_path):
    path = tmp_path / "bad.ome.tif"
    tifffile.imwrite(path, FLUO, tile=(64, 64), ome=True, compression="zlib", metadata={"axes": "CYX"})
    page = tifffile.TiffFile(path).pages[2]
    with open(path, "r+b") as f:  # the last plane's last tile overwritten
        f.seek(page.dataoffsets[-1])
        f.write(b"\x00garbage" * (page.databytecounts[-1] // 8))
    with open_slide(path, pixel_size_um=0.5) as slide:
        assert slide.read_region(0, 0, 64, 64, channels=[2]).shape == (1, 64, 64)
        with pytest.raises(SlideReadError, match=r"bad\.ome\.tif: cannot read level 0 region y=150:200, x=300:333"):
            slide.read_region(150, 300, 50, 33, channels=[2])


def test_closing_the_slide_closes_the_files_its_tiles_were_read_from(tmp_path):
    import os

    path = tmp_path / "slide.ome.tif"
    tifffile.imwrite(path, FLUO, tile=(64, 64), ome=True, metadata={"axes": "CYX"})
    before = set(os.listdir("/proc/self/fd"))
    slide = open_slide(path, pixel_size_um=0.5)
    slide.read_region(0, 0, 100, 100)
    slide.close()
    opened = {fd for fd in set(os.listdir("/proc/self/fd")) - before if os.path.exists(f"/proc/self/fd/{fd}")}
    assert not {os.readlink(f"/proc/self/fd/{fd}") for fd in opened} & {str(path)}


@pytest.mark.parametrize("second_file", ["big-endian", "lzw with predictor"])
def test_a_multi_file_ome_tiff_reads_each_plane_with_its_own_files_encoding(tmp_path, second_file):
    import uuid

    data = FLUO[:2, :150, :170]
    u0, u1 = uuid.uuid1(), uuid.uuid1()
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" UUID="urn:uuid:{u0}">
<Image ID="Image:0"><Pixels ID="Pixels:0" DimensionOrder="XYCZT" Type="uint16" SizeX="170" SizeY="150"
 SizeC="2" SizeZ="1" SizeT="1" PhysicalSizeX="0.5" PhysicalSizeY="0.5">
<Channel ID="Channel:0:0" Name="DAPI" SamplesPerPixel="1"/><Channel ID="Channel:0:1" Name="CD3" SamplesPerPixel="1"/>
<TiffData FirstC="0" IFD="0" PlaneCount="1"><UUID FileName="a.ome.tif">urn:uuid:{u0}</UUID></TiffData>
<TiffData FirstC="1" IFD="0" PlaneCount="1"><UUID FileName="b.ome.tif">urn:uuid:{u1}</UUID></TiffData>
</Pixels></Image></OME>"""
    tifffile.imwrite(tmp_path / "a.ome.tif", data[0], tile=(64, 64), compression="zlib", description=xml, metadata=None)
    encoding = (
        dict(byteorder=">", compression="zlib")
        if second_file == "big-endian"
        else dict(compression="lzw", predictor=True)
    )
    tifffile.imwrite(
        tmp_path / "b.ome.tif",
        data[1],
        tile=(64, 64),
        description=xml.replace(str(u0), str(u1), 1),
        metadata=None,
        **encoding,
    )
    with open_slide(tmp_path / "a.ome.tif") as slide:
        assert slide.channel_names == ("DAPI", "CD3")
        np.testing.assert_array_equal(slide.read_region(0, 0, 150, 170), data)


def test_a_tile_never_written_reads_as_the_files_nodata_as_tifffile_does(tmp_path):
    path = tmp_path / "sparse.tif"
    tifffile.imwrite(path, np.full((128, 128), 5, np.uint8), tile=(64, 64), extratags=[(42113, "s", 0, "255", True)])
    with tifffile.TiffFile(path, mode="r+b") as tif:
        page = tif.pages[0]
        offsets, counts = list(page.dataoffsets), list(page.databytecounts)
        offsets[3] = counts[3] = 0
        page.tags["TileOffsets"].overwrite(offsets)
        page.tags["TileByteCounts"].overwrite(counts)
    with open_slide(path, pixel_size_um=0.5) as slide:
        assert isinstance(slide.levels[0], TiledPages)
        region = slide.read_region(0, 0, 128, 128)[0]
    assert (region[64:, 64:] == 255).all() and (region[:64] == 5).all()
