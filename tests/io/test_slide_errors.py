"""Bad files get an error that names the file and the problem."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_ifcell.io import SlideError, SlideMetadataError, open_slide

from .test_slide_formats import _if_data, write_ome_subifd


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
