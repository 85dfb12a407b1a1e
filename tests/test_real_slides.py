"""Slides as users have them, written by other tools' writers (tifffile's OME, ImageJ and Aperio
layouts), not by our own: every case is run through the CLI as a user runs it."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import tifffile

from napari_ifcell.io import open_pair, open_slide
from napari_ifcell.io.label_store import LabelStore

from .conftest import CROP_NUCLEI as FOUND
from .conftest import CROP_SIZE as SIZE
from .conftest import CROP_X0 as X0
from .conftest import CROP_Y0 as Y0
from .ngff_writer import write_ngff
from .test_cli import run_cli


def one_line_error(done, *needles):
    """Exit 2 and one line on stderr (besides progress counters of work already done)."""
    lines = [line for line in done.stderr.strip().splitlines() if not re.fullmatch(r"[\w ]+: \d+/\d+", line)]
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def cells_of(folder) -> int:
    return len(LabelStore.open(folder).index)


# --- pixel sizes ------------------------------------------------------------------------------
def test_plain_tiff_without_pixel_size_gets_one_line_then_segments_with_the_option(crops, tmp_path):
    path = tmp_path / "nuclei.tif"
    tifffile.imwrite(path, crops[0])  # what a newcomer exports from Fiji: no unit, no names
    done = run_cli("segment", path)
    one_line_error(done, "nuclei.tif", "pixel size unknown", "--pixel-size")
    done = run_cli("segment", path, "--pixel-size", "0.325")
    assert done.returncode == 0, done.stderr
    assert "with hoechst" in done.stdout and cells_of(tmp_path / "nuclei.ifcell") in FOUND


def test_resolution_without_unit_is_unknown_not_one_micron(crops, tmp_path):
    path = tmp_path / "nounit.tif"
    tifffile.imwrite(path, crops[0], resolution=(1.0, 1.0), resolutionunit="NONE")
    with pytest.warns(UserWarning, match="pixel size unknown"):
        slide = open_slide(path)
    assert slide.pixel_size_um is None
    slide.close()
    one_line_error(run_cli("quantify", path, tmp_path / "none", "--out", tmp_path / "t.csv"))


def test_imagej_hyperstack_with_micron_calibration(crops, tmp_path):
    path = tmp_path / "stack.tif"
    data = np.stack(crops[:2])
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / 0.325, 1 / 0.325), metadata={"axes": "CYX", "unit": "um"})
    done = run_cli("info", path, "--json", "--channel-names", "DAPI,CD3e")
    info = json.loads(done.stdout)
    assert info["pixel_size_um"] == pytest.approx(0.325, rel=1e-4)
    assert info["channels"] == ["DAPI", "CD3e"]
    done = run_cli("segment", path, "--channel-names", "DAPI,CD3e")  # DAPI: a nuclear stain by its name
    assert done.returncode == 0, done.stderr
    assert cells_of(tmp_path / "stack.ifcell") in FOUND


def test_imagej_slice_labels_name_the_channels(crops, tmp_path):
    """Fiji saves a hyperstack's channel names as slice Labels; they are the channels' names."""
    path = tmp_path / "labelled.tif"
    meta = {"axes": "CYX", "unit": "um", "Labels": ["DAPI", "CD3e"]}
    tifffile.imwrite(path, np.stack(crops[:2]), imagej=True, resolution=(1 / 0.325, 1 / 0.325), metadata=meta)
    assert json.loads(run_cli("info", path, "--json").stdout)["channels"] == ["DAPI", "CD3e"]
    done = run_cli("segment", path)  # DAPI found as the nuclear stain without --channel-names
    assert done.returncode == 0, done.stderr
    assert "channel names from the ImageJ slice labels" in done.stderr
    assert cells_of(tmp_path / "labelled.ifcell") in FOUND
    # labels Fiji makes up itself ("c:1/2") are no names; a markers.csv beside the file is
    meta["Labels"] = ["c:1/2", "c:2/2"]
    tifffile.imwrite(path, np.stack(crops[:2]), imagej=True, resolution=(1 / 0.325, 1 / 0.325), metadata=meta)
    assert json.loads(run_cli("info", path, "--json").stdout)["channels"] == ["ch0", "ch1"]
    (tmp_path / "markers.csv").write_text("marker_name\nHoechst\nCD3e\n")
    assert json.loads(run_cli("info", path, "--json").stdout)["channels"] == ["Hoechst", "CD3e"]


def test_placeholder_he_pixel_size_goes_on_the_if_grid(small_pair, crops, tmp_path):
    """Orion's H&E as its writer makes it: OME PhysicalSizeX=1 µm on the IF's own pixel grid."""
    with open_slide(small_pair.he_path) as he:
        rgb = he.read_region(0, 0, *he.shape)
    he_path = tmp_path / "orion_he.ome.tif"
    tifffile.imwrite(
        he_path, rgb, photometric="rgb", tile=(256, 256), metadata={"PhysicalSizeX": 1.0, "PhysicalSizeY": 1.0}
    )
    pair = open_pair(small_pair.if_path, he_path)
    assert pair.he_slide.pixel_size_um == pytest.approx(0.325)
    assert any("placeholder" in n for n in pair.notes)
    pair.close()
    region = ["--region", str(Y0), str(X0), str(SIZE), str(SIZE)]
    done = run_cli(
        "segment", small_pair.if_path, "--he", he_path, "--backend", "he", "--store", tmp_path / "s", *region
    )
    assert done.returncode == 0, done.stderr
    assert cells_of(tmp_path / "s") in FOUND
    # a genuinely different section is still refused, with both sizes named
    tifffile.imwrite(
        tmp_path / "other.ome.tif", rgb[::2, ::2].copy(), photometric="rgb", metadata={"PhysicalSizeX": 1.0}
    )
    done = run_cli("segment", small_pair.if_path, "--he", tmp_path / "other.ome.tif", "--backend", "he")
    one_line_error(done, "cannot be one section")


# --- RGB vs fluorescence ---------------------------------------------------------------------------
def test_an_he_slide_alone_segments_with_the_he_backend_by_default(crops, tmp_path):
    path = tmp_path / "he_only.ome.tif"
    tifffile.imwrite(path, crops[2], photometric="rgb", metadata={"PhysicalSizeX": 0.325, "PhysicalSizeY": 0.325})
    done = run_cli("segment", path)
    assert done.returncode == 0, done.stderr
    assert "with he" in done.stdout and cells_of(tmp_path / "he_only.ifcell") in FOUND
    one_line_error(run_cli("segment", path, "--backend", "hoechst", "--store", tmp_path / "x"), "RGB", "--backend he")


def test_a_fluorescence_slide_with_an_he_backend_and_no_he_is_one_line(crops, tmp_path):
    path = tmp_path / "if.ome.tif"
    tifffile.imwrite(path, crops[0], metadata={"axes": "YX", "PhysicalSizeX": 0.325, "PhysicalSizeY": 0.325})
    one_line_error(run_cli("segment", path, "--backend", "he"), "if.ome.tif", "--he")


def test_zero_cells_is_an_error_that_names_the_threshold(crops, tmp_path):
    path = tmp_path / "if.ome.tif"
    tifffile.imwrite(path, crops[0], metadata={"axes": "YX", "PhysicalSizeX": 0.325, "PhysicalSizeY": 0.325})
    done = run_cli("segment", path, "--threshold", "1e9")
    one_line_error(done, "0 cells", "threshold 1e+09", "--threshold")
    # the project folder this run made holds nothing: it is not left behind for quantify to trip on
    assert not (tmp_path / "if.ifcell").exists()
    # a folder that was there before is the user's: left as it was
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("kept")
    one_line_error(run_cli("segment", path, "--threshold", "1e9", "--store", tmp_path / "mine"), "0 cells")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "kept"


def test_channels_stored_as_samples_are_channels_not_an_rgb_picture(crops, tmp_path):
    """Two grey channels per pixel (photometric MINISBLACK) were taken for RGB: the H&E
    backend ran on them. Planar and interleaved ones read as channel planes."""
    hoechst, cd3 = crops[0], crops[1]
    planar = tmp_path / "planar.tif"
    stack = np.stack([hoechst, cd3, cd3, cd3])
    tifffile.imwrite(planar, stack, photometric="minisblack", planarconfig="separate", extrasamples=[0, 0, 0])
    assert tifffile.TiffFile(planar).series[0].axes == "SYX"  # samples, as the user's file has them
    (tmp_path / "markers.csv").write_text("marker_name\nHoechst\nCD3e\nCD20\nCD8a\n")
    done = run_cli("segment", planar, "--pixel-size", "0.325")
    assert done.returncode == 0, done.stderr
    assert cells_of(tmp_path / "planar.ifcell") in FOUND  # the Hoechst watershed, as on the CYX file
    interleaved = tmp_path / "interleaved.ome.tif"
    meta = {"axes": "YXC", "Channel": {"Name": ["Hoechst", "CD3e", "CD20", "CD8a"]}, "PhysicalSizeX": 0.325}
    tifffile.imwrite(
        interleaved, np.moveaxis(stack, 0, -1), photometric="minisblack", planarconfig="contig", metadata=meta
    )
    with open_slide(interleaved) as slide:  # OME names one Channel of 4 samples: the markers.csv names them
        assert slide.channel_names == ("Hoechst", "CD3e", "CD20", "CD8a") and slide.shape == hoechst.shape
        assert slide.pixel_size_um == pytest.approx(0.325)  # PhysicalSizeX alone: square pixels
        np.testing.assert_array_equal(slide.read_region(0, 0, *hoechst.shape), stack)
        np.testing.assert_array_equal(slide.read_region(5, 7, 30, 40, channels=["CD3e"])[0], cd3[5:35, 7:47])
    done = run_cli("segment", interleaved)
    assert done.returncode == 0 and cells_of(tmp_path / "interleaved.ifcell") in FOUND, done.stderr
    # three 8-bit grey channels as planar samples are channels too (three uint8 pages are RGB)
    grey3 = tmp_path / "grey3.tif"
    tifffile.imwrite(
        grey3, (stack[:3] >> 8).astype(np.uint8), photometric="minisblack", planarconfig="separate", extrasamples=[0, 0]
    )
    with open_slide(grey3, pixel_size_um=0.325) as slide:
        assert not slide.is_rgb and slide.n_channels == 3


def test_channels_last_as_tifffile_and_skimage_save_them_are_channels(crops, tmp_path):
    """``tifffile.imwrite(path, yxc)`` (and skimage's imsave) with no photometric writes one
    page per image row, X x C each: it was read as 512 channels of 512 x 6 px."""
    yxc = np.stack([crops[0], crops[1], *[crops[1] // (k + 2) for k in range(4)]], axis=-1)
    path = tmp_path / "yxc.tif"
    tifffile.imwrite(path, yxc)
    assert tifffile.TiffFile(path).series[0].axes == "QYX"  # what tifffile makes of it
    with pytest.warns(UserWarning, match="6 channels stored last"):
        slide = open_slide(path, pixel_size_um=0.325)
    with slide:
        assert slide.n_channels == 6 and slide.shape == crops[0].shape and not slide.is_rgb
        np.testing.assert_array_equal(
            slide.read_region(100, 50, 64, 80, channels=[1, 0]), yxc[100:164, 50:130, [1, 0]].transpose(2, 0, 1)
        )
        np.testing.assert_array_equal(
            slide.dask_levels()[0][:, 10:20, 30:35].compute(), yxc[10:20, 30:35].transpose(2, 0, 1)
        )
        level = slide.levels[0]
        np.testing.assert_array_equal(level[..., 5:9], yxc[:, 5:9].transpose(2, 0, 1))
        np.testing.assert_array_equal(level[-1, ..., 3], yxc[:, 3, -1])
    done = run_cli("segment", path, "--pixel-size", "0.325", "--nuclear-channel", "0")
    assert done.returncode == 0 and cells_of(tmp_path / "yxc.ifcell") in FOUND, done.stderr
    # a stack of thin images is still a stack
    thin = tmp_path / "thin.tif"
    tifffile.imwrite(thin, np.zeros((8, 40, 30), np.uint16))
    assert tifffile.TiffFile(thin).series[0].axes == "QYX"
    with open_slide(thin, pixel_size_um=1.0) as slide:
        assert slide.n_channels == 8 and slide.shape == (40, 30) and not slide.is_rgb


def test_three_8_bit_fluorescence_channels_are_not_read_as_an_h_and_e(crops, tmp_path):
    """Three 8-bit channels (DAPI and two markers saved as 8-bit) were opened as an H&E
    whatever their names, segmented with the H&E backend (F1 0 against the truth), and no
    option could say otherwise. Dark like fluorescence they are channels; an H&E stored as three
    8-bit pages stays an H&E; names given by the user decide."""
    import zarr

    hoechst, cd3 = crops[:2]
    cyx = np.stack([hoechst, cd3, cd3 // 2]).astype(float)
    u8 = np.clip(cyx / np.percentile(cyx, 99.9) * 255, 0, 255).astype(np.uint8)
    names = ["DAPI", "CD3", "CD3 dim"]
    named, fiji, ngff = tmp_path / "if3.ome.tif", tmp_path / "fiji.tif", tmp_path / "if3.ome.zarr"
    ome = {"axes": "CYX", "Channel": {"Name": names}, "PhysicalSizeX": 0.325, "PhysicalSizeY": 0.325}
    tifffile.imwrite(named, u8, ome=True, photometric="minisblack", metadata=ome)
    tifffile.imwrite(fiji, u8, imagej=True, metadata={"axes": "CYX", "mode": "composite", "Labels": names})
    write_ngff(zarr.open_group(ngff, mode="w"), u8, axes="cyx", pixel_size_um=0.325, names=names)
    for path in (named, fiji, ngff):
        with pytest.warns(UserWarning, match="dark like fluorescence"):
            slide = open_slide(path, pixel_size_um=0.325)
        with slide:
            assert not slide.is_rgb and slide.channel_names == tuple(names), path
            np.testing.assert_array_equal(slide.read_region(20, 30, 40, 50), u8[:, 20:60, 30:80])
    done = run_cli("segment", named)
    assert done.returncode == 0 and "with hoechst" in done.stdout, done.stderr
    assert cells_of(tmp_path / "if3.ifcell") in FOUND
    he_pages = tmp_path / "he_pages.tif"
    tifffile.imwrite(he_pages, np.moveaxis(crops[2], -1, 0), photometric="minisblack")
    with open_slide(he_pages, pixel_size_um=0.325) as he:
        assert he.is_rgb and he.channel_names == ("red", "green", "blue")
    with pytest.warns(UserWarning, match="named DAPI, CD3, CD3 dim: read as channels, not as an RGB picture"):
        slide = open_slide(he_pages, pixel_size_um=0.325, channel_names=names)
    with slide:
        assert not slide.is_rgb and slide.n_channels == 3
    with open_slide(named, pixel_size_um=0.325, channel_names=["red", "green", "blue"]) as picture:
        assert picture.is_rgb  # the user's word, either way
    # an H&E whose middle is mostly a warp's black fill is still an H&E, as pages or as an
    # OME-Zarr whose omero says red, green, blue
    filled = np.moveaxis(crops[2], -1, 0).copy()
    filled[:, :, : filled.shape[2] * 3 // 4] = 0
    tifffile.imwrite(he_pages, filled, photometric="minisblack")
    rgb_zarr = tmp_path / "he.ome.zarr"
    write_ngff(zarr.open_group(rgb_zarr, mode="w"), filled, axes="cyx", pixel_size_um=0.325, names=["R", "G", "B"])
    for path in (he_pages, rgb_zarr):
        with open_slide(path, pixel_size_um=0.325) as he:
            assert he.is_rgb, path


def test_three_16_bit_channels_tagged_rgb_are_fluorescence_not_an_h_and_e(crops, tmp_path):
    """tifffile tags any ``(Y, X, 3)`` array RGB: three 16-bit fluorescence channels saved so
    opened as an 8-bit H&E (values divided by 257) and segmented with the H&E backend. A dark
    16-bit picture is read as channel planes; a bright one (glass near white) stays an H&E."""
    hoechst, cd3 = crops[:2]
    yxc = np.stack([hoechst, cd3, cd3 // 2], axis=-1)
    interleaved, planar = tmp_path / "if3.tif", tmp_path / "if3_planar.tif"
    tifffile.imwrite(interleaved, yxc, photometric="rgb")
    tifffile.imwrite(planar, np.moveaxis(yxc, -1, 0), photometric="rgb", planarconfig="separate")
    for path in (interleaved, planar):
        with pytest.warns(UserWarning, match="3 samples of uint16 tagged RGB but dark like fluorescence"):
            slide = open_slide(path, pixel_size_um=0.325)
        with slide:
            assert not slide.is_rgb and slide.n_channels == 3 and slide.shape == hoechst.shape
            np.testing.assert_array_equal(slide.read_region(20, 30, 40, 50), np.moveaxis(yxc[20:60, 30:80], -1, 0))
    done = run_cli("segment", interleaved, "--pixel-size", "0.325", "--nuclear-channel", "0")
    assert done.returncode == 0 and "with hoechst" in done.stdout, done.stderr
    assert cells_of(tmp_path / "if3.ifcell") in FOUND
    bright = tmp_path / "he16.tif"
    tifffile.imwrite(bright, crops[2].astype(np.uint16) * 257, photometric="rgb")
    with pytest.warns(UserWarning, match="RGB of uint16 read as 8-bit"), open_slide(bright, pixel_size_um=0.325) as he:
        assert he.is_rgb
    twelve_bit = tmp_path / "he12.tif"  # an H&E in 12 of 16 bits is as bright, against its own range
    tifffile.imwrite(twelve_bit, crops[2].astype(np.uint16) * 16, photometric="rgb")
    with pytest.warns(UserWarning, match="RGB of uint16"), open_slide(twelve_bit, pixel_size_um=0.325) as he:
        assert he.is_rgb


def test_an_rgb_tiff_without_a_photometric_tag_is_still_rgb(crops, tmp_path):
    """tifffile reads a missing Photometric tag as MINISWHITE: that is no grey stack."""
    path = tmp_path / "he.tif"
    tifffile.imwrite(path, crops[2], photometric="rgb")
    with tifffile.TiffFile(path, mode="r+") as tif:
        tif.pages[0].tags[262].overwrite(0)  # then drop it: rename the tag to an unknown code
    data = bytearray(path.read_bytes())
    offset = data.find((262).to_bytes(2, "little") + (3).to_bytes(2, "little"))
    data[offset : offset + 2] = (65000).to_bytes(2, "little")
    path.write_bytes(bytes(data))
    assert 262 not in tifffile.TiffFile(path).pages[0].tags
    with open_slide(path, pixel_size_um=0.325) as slide:
        assert slide.is_rgb and slide.n_channels == 3


# --- channel names -------------------------------------------------------------------------------
def test_markers_csv_names_the_channels_and_the_nuclear_stain_is_found_by_alias(crops, tmp_path):
    folder = tmp_path / "registration"
    folder.mkdir()
    path = folder / "sample.ome.tif"
    tifffile.imwrite(
        path, np.stack(crops[1::-1]), metadata={"axes": "CYX", "PhysicalSizeX": 0.325, "PhysicalSizeY": 0.325}
    )
    (tmp_path / "markers.csv").write_text("cycle,marker_name\n1,CD3e\n1,DNA_1\n")  # MCMICRO, one folder up
    info = json.loads(run_cli("info", path, "--json").stdout)
    assert info["channels"] == ["CD3e", "DNA_1"]
    done = run_cli("segment", path)
    assert done.returncode == 0, done.stderr
    assert cells_of(folder / "sample.ifcell") in FOUND
    one_line_error(run_cli("segment", path, "--nuclear-channel", "CD8", "--store", tmp_path / "y"), "'CD8'")


def test_another_tools_masks_beside_the_markers_csv_are_labels_on_the_slides_grid(crops, tmp_path):
    """MCMICRO keeps its masks beside the markers.csv: reading the mask printed "markers.csv lists
    2 markers but the image has 1 channels" on every command; masks at another pixel size were
    quantified and exported as if on the slide's grid (import-labels refused them)."""
    path = tmp_path / "sample.ome.tif"
    ome = {"axes": "CYX", "PhysicalSizeX": 0.325, "PhysicalSizeY": 0.325}
    tifffile.imwrite(path, np.stack(crops[1::-1]), metadata=ome)
    (tmp_path / "markers.csv").write_text("cycle,marker_name\n1,CD3e\n1,DNA_1\n")
    assert run_cli("segment", path).returncode == 0
    masks = np.asarray(LabelStore.open_labels(tmp_path / "sample.ifcell")[:])
    tifffile.imwrite(
        tmp_path / "cell.ome.tif", masks, metadata={"axes": "YX", "PhysicalSizeX": 0.325, "PhysicalSizeY": 0.325}
    )
    done = run_cli("quantify", path, tmp_path / "cell.ome.tif", "--out", tmp_path / "cells.csv")
    assert done.returncode == 0 and "markers but the image has 1 channels" not in done.stderr, done.stderr
    assert len(pd.read_csv(tmp_path / "cells.csv")) == cells_of(tmp_path / "sample.ifcell")
    tifffile.imwrite(
        tmp_path / "finer.ome.tif", masks, metadata={"axes": "YX", "PhysicalSizeX": 0.25, "PhysicalSizeY": 0.25}
    )
    for command in (
        ["quantify", path, tmp_path / "finer.ome.tif", "--out", tmp_path / "no.csv"],
        [
            "export",
            tmp_path / "cells.csv",
            "--if",
            path,
            "--store",
            tmp_path / "finer.ome.tif",
            "--out",
            tmp_path / "c.geojson",
        ],
    ):
        one_line_error(run_cli(*command), "the labels say 0.25 µm/px but sample.ome.tif is 0.325 µm/px")
    assert not (tmp_path / "no.csv").exists() and not (tmp_path / "c.geojson").exists()


def test_two_unnamed_channels_ask_which_is_the_nuclear_stain(crops, tmp_path):
    path = tmp_path / "two.ome.tif"
    tifffile.imwrite(
        path, np.stack(crops[1::-1]), metadata={"axes": "CYX", "PhysicalSizeX": 0.325, "PhysicalSizeY": 0.325}
    )
    one_line_error(run_cli("segment", path), "--nuclear-channel")
    done = run_cli("segment", path, "--nuclear-channel", "1")
    assert done.returncode == 0, done.stderr


# --- one store per slide ---------------------------------------------------------------------------
def test_dotted_names_keep_separate_stores_and_a_store_refuses_another_slide(crops, tmp_path):
    ome = {"axes": "YX", "PhysicalSizeX": 0.325, "PhysicalSizeY": 0.325}
    tifffile.imwrite(tmp_path / "a.v1.ome.tif", crops[0], metadata=ome)
    tifffile.imwrite(tmp_path / "a.v2.ome.tif", crops[0][:, ::-1].copy(), metadata=ome)
    for name in ("a.v1.ome.tif", "a.v2.ome.tif"):
        done = run_cli("segment", tmp_path / name)
        assert done.returncode == 0, done.stderr
    v1, v2 = cells_of(tmp_path / "a.v1.ifcell"), cells_of(tmp_path / "a.v2.ifcell")
    assert v1 in FOUND and v2 in FOUND
    done = run_cli("segment", tmp_path / "a.v2.ome.tif", "--store", tmp_path / "a.v1.ifcell")
    one_line_error(done, "a.v1.ome.tif", "not of a.v2.ome.tif")
    assert cells_of(tmp_path / "a.v1.ifcell") == v1  # nothing of the first slide's lost


def test_a_slide_rewritten_under_its_name_is_told_apart_from_its_store(crops, tmp_path):
    path = tmp_path / "crop.tif"
    tifffile.imwrite(path, crops[0], resolution=(1 / 0.325, 1 / 0.325), resolutionunit="MICROMETER")
    assert run_cli("segment", path).returncode == 0
    tifffile.imwrite(path, crops[0][::-1].copy(), resolution=(1 / 0.325, 1 / 0.325), resolutionunit="MICROMETER")
    one_line_error(run_cli("segment", path), "holds the cells of crop.tif", "not of the crop.tif there now")


def test_a_store_named_the_old_way_gets_a_clear_message(crops, tmp_path):
    ome = {"axes": "YX", "PhysicalSizeX": 0.325, "PhysicalSizeY": 0.325}
    tifffile.imwrite(tmp_path / "b.v1.ome.tif", crops[0], metadata=ome)
    LabelStore.create(tmp_path / "b.ifcell", (SIZE, SIZE), pixel_size_um=0.325)  # what 0.2 made for b.v1
    one_line_error(run_cli("segment", tmp_path / "b.v1.ome.tif"), "b.ifcell", "rename it to b.v1.ifcell")


# --- bit depth -------------------------------------------------------------------------------------
def _counts(done) -> dict[str, int]:
    assert done.returncode == 0, done.stderr
    return {name: int(n) for name, n in (line.split("\t") for line in done.stdout.strip().splitlines())}


def test_suggested_gates_give_the_same_phenotypes_for_16_bit_8_bit_and_float_images(small_pair, tmp_path):
    """The same tissue exported as 8-bit or as floats scaled to 0-1 (what Fiji and scripts
    write) is gated as the 16-bit original: the asinh cofactor follows the data's scale."""
    with open_slide(small_pair.if_path) as slide:
        original = np.asarray(slide.levels[0][:])
        names = list(slide.channel_names)
    counts = {}
    for name, pixels in [
        ("uint16", original),
        ("uint8", np.round(original / 257.0).astype(np.uint8)),
        ("float", (original / 65535.0).astype(np.float32)),
    ]:
        path = tmp_path / f"{name}.ome.tif"
        meta = {"axes": "CYX", "Channel": {"Name": names}, "PhysicalSizeX": 0.325, "PhysicalSizeY": 0.325}
        tifffile.imwrite(path, pixels, ome=True, tile=(256, 256), metadata=meta)
        table = tmp_path / f"{name}.csv"
        done = run_cli("quantify", path, small_pair.labels_path, "--out", table)
        assert done.returncode == 0, done.stderr
        counts[name] = _counts(run_cli("gate", table))
    print(counts)
    assert counts["float"] == counts["uint16"]  # the same numbers, scaled
    for phenotype, n in counts["uint16"].items():  # 8-bit rounding moves a few dim cells
        assert abs(counts["uint8"].get(phenotype, 0) - n) <= max(3, 0.1 * n), (phenotype, counts)
    assert counts["uint16"]["B cell"] >= 80  # of 95 true B cells


# --- SVS -------------------------------------------------------------------------------------------
def test_svs_with_one_level_keeps_thumbnail_label_and_macro_out(crops, tmp_path):
    rgb = np.ascontiguousarray(np.tile(crops[2], (1, 2, 1)))
    path = tmp_path / "single.svs"
    desc = f"Aperio Image Library v12.0.15 \r\n{rgb.shape[1]}x{rgb.shape[0]} [0,0 ...] (256x256) JPEG/RGB|MPP = 0.2520"
    with tifffile.TiffWriter(path) as tw:
        tw.write(rgb, tile=(256, 256), description=desc, photometric="rgb", metadata=None)
        thumb = rgb[::4, ::4].copy()  # 4x: looks like a pyramid level
        tw.write(thumb, description="Aperio Image Library v12.0.15 \r\nthumbnail", photometric="rgb", metadata=None)
        tw.write(rgb[:64, :64].copy(), subfiletype=1, description="label 64x64", photometric="rgb", metadata=None)
        tw.write(rgb[:96, :128].copy(), subfiletype=9, description="macro 128x96", photometric="rgb", metadata=None)
    info = json.loads(run_cli("info", path, "--json").stdout)
    assert [lv["downsample"] for lv in info["levels"]] == [1.0]
    assert info["pixel_size_um"] == pytest.approx(0.252)


def test_an_ome_tiff_with_its_macro_picture_first_opens_the_slide_with_a_note(crops, tmp_path):
    """Some scanners' OME-TIFFs hold the slide's macro photograph as their first image."""
    path = tmp_path / "macro_first.ome.tif"
    fluorescence = np.stack(crops[:2])
    with tifffile.TiffWriter(path, ome=True) as tw:
        tw.write(crops[2][::4, ::4].copy(), photometric="rgb", metadata={"Name": "macro image"})
        meta = {"axes": "CYX", "Name": "slide", "Channel": {"Name": ["Hoechst", "CD3e"]}}
        tw.write(
            fluorescence, tile=(256, 256), subifds=1, metadata={**meta, "PhysicalSizeX": 0.325, "PhysicalSizeY": 0.325}
        )
        tw.write(fluorescence[:, ::2, ::2], tile=(256, 256), subfiletype=1)
    done = run_cli("segment", path)
    assert done.returncode == 0, done.stderr
    assert "opened the largest, image 1 'slide' of 512 x 512 px; skipped image 0 'macro image'" in done.stderr
    assert "with hoechst" in done.stdout and cells_of(tmp_path / "macro_first.ifcell") in FOUND
    with open_slide(path) as slide:
        assert slide.channel_names == ("Hoechst", "CD3e") and len(slide.levels) == 2


def test_a_plain_tiff_with_its_macro_first_takes_the_slides_own_pixel_size(crops, tmp_path):
    path = tmp_path / "macro_first.tif"
    with tifffile.TiffWriter(path) as tw:  # no names: only the sizes tell the macro from the slide
        tw.write(crops[0][::4, ::4].copy(), resolution=(1 / 20.0, 1 / 20.0), resolutionunit="MICROMETER")
        tw.write(crops[0], resolution=(1 / 0.325, 1 / 0.325), resolutionunit="MICROMETER")
    with pytest.warns(UserWarning, match="opened the largest, image 1 of 512 x 512 px; skipped image 0 of 128 x 128"):
        slide = open_slide(path)
    with slide:
        assert slide.pixel_size_um == pytest.approx(0.325) and slide.levels[0].shape[-2:] == (512, 512)


# --- OME-Zarr ------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_ome_zarr_written_by_ome_zarr_py_opens_lazily_and_segments(crops, tmp_path, version):
    import zarr
    from ome_zarr.format import FormatV04, FormatV05

    path = tmp_path / f"sample{version}.ome.zarr"
    root = zarr.open_group(path, mode="w", zarr_format=2 if version == "0.4" else 3)
    write_ngff(
        root,
        np.stack(crops[1::-1])[:, None],  # c, z, y, x with one z plane
        axes="czyx",
        fmt=FormatV04() if version == "0.4" else FormatV05(),
        pixel_size_um=0.325,
        names=("CD3e", "DAPI"),
    )
    with open_slide(path) as slide:
        assert slide.channel_names == ("CD3e", "DAPI") and slide.pixel_size_um == pytest.approx(0.325)
        assert slide.level_shapes == [(SIZE, SIZE), (SIZE // 2, SIZE // 2)]
        np.testing.assert_array_equal(slide.read_region(10, 20, 30, 40, channels=["DAPI"])[0], crops[0][10:40, 20:60])
        assert slide.dask_levels()[1].shape == (2, SIZE // 2, SIZE // 2)
    done = run_cli("segment", path)
    assert done.returncode == 0, done.stderr
    assert cells_of(tmp_path / f"sample{version}.ifcell") in FOUND
    info = json.loads(run_cli("info", path, "--json").stdout)
    assert info["channels"] == ["CD3e", "DAPI"] and len(info["levels"]) == 2


@pytest.mark.parametrize(
    ("names", "colors"), [(("R", "G", "B"), None), (("c0", "c1", "c2"), ["FF0000", "00FF00", "0000FF"])]
)
def test_a_16_bit_rgb_ome_zarr_is_read_as_8_bit_h_and_e_with_a_note(crops, tmp_path, names, colors):
    """omero marks the three channels red, green and blue (by label or colour): an H&E, not three
    fluorescence channels, and scaled to 0..255 as every H&E model expects."""
    import zarr

    he16 = np.moveaxis(crops[2], -1, 0).astype(np.uint16) * 257
    path = tmp_path / "he16.ome.zarr"
    write_ngff(zarr.open_group(path, mode="w"), he16, axes="cyx", pixel_size_um=0.325, names=names, colors=colors)
    with pytest.warns(UserWarning, match=r"he16\.ome\.zarr: RGB of uint16 read as 8-bit \(values divided by 257\)"):
        slide = open_slide(path)
    with slide:
        assert slide.is_rgb and slide.channel_names == ("red", "green", "blue")
        np.testing.assert_array_equal(slide.read_region(0, 0, 64, 64), crops[2][:64, :64])
    # three 16-bit channels without red/green/blue marks stay fluorescence
    path = tmp_path / "three.ome.zarr"
    write_ngff(zarr.open_group(path, mode="w"), he16, axes="cyx", pixel_size_um=0.325, names=("DAPI", "CD3e", "CD20"))
    with open_slide(path) as slide:
        assert not slide.is_rgb and slide.channel_names == ("DAPI", "CD3e", "CD20")


def test_nuclear_channel_choice_and_a_reader_that_needs_none():
    from napari_ifcell.io.channels import nuclear_channel_index
    from napari_ifcell.io.errors import SlideMetadataError
    from napari_ifcell.pipeline.segment import TileReader

    assert nuclear_channel_index(["CD3", "Hoechst 33342"]) == 1
    assert nuclear_channel_index(["DAPI", "CD3"], "Hoechst") == 0  # the old default finds a DAPI slide's stain
    assert nuclear_channel_index(["ch0", "Hoechst"], 0) == 0  # index 0 is a choice, not "automatic"
    with pytest.raises(SlideMetadataError, match="no channel 'CD8'"):
        nuclear_channel_index(["DAPI", "CD3"], "CD8")

    class Unnamed:
        path, is_rgb, channel_names = "x.tif", False, ("ch0", "ch1")

    reader = TileReader(Unnamed())  # the he / sam backends never ask for the nuclear channel
    with pytest.raises(SlideMetadataError, match="--nuclear-channel"):
        reader.channel


def test_a_store_of_another_slide_with_the_same_prefix_is_not_taken_for_a_legacy_one(crops, tmp_path):
    ome = {"axes": "YX", "PhysicalSizeX": 0.325, "PhysicalSizeY": 0.325}
    tifffile.imwrite(tmp_path / "c.ome.tif", crops[0], metadata=ome)
    tifffile.imwrite(tmp_path / "c.v1.ome.tif", crops[0][::-1].copy(), metadata=ome)
    for name in ("c.ome.tif", "c.v1.ome.tif"):  # c.ifcell is c.ome.tif's own store
        done = run_cli("segment", tmp_path / name)
        assert done.returncode == 0, done.stderr
    assert LabelStore.open(tmp_path / "c.ifcell").slide_name == "c.ome.tif"
    assert LabelStore.open(tmp_path / "c.v1.ifcell").slide_name == "c.v1.ome.tif"


def test_an_ome_zarr_without_units_asks_for_the_pixel_size_naming_its_scales(crops, tmp_path):
    import zarr

    path = tmp_path / "no_units.ome.zarr"
    group = zarr.open_group(path, mode="w")
    write_ngff(group, np.stack(crops[:2]), axes="cyx", pixel_size_um=0.325, names=("Hoechst", "CD3e"))
    attrs = group.attrs.asdict()
    ome = attrs.get("ome", attrs)
    for axis in ome["multiscales"][0]["axes"]:
        axis.pop("unit", None)
    group.attrs.put(attrs)
    line = one_line_error(run_cli("segment", path), "no_units.ome.zarr", "pixel size unknown", "--pixel-size")
    assert "multiscales" in line and "PhysicalSize" not in line
    info = run_cli("info", path)  # ome-zarr-py's default: the scale written, no unit; named in the note
    assert "the multiscales x scale 0.325 has no unit; if it is µm, that is the pixel size" in info.stderr, info.stderr
    for axis in ome["multiscales"][0]["axes"]:
        axis["unit"] = "µm" if axis["name"] in "yx" else axis.get("unit")  # not NGFF's name, but unambiguous
    group.attrs.put(attrs)
    with open_slide(path) as slide:
        assert slide.pixel_size_um == pytest.approx(0.325)


def test_bioformats2raw_layout_reads_its_largest_image(crops, tmp_path):
    import zarr

    path = tmp_path / "converted.ome.zarr"
    root = zarr.open_group(path, mode="w", zarr_format=2)
    root.attrs["bioformats2raw.layout"] = 3  # what bioformats2raw (and QuPath's converter) writes
    write_ngff(root.create_group("0"), np.stack(crops[:2]), axes="cyx", pixel_size_um=0.65, names=("Hoechst", "CD3e"))
    with open_slide(path) as slide:
        assert slide.channel_names == ("Hoechst", "CD3e") and slide.pixel_size_um == pytest.approx(0.65)
        a, b = slide.fingerprint(), slide.fingerprint()
        assert a == b and len(a) == 16


def test_bioformats2raw_layout_with_a_label_image_first_opens_the_slide(crops, tmp_path):
    import zarr

    path = tmp_path / "converted.ome.zarr"
    root = zarr.open_group(path, mode="w", zarr_format=2)
    root.attrs["bioformats2raw.layout"] = 3
    label = np.moveaxis(crops[2][::8, ::8], -1, 0).copy()  # a small RGB photograph, as a converted VSI holds
    write_ngff(root.create_group("0"), label, axes="cyx", pixel_size_um=20.0, names=("R", "G", "B"))
    write_ngff(root.create_group("1"), np.stack(crops[:2]), axes="cyx", pixel_size_um=0.65, names=("Hoechst", "CD3e"))
    with pytest.warns(UserWarning, match="holds 2 images; opened the largest, image 1"):
        slide = open_slide(path)
    with slide:
        assert slide.channel_names == ("Hoechst", "CD3e") and slide.pixel_size_um == pytest.approx(0.65)


def test_pixels_without_data_in_a_float_slide_hold_no_nuclei_and_no_values(crops, tmp_path, capsys):
    """NaN pixels of a floating-point slide (outside a warped or registered field) stopped
    segmentation with numpy's "range of [nan, nan] is not finite", naming no file; and
    quantification summed them as 0, so cells beside them read dim. Now they are no image: no
    nucleus is drawn there, the rest is segmented as before, and a cell reaching them has no
    value (NaN, with a note) rather than a diluted one."""
    from napari_ifcell.cli import main

    hoechst, cd3 = crops[:2]
    ome = {"axes": "CYX", "Channel": {"Name": ["Hoechst", "CD3e"]}, "PhysicalSizeX": 0.325, "PhysicalSizeY": 0.325}
    whole, holed = tmp_path / "whole.ome.tif", tmp_path / "holed.ome.tif"
    image = np.stack([hoechst, cd3]).astype(np.float32)
    tifffile.imwrite(whole, image, ome=True, photometric="minisblack", metadata=ome)
    image[:, :, :120] = np.nan
    tifffile.imwrite(holed, image, ome=True, photometric="minisblack", metadata=ome)
    for path in (whole, holed):
        assert main(["segment", str(path)]) == 0, capsys.readouterr().err
        assert (
            main(
                [
                    "quantify",
                    str(path),
                    str(path.with_suffix("").with_suffix(".ifcell")),
                    "--out",
                    str(path.with_suffix(".parquet")),
                ]
            )
            == 0
        )
    said = capsys.readouterr().err
    a = pd.read_parquet(whole.with_suffix(".parquet"))
    b = pd.read_parquet(holed.with_suffix(".parquet"))
    assert (b["X_centroid"] < 120).sum() == 0 and len(b) > 40
    right = (a["X_centroid"] > 135).sum()
    assert abs((b["X_centroid"] > 135).sum() - right) <= 0.05 * right  # the rest as before
    empty = b["Hoechst"].isna()
    assert 0 < empty.sum() < 15 and f"{empty.sum()} cells have pixels without data (NaN) in Hoechst, CD3e" in said
    assert (b.loc[empty, "X_centroid"] < 135).all()  # the cells at the field's edge
    assert b.loc[~empty, "Hoechst"].min() > 0
