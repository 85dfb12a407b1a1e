"""Channels as other writers lay them out and name them: one image series per channel, names
repeated (a cyclic panel's DAPI in every round) or left blank. Each channel stays reachable
under a name of its own, where the first series alone, or the last channel of a name, was read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tifffile
import zarr

from napari_ifcell.io import open_slide
from napari_ifcell.io.slide_open import SlideWarning

from ..ngff_writer import write_ngff
from ..test_cli import run_cli

SHAPE = (300, 400)


def _planes(n=4, seed=0) -> np.ndarray:
    """Channels told apart by their level: channel i reads about 1000 * (i + 1)."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, 100, SHAPE) + 1000 * (i + 1) for i in range(n)]).astype(np.uint16)


def _labels(path) -> None:
    labels = np.zeros(SHAPE, np.uint32)
    for k, (y, x) in enumerate(((y, x) for y in range(20, 280, 40) for x in range(20, 380, 40)), start=1):
        labels[y : y + 15, x : x + 15] = k
    tifffile.imwrite(path, labels)


def test_one_ome_image_per_channel_reads_as_one_slide_of_every_channel(tmp_path):
    path, names, data = tmp_path / "per_channel.ome.tif", ["DAPI", "CD3", "CD8", "PanCK"], _planes()
    with tifffile.TiffWriter(path, ome=True) as tif:  # one write per channel: one OME Image each
        for name, plane in zip(names, data):
            meta = {"axes": "YX", "Channel": {"Name": name}, "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5}
            tif.write(plane, tile=(128, 128), metadata=meta, subifds=1)
            tif.write(plane[::2, ::2], tile=(128, 128), subfiletype=1)
    with pytest.warns(SlideWarning, match="4 images of 400 x 300 px, one channel each"):
        slide = open_slide(path)
    with slide:
        assert slide.channel_names == tuple(names) and slide.layout == "CYX"
        assert slide.level_shapes == [SHAPE, (150, 200)] and slide.pixel_size_um == 0.5
        np.testing.assert_array_equal(slide.read_region(0, 0, *SHAPE), data)
        np.testing.assert_array_equal(slide.read_region(0, 0, *SHAPE, channels=["CD8"])[0], data[2])
        np.testing.assert_array_equal(slide.read_region(0, 0, 150, 200, level=1)[3], data[3, ::2, ::2])


def test_channel_images_stored_miniswhite_read_bright_where_the_stain_is(tmp_path):
    """One image per channel, each MINISWHITE (0 is white): read inverted like a single image
    stored so; a file mixing both is read as stored, and says so."""
    data = _planes(3)
    for name, white in (("white", [True] * 3), ("mixed", [True, False, True])):
        with tifffile.TiffWriter(tmp_path / f"{name}.tif") as tif:
            for plane, w in zip(data, white):
                tif.write(65535 - plane if w else plane, tile=(64, 64), photometric="miniswhite" if w else "minisblack")
    with pytest.warns(SlideWarning, match="read inverted"), open_slide(tmp_path / "white.tif") as slide:
        np.testing.assert_array_equal(slide.read_region(0, 0, *SHAPE), data)
    mixed = pytest.warns(SlideWarning, match="2 of 3 channel images stored MINISWHITE")
    with mixed, open_slide(tmp_path / "mixed.tif") as slide:
        np.testing.assert_array_equal(slide.read_region(0, 0, *SHAPE)[1], data[1])


@pytest.mark.parametrize("order", ["channel by channel", "level by level"])
def test_levels_stored_as_series_of_their_own_are_each_channels_levels(order, tmp_path):
    """Reduced copies written as plain series (no SubIFDs), after each channel or after all of
    them, with a thumbnail first: every channel keeps its pyramid, and one note says which
    images were read as what."""
    path, data = tmp_path / f"{order}.tif", _planes(3)
    pyramids = [[plane, plane[::2, ::2], plane[::4, ::4]] for plane in data]
    written = [p for ch in pyramids for p in ch] if order == "channel by channel" else [*zip(*pyramids)]
    with tifffile.TiffWriter(path) as tif:
        tif.write(data[0, ::8, ::8])  # a thumbnail first
        for plane in written if order == "channel by channel" else [p for level in written for p in level]:
            tif.write(plane, tile=(64, 64))
    with pytest.warns(SlideWarning) as noted, open_slide(path) as slide:
        assert slide.n_channels == 3 and slide.level_shapes == [SHAPE, (150, 200), (75, 100)]
        for level, step in enumerate((1, 2, 4)):
            read = slide.read_region(0, 0, SHAPE[0] // step, SHAPE[1] // step, level=level)
            np.testing.assert_array_equal(read, data[:, ::step, ::step])
    said = [str(w.message) for w in noted if "images" in str(w.message)]
    assert len(said) == 1 and "3 images of 400 x 300 px, one channel each" in said[0]
    assert said[0].endswith("read as 3 channels; skipped image 0 of 50 x 38 px")


def test_a_channel_picked_by_a_0_d_index_reads_like_numpy(tmp_path):
    path, data = tmp_path / "planes.tif", _planes(3)
    with tifffile.TiffWriter(path) as tif:
        for plane in data:
            tif.write(plane)
    with pytest.warns(SlideWarning), open_slide(path) as slide:
        stacked = slide.levels[0]
        np.testing.assert_array_equal(stacked[np.array(1), :4, :4], data[1, :4, :4])
        np.testing.assert_array_equal(stacked[np.int64(-1), :4], data[-1, :4])


def test_one_page_series_per_channel_without_metadata_is_numbered(tmp_path):
    path, data = tmp_path / "planes.tif", _planes(3)
    with tifffile.TiffWriter(path) as tif:
        for plane in data:
            tif.write(plane)
    with pytest.warns(SlideWarning, match="3 images"), open_slide(path) as slide:
        assert slide.channel_names == ("ch0", "ch1", "ch2")
        np.testing.assert_array_equal(slide.read_region(0, 0, *SHAPE), data)


def test_repeated_and_blank_names_are_told_apart_and_every_channel_is_quantified(tmp_path):
    path = tmp_path / "cyclic.ome.tif"
    names = ["DAPI", "CD3", "DAPI", "", "PanCK"]
    meta = {"axes": "CYX", "Channel": {"Name": names}, "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5}
    tifffile.imwrite(path, _planes(5), ome=True, metadata=meta)
    with pytest.warns(SlideWarning) as noted, open_slide(path) as slide:
        assert slide.channel_names == ("DAPI", "CD3", "DAPI (2)", "ch3", "PanCK")
    said = " ".join(str(w.message) for w in noted)
    assert "channel 2 'DAPI' -> 'DAPI (2)'" in said and "channels [3] have no name" in said

    _labels(tmp_path / "labels.tif")
    done = run_cli("quantify", path, tmp_path / "labels.tif", "--out", tmp_path / "cells.csv")
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "cells.csv")
    means = [f"{name}_cell_mean" for name in ("DAPI", "CD3", "DAPI (2)", "ch3", "PanCK")]
    assert len(table) == 63 and all(column in table for column in means)
    # each column measures its own channel (about 1000 x (i + 1)), not a later one of its name
    assert [round(table[column].mean(), -3) for column in means] == [1000, 2000, 3000, 4000, 5000]


def test_repeated_given_names_are_told_apart_too(tmp_path):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, _planes(4), photometric="minisblack")
    with pytest.warns(SlideWarning, match="'CD3' -> 'CD3 \\(2\\)'"):
        slide = open_slide(path, channel_names=["DAPI", "CD3", "CD3", "PanCK"])
    with slide:
        assert slide.channel_names == ("DAPI", "CD3", "CD3 (2)", "PanCK")


def test_an_ome_zarr_with_one_unlabelled_channel_keeps_the_others_names(tmp_path):
    path = tmp_path / "image.ome.zarr"
    write_ngff(zarr.open_group(path, mode="w"), _planes(3), axes="cyx", pixel_size_um=0.5, names=["DAPI", "", "CD8"])
    with pytest.warns(SlideWarning, match="channels \\[1\\] have no name"), open_slide(path) as slide:
        assert slide.channel_names == ("DAPI", "ch1", "CD8")


def test_series_that_are_not_channels_stay_apart(tmp_path):
    """A label TIFF of nuclei then cells, and a multi-position file whose Images all hold DAPI,
    are no slide of channels."""
    from napari_ifcell.pipeline.tiling import open_label_file

    labels = np.zeros(SHAPE, np.int32)
    labels[10:30, 10:30] = 7
    with tifffile.TiffWriter(tmp_path / "masks.tif") as tif:
        tif.write(labels)
        tif.write(labels * 2)
    with open_label_file(tmp_path / "masks.tif") as slide:
        assert slide.n_channels == 1 and slide.read_region(0, 0, 40, 40).max() == 7
    path = tmp_path / "positions.ome.tif"
    with tifffile.TiffWriter(path, ome=True) as tif:
        for plane in _planes(3):
            tif.write(plane, metadata={"axes": "YX", "Channel": {"Name": "DAPI"}})
    with open_slide(path) as slide:
        assert slide.channel_names == ("DAPI",)


def test_a_nuclear_channel_named_by_digits_is_found_by_its_name():
    from napari_ifcell.io.channels import nuclear_channel_index

    assert nuclear_channel_index(["405", "488"], "405") == 0
    assert nuclear_channel_index(["2", "1", "0"], "0") == 2 and nuclear_channel_index(["2", "1", "0"], 0) == 0
