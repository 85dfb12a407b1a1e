"""Every slide layout the reader promises, on files the tests write themselves."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_ifcell.io import open_slide

NAMES = ["Hoechst", "CD3e", "CD20", "Pan-CK"]


def _if_data(shape=(4, 300, 400), seed=0):
    return np.random.default_rng(seed).integers(0, 60000, shape, dtype=np.uint16)


def write_ome_subifd(path, data, names=NAMES, pixel_size=0.5):
    md = {"axes": "CYX", "PhysicalSizeX": pixel_size, "PhysicalSizeY": pixel_size}
    if names is not None:
        md["Channel"] = {"Name": names}
    with tifffile.TiffWriter(path, bigtiff=True, ome=True) as tw:
        tw.write(data, subifds=2, metadata=md, tile=(64, 64), compression="zlib")
        tw.write(data[:, ::2, ::2], subfiletype=1, tile=(64, 64), compression="zlib")
        tw.write(data[:, ::4, ::4], subfiletype=1, tile=(64, 64), compression="zlib")


def test_ome_subifd_pyramid(tmp_path):
    data = _if_data()
    write_ome_subifd(tmp_path / "a.ome.tif", data)
    with open_slide(tmp_path / "a.ome.tif") as slide:
        assert slide.channel_names == tuple(NAMES)
        assert slide.pixel_size_um == 0.5
        assert slide.level_shapes == [(300, 400), (150, 200), (75, 100)]
        assert slide.downsamples == [1.0, 2.0, 4.0]
        assert not slide.is_rgb
        np.testing.assert_array_equal(slide.read_region(10, 20, 50, 70), data[:, 10:60, 20:90])
        np.testing.assert_array_equal(
            slide.read_region(5, 7, 30, 40, level=1, channels=["CD20", 0]),
            data[:, ::2, ::2][[2, 0], 5:35, 7:47],
        )


def test_region_outside_the_slide_is_filled(tmp_path):
    data = _if_data()
    write_ome_subifd(tmp_path / "a.ome.tif", data)
    with open_slide(tmp_path / "a.ome.tif") as slide:
        region = slide.read_region(-10, 390, 20, 20, channels=[1], fill=7)
    assert region.shape == (1, 20, 20)
    np.testing.assert_array_equal(region[0, 10:, :10], data[1, 0:10, 390:400])
    assert (region[0, :10] == 7).all() and (region[0, :, 10:] == 7).all()


def test_read_at_physical_resolution(tmp_path):
    data = np.zeros((4, 300, 400), np.uint16)
    data[:, 100:200, 100:300] = 1000
    write_ome_subifd(tmp_path / "a.ome.tif", data)
    with open_slide(tmp_path / "a.ome.tif") as slide:
        assert slide.level_for_resolution(1.0) == 1
        assert slide.level_for_resolution(1.5) == 1
        assert slide.level_for_resolution(0.4) == 0
        # 1.5 µm/px is 3x coarser than level 0: a 100 x 200 px box becomes ~33 x 67
        out = slide.read_region(0, 0, 100, 133, um_per_px=1.5, channels=[0])
    assert out.shape == (1, 100, 133)
    inside = out[0] > 500
    assert abs(inside.sum() - (100 / 3) * (200 / 3)) < 0.1 * (100 / 3) * (200 / 3)
    ys, xs = np.nonzero(inside)
    assert abs(ys.min() - 100 / 3) <= 1 and abs(xs.min() - 100 / 3) <= 1


def test_a_resampled_read_sits_on_the_requested_grid(tmp_path):
    """At 0.65 µm on a 0.5 µm slide (1.3 level pixels per pixel), pixel j of a read from x sits
    at level-0 x (x + j + 0.5) * 1.3 - 0.5: a ramp reads back as that position, and a window
    holds what the same pixels hold in a larger read (a cell's classifier patch is the same
    whichever cells are cut with it)."""
    ramp = np.broadcast_to((np.arange(400) * 100).astype(np.uint16), (1, 300, 400)).copy()
    noise = np.random.default_rng(1).integers(0, 60000, (1, 300, 400), dtype=np.uint16)
    write_ome_subifd(tmp_path / "ramp.ome.tif", ramp, names=["ramp"])
    write_ome_subifd(tmp_path / "noise.ome.tif", noise, names=["noise"])
    with open_slide(tmp_path / "ramp.ome.tif") as slide:
        out = slide.read_region(20, 37, 50, 150, um_per_px=0.65)[0]
    expected = 100 * ((37 + np.arange(150) + 0.5) * 1.3 - 0.5)
    np.testing.assert_allclose(out[25, 5:-5], expected[5:-5], atol=1)  # 1: rounded to integers
    with open_slide(tmp_path / "noise.ome.tif") as slide:
        large = slide.read_region(10, 10, 180, 250, um_per_px=0.65)[0]
        for y, x in [(10, 10), (23, 51), (71, 130)]:
            window = slide.read_region(y, x, 40, 40, um_per_px=0.65)[0]
            np.testing.assert_array_equal(window, large[y - 10 : y + 30, x - 10 : x + 30])


def test_a_resampled_read_holds_the_slide_to_its_edge(tmp_path):
    """A flat slide reads flat up to its edge at any resolution, coarser (1.5 µm on 0.5 µm) or
    finer (0.25 µm); only pixels centred off the slide are the fill."""
    write_ome_subifd(tmp_path / "flat.ome.tif", np.full((1, 300, 400), 1000, np.uint16), names=["flat"])
    with open_slide(tmp_path / "flat.ome.tif") as slide:
        for um, (h, w) in ((1.5, (100, 133)), (0.25, (600, 800))):
            assert (slide.read_region(0, 0, h, w, um_per_px=um, fill=7) == 1000).all(), um
        corner = slide.read_region(-5, -5, 20, 20, um_per_px=1.5, fill=7)[0]
    assert (corner[:5] == 7).all() and (corner[:, :5] == 7).all() and (corner[5:, 5:] == 1000).all()


def test_pyramid_stored_as_separate_series(tmp_path):
    data = _if_data()
    path = tmp_path / "series.ome.tif"
    with tifffile.TiffWriter(path, ome=True) as tw:
        for f in (1, 2, 4):
            tw.write(data[:, ::f, ::f], metadata={"axes": "CYX", "Channel": {"Name": NAMES}}, tile=(64, 64))
    with open_slide(path) as slide:
        assert slide.level_shapes == [(300, 400), (150, 200), (75, 100)]
        np.testing.assert_array_equal(slide.read_region(0, 0, 75, 100, level=2), data[:, ::4, ::4])


def test_single_level_plain_tiff_with_resolution_tags(tmp_path):
    data = _if_data((3, 120, 90))
    path = tmp_path / "plain.tif"
    tifffile.imwrite(
        path, data, resolution=(1e4 / 0.65, 1e4 / 0.65), resolutionunit="CENTIMETER", photometric="minisblack"
    )
    with pytest.warns(UserWarning, match="no channel names"):
        slide = open_slide(path)
    with slide:
        assert slide.level_shapes == [(120, 90)]
        assert slide.channel_names == ("ch0", "ch1", "ch2")
        assert slide.pixel_size_um == pytest.approx(0.65)
        np.testing.assert_array_equal(slide.read_region(0, 0, 120, 90), data)


@pytest.mark.parametrize("planar", [False, True])
def test_rgb_planar_and_interleaved_read_the_same(tmp_path, planar):
    rgb = np.random.default_rng(1).integers(0, 255, (200, 260, 3), dtype=np.uint8)
    path = tmp_path / "he.ome.tif"
    stored = np.moveaxis(rgb, -1, 0).copy() if planar else rgb
    with tifffile.TiffWriter(path, ome=True) as tw:
        opts = dict(photometric="rgb", planarconfig="separate" if planar else "contig", tile=(64, 64))
        tw.write(stored, subifds=1, **opts)
        tw.write(stored[:, ::2, ::2] if planar else stored[::2, ::2], subfiletype=1, **opts)
    with pytest.warns(UserWarning, match="pixel size unknown"):
        slide = open_slide(path)
    with slide:
        assert slide.is_rgb and slide.layout == ("SYX" if planar else "YXS")
        assert slide.pixel_size_um is None
        np.testing.assert_array_equal(slide.read_region(10, 20, 30, 40), rgb[10:40, 20:60])
        assert slide.dask_levels()[1].shape == (100, 130, 3)
        np.testing.assert_array_equal(slide.dask_levels()[0][5:9, 6:8].compute(), rgb[5:9, 6:8])


def test_aperio_svs(tmp_path):
    rgb = np.random.default_rng(2).integers(0, 255, (512, 768, 3), dtype=np.uint8)
    path = tmp_path / "slide.svs"
    desc = "Aperio Image Library v12.0.15 \r\n768x512 [0,0 768x512] (256x256) JPEG/RGB Q=70|AppMag = 40|MPP = 0.2520"
    aperio = dict(photometric="rgb", metadata=None)
    with tifffile.TiffWriter(path) as tw:
        tw.write(rgb, tile=(256, 256), description=desc, **aperio)
        tw.write(rgb[::8, ::8], description="Aperio Image Library v12.0.15 \r\nthumbnail", **aperio)
        tw.write(rgb[::4, ::4], tile=(64, 64), description="Aperio Image Library v12.0.15 \r\nlevel", **aperio)
    with open_slide(path) as slide:
        assert slide.is_rgb
        assert slide.pixel_size_um == pytest.approx(0.252)
        assert slide.level_shapes == [(512, 768), (128, 192)]
        np.testing.assert_array_equal(slide.read_region(100, 200, 16, 16), rgb[100:116, 200:216])


def test_pixel_size_override(tmp_path):
    write_ome_subifd(tmp_path / "a.ome.tif", _if_data())
    with open_slide(tmp_path / "a.ome.tif", pixel_size_um=0.325) as slide:
        assert slide.pixel_size_um == 0.325
        assert slide.level_pixel_size_um(2) == pytest.approx(1.3)


def test_opening_reads_no_pixel_data(tmp_path, monkeypatch):
    write_ome_subifd(tmp_path / "a.ome.tif", _if_data())

    def refuse(*args, **kwargs):
        raise AssertionError("pixel data decoded while opening")

    monkeypatch.setattr(tifffile.TiffPage, "decode", refuse)
    monkeypatch.setattr(tifffile.TiffPage, "asarray", refuse)
    slide = open_slide(tmp_path / "a.ome.tif")
    slide.dask_levels()
    with pytest.raises(Exception):  # noqa: B017 - whatever the broken decoder raises
        slide.read_region(0, 0, 10, 10)  # reading does decode: the patch is live
    slide.close()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_a_miniswhite_image_reads_bright_where_the_stain_is(tmp_path, dtype):
    """0 is white in MINISWHITE: read as stored, a DAPI channel came out inverted (correlation -1
    with the true stain) and segmentation found nothing, without a word."""
    rng = np.random.default_rng(0)
    top = np.iinfo(dtype).max
    stain = rng.integers(0, top // 2, (2, 96, 128)).astype(dtype)
    path = tmp_path / "white.tif"
    tifffile.imwrite(path, (top - stain).astype(dtype), photometric="miniswhite", tile=(32, 32))
    with pytest.warns(UserWarning, match="MINISWHITE"), open_slide(path) as slide:
        assert "MINISWHITE" in " ".join(slide.notes)
        np.testing.assert_array_equal(slide.read_region(0, 0, 96, 128), stain)
        np.testing.assert_array_equal(np.asarray(slide.display_levels()[0][1, 10:20, 30:40]), stain[1, 10:20, 30:40])
        assert slide.dtype == dtype


def test_miniswhite_images_without_a_white_to_invert_from_are_read_as_stored(tmp_path):
    """Fiji saves an image shown with an inverted LUT as MINISWHITE with its values unchanged;
    a float image has no white value. Both read as stored, with a note."""
    from napari_ifcell.pipeline.tiling import open_label_file

    ids = np.repeat(np.arange(4, dtype=np.uint16), 16).reshape(8, 8)
    tifffile.imwrite(tmp_path / "fiji.tif", ids, imagej=True, photometric="miniswhite")
    tifffile.imwrite(tmp_path / "float.tif", ids.astype(np.float32) / 4, photometric="miniswhite")
    for name, said in [("fiji.tif", "inverted LUT"), ("float.tif", "float32 has no white value")]:
        with pytest.warns(UserWarning, match=said), open_slide(tmp_path / name) as slide:
            np.testing.assert_array_equal(slide.read_region(0, 0, 8, 8)[0], ids / (4 if name == "float.tif" else 1))
    labels = tmp_path / "labels.tif"  # a label image stored MINISWHITE: its ids are ids
    tifffile.imwrite(labels, ids, photometric="miniswhite")
    assert set(np.unique(np.asarray(open_label_file(labels).levels[0][:]))) == {0, 1, 2, 3}


@pytest.mark.parametrize(("planes", "named"), [(1, "using ch0 ("), (3, "using ch0..ch2 (")])
def test_channels_without_names_are_named_in_a_note(tmp_path, planes, named):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, np.zeros((planes, 32, 32), np.uint16).squeeze(), photometric="minisblack")
    with pytest.warns(UserWarning, match="no channel names"), open_slide(path) as slide:
        assert any(named in note for note in slide.notes), slide.notes
