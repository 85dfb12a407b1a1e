"""Bad files get an error that names the file and the problem."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_ifcell.io import SlideError, SlideMetadataError, open_slide
from napari_ifcell.io.errors import SlideReadError

from .test_slide_formats import NAMES, _if_data, write_ome_subifd


def test_not_a_tiff(tmp_path):
    path = tmp_path / "notes.tif"
    path.write_text("this is not an image")
    with pytest.raises(SlideError, match=r"notes\.tif: not a readable TIFF"):
        open_slide(path)


def test_missing_file(tmp_path):
    with pytest.raises(SlideError, match="no such file"):
        open_slide(tmp_path / "nope.ome.tif")


def test_truncated_tiff(tmp_path):
    path = tmp_path / "cut.ome.tif"
    write_ome_subifd(path, _if_data())
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(SlideError, match=r"cut\.ome\.tif: .*(truncated|not a readable)"):
        open_slide(path)


def test_unknown_axes(tmp_path):
    path = tmp_path / "timelapse.ome.tif"
    tifffile.imwrite(path, np.zeros((2, 3, 32, 32), np.uint16), ome=True, metadata={"axes": "TCYX"})
    with pytest.raises(SlideMetadataError, match=r"timelapse\.ome\.tif: unsupported axes 'TCYX'"):
        open_slide(path)


def test_missing_channel_names_fall_back_with_a_warning(tmp_path):
    path = tmp_path / "anon.ome.tif"
    write_ome_subifd(path, _if_data(), names=None)
    with pytest.warns(UserWarning, match=r"anon\.ome\.tif: no channel names.*ch0\.\.ch3"):
        slide = open_slide(path)
    assert slide.channel_names == ("ch0", "ch1", "ch2", "ch3")
    assert any("no channel names" in n for n in slide.notes)
    slide.close()


def _drop_last_channel_name(path) -> None:
    """Blank out the last <Channel> element of the OME-XML in place (same byte length)."""
    import re

    raw = bytearray(path.read_bytes())
    last = list(re.finditer(rb"<Channel .*?</Channel>", raw))[-1]
    raw[last.start() : last.end()] = b" " * (last.end() - last.start())
    path.write_bytes(bytes(raw))


def test_channel_count_that_contradicts_the_metadata(tmp_path):
    path = tmp_path / "mismatch.ome.tif"
    write_ome_subifd(path, _if_data(), names=["A", "B", "C", "D"])
    _drop_last_channel_name(path)
    with pytest.raises(
        SlideMetadataError, match=r"mismatch\.ome\.tif: the OME-XML lists 3 channels but the image has 4"
    ):
        open_slide(path)
    # the user can say which channel is which
    with open_slide(path, channel_names=["A", "B", "C", "D"]) as slide:
        assert slide.channel_names == ("A", "B", "C", "D")
    with pytest.raises(SlideMetadataError, match="2 channel names given but the image has 4"):
        open_slide(path, channel_names=["A", "B"])


def test_unknown_channel_and_level(tmp_path):
    write_ome_subifd(tmp_path / "a.ome.tif", _if_data())
    with open_slide(tmp_path / "a.ome.tif") as slide:
        with pytest.raises(KeyError, match="no channel 'CD8a'"):
            slide.read_region(0, 0, 4, 4, channels=["CD8a"])
        with pytest.raises(ValueError, match="level 5 does not exist"):
            slide.read_region(0, 0, 4, 4, level=5)


def _rewrite_ome_xml(path, old: str, new: str) -> None:
    xml = tifffile.TiffFile(path).ome_metadata
    assert old in xml
    tifffile.tiffcomment(path, xml.replace(old, new).encode())


def test_planes_the_metadata_declares_but_the_file_lacks_are_refused(tmp_path):
    """tifffile would read the 16 missing channels as zeros: every cell negative for them."""
    path = tmp_path / "claims19.ome.tif"
    tifffile.imwrite(path, _if_data((3, 64, 80)), ome=True, metadata={"axes": "CYX"})
    _rewrite_ome_xml(path, 'SizeC="3"', 'SizeC="19"')
    with pytest.raises(SlideReadError, match=r"claims19\.ome\.tif: the metadata declares 19 planes .* 16 are not in"):
        open_slide(path, channel_names=[f"c{i}" for i in range(19)])


def test_an_ome_tiff_cut_between_its_pages_is_refused(tmp_path):
    path = tmp_path / "cut.ome.tif"
    tifffile.imwrite(path, _if_data((4, 64, 80)), ome=True, metadata={"axes": "CYX", "Channel": {"Name": NAMES}})
    with tifffile.TiffFile(path) as tif:
        second = tif.pages[1]
        next_ifd = second.offset + 2 + 12 * len(second.tags)  # classic TIFF: where the chain goes on
    raw = bytearray(path.read_bytes())
    raw[next_ifd : next_ifd + 4] = bytes(4)  # the chain ends after page 2, the OME-XML survives
    path.write_bytes(bytes(raw))
    with pytest.raises(SlideReadError, match=r"cut\.ome\.tif: the metadata declares 4 planes .* 2 are not in"):
        open_slide(path)


def test_a_tile_too_large_to_decode_is_refused_before_any_allocation(tmp_path):
    """139 bytes that declare one 65,536² tile: the reader once allocated 4 GiB for them."""
    path = tmp_path / "bomb.tif"
    tifffile.imwrite(path, np.zeros((64, 64), np.uint8), tile=(64, 64))
    raw = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        tags = tif.pages[0].tags
        offsets = [tags[name].valueoffset for name in ("TileWidth", "TileLength", "ImageWidth", "ImageLength")]
    for offset in offsets:
        raw[offset : offset + 4] = (65536).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    with pytest.raises(SlideReadError, match=r"bomb\.tif: level 0 is stored in 65536x65536 px pieces of 4\.0 GiB"):
        open_slide(path)


@pytest.mark.parametrize("value", ["abc", "-0.5", "0", "inf"])
def test_a_physical_size_that_is_no_length_is_unknown_and_said(value, tmp_path):
    path = tmp_path / "odd.ome.tif"
    write_ome_subifd(path, _if_data())
    _rewrite_ome_xml(path, 'PhysicalSizeX="0.5"', f'PhysicalSizeX="{value}"')
    with pytest.warns(UserWarning, match=rf"odd\.ome\.tif: OME-XML PhysicalSizeX='{value}' is not a positive number"):
        slide = open_slide(path)
    assert slide.pixel_size_um is None  # never 25,400 µm or a negative size: segmenting asks for one
    assert slide.channel_names == tuple(NAMES)
    slide.close()


def test_malformed_ome_xml_is_said_and_the_pixels_still_read(tmp_path):
    path = tmp_path / "broken_xml.ome.tif"
    data = _if_data((3, 64, 80))
    tifffile.imwrite(path, data, ome=True, metadata={"axes": "CYX", "Channel": {"Name": NAMES[:3]}})
    _rewrite_ome_xml(path, "</OME>", "</OMX>")
    with pytest.warns(UserWarning, match=r"broken_xml\.ome\.tif: the OME-XML is malformed \(mismatched tag"):
        slide = open_slide(path)
    assert slide.channel_names == ("ch0", "ch1", "ch2")
    np.testing.assert_array_equal(slide.read_region(0, 0, 64, 80), data)
    slide.close()


def test_a_16_bit_rgb_he_is_read_as_8_bit_with_a_note(tmp_path):
    """The H&E models divide by 255: 16-bit values once made every cell a 'B cell'."""
    path = tmp_path / "he16.ome.tif"
    rgb8 = np.random.default_rng(1).integers(0, 256, (64, 80, 3), dtype=np.uint8)
    tifffile.imwrite(path, rgb8.astype(np.uint16) * 257, photometric="rgb", ome=True, tile=(32, 32))
    with pytest.warns(UserWarning, match=r"he16\.ome\.tif: RGB of uint16 read as 8-bit \(values divided by 257\)"):
        slide = open_slide(path)
    assert slide.read_dtype == np.uint8 and slide.dtype == np.uint16  # napari still shows the file's values
    np.testing.assert_array_equal(slide.read_region(0, 0, 64, 80), rgb8)
    assert (slide.read_region(-4, -4, 8, 8, fill=255)[0, 0] == 255).all()  # glass stays white
    slide.close()
