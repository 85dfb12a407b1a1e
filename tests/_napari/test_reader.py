"""The npe2 reader in a real viewer: lazy multiscale layers in µm."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_ifcell._napari.layers import DEFAULT_VISIBLE
from napari_ifcell._napari.reader import napari_get_reader
from napari_ifcell.orion import ORION_CHANNELS


def test_reader_claims_slides_only(tmp_path):
    assert napari_get_reader(str(tmp_path / "cells.png")) is None
    assert callable(napari_get_reader(str(tmp_path / "slide.ome.tiff")))
    assert callable(napari_get_reader([str(tmp_path / "a.svs"), str(tmp_path / "b.tif")]))


def test_if_slide_opens_as_one_layer_per_channel(make_napari_viewer, small_pair):
    viewer = make_napari_viewer()
    layers = viewer.open(small_pair.if_path, plugin="napari-ifcell")
    assert [layer.name for layer in layers] == list(ORION_CHANNELS)
    for layer in layers:
        assert layer.multiscale and len(layer.data) == 4
        assert tuple(layer.scale) == (0.325, 0.325)
        assert layer.blending == "additive"
        lo, hi = layer.contrast_limits
        assert hi > lo
    assert {layer.name for layer in layers if layer.visible} == set(DEFAULT_VISIBLE)
    # lazy: level 0 is read only where napari draws, through the slide's chunk cache
    from napari_ifcell.io.display_level import DisplayLevel

    level0 = layers[0].data[0]
    assert isinstance(level0, DisplayLevel) and level0.reader.decoded < level0.reader.chunks_in_level
    hoechst = viewer.layers["Hoechst"]
    assert hoechst.contrast_limits[1] > 3 * viewer.layers["Argo550"].contrast_limits[1]


def test_he_slide_opens_as_rgb(make_napari_viewer, small_pair):
    viewer = make_napari_viewer()
    (layer,) = viewer.open(small_pair.he_path, plugin="napari-ifcell")
    assert layer.rgb and layer.multiscale
    assert layer.data[0].shape == (1100, 1400, 3)
    assert tuple(layer.scale) == (0.325, 0.325)  # Orion default for an H&E without pixel size


def test_a_16_bit_rgb_h_and_e_is_shown_over_its_full_range(make_napari_viewer, tmp_path):
    """Colours as stored: napari would stretch a 16-bit RGB from its darkest to its brightest
    value, turning pale eosin dark pink."""
    rgb = np.random.default_rng(0).integers(100, 255, (300, 400, 3)).astype(np.uint16) * 257
    tifffile.imwrite(tmp_path / "he16.tif", rgb, photometric="rgb")
    viewer = make_napari_viewer()
    with pytest.warns(UserWarning, match="RGB of uint16 read as 8-bit"):
        (layer,) = viewer.open(tmp_path / "he16.tif", plugin="napari-ifcell")
    assert layer.rgb and tuple(layer.contrast_limits) == (0, 65535)


def test_bad_file_is_reported_not_crashing(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    bad = tmp_path / "broken.ome.tif"
    bad.write_bytes(b"II*\x00garbage")
    with pytest.raises(Exception, match=r"broken\.ome\.tif"):
        viewer.open(bad, plugin="napari-ifcell")
    assert len(viewer.layers) == 0
    viewer.add_image(np.zeros((4, 4)))  # the viewer still works


def test_screenshot_shows_he_under_if(make_napari_viewer, small_pair):
    viewer = make_napari_viewer(show=True)
    viewer.open(small_pair.he_path, plugin="napari-ifcell")
    viewer.open(small_pair.if_path, plugin="napari-ifcell")
    viewer.reset_view()
    shot = viewer.screenshot(canvas_only=True, flash=False)
    rgb = shot[..., :3].astype(float)
    assert rgb.std() > 20  # tissue, cells and background, not a blank canvas
    # H&E eosin pink dominates: red above green on average
    assert rgb[..., 0].mean() > rgb[..., 1].mean()


def test_ome_zarr_opens_through_the_reader(make_napari_viewer, tmp_path):
    import zarr

    from ..ngff_writer import write_ngff

    data = np.random.default_rng(4).integers(0, 3000, (2, 256, 320), dtype=np.uint16)
    path = tmp_path / "image.ome.zarr"
    write_ngff(zarr.open_group(path, mode="w"), data, axes="cyx", pixel_size_um=0.5, names=("Hoechst", "CD8a"))
    assert callable(napari_get_reader(str(path)))
    viewer = make_napari_viewer()
    layers = viewer.open(str(path), plugin="napari-ifcell")
    assert [layer.name for layer in layers] == ["Hoechst", "CD8a"]
    assert layers[0].multiscale and tuple(layers[0].scale) == (0.5, 0.5)
    np.testing.assert_array_equal(np.asarray(layers[1].data[0][5:9, 7:11]), data[1, 5:9, 7:11])


def _flat_slide(path, shape=(2, 1500, 1700)):
    """One level, no pyramid, tiled: as many scanners' exports and hand-made TIFFs are."""
    data = np.random.default_rng(3).integers(100, 4000, shape, dtype=np.uint16)
    data[1, :, :850] = 20  # half of channel 1 is dark: a sample of one corner would miss it
    metadata = {"axes": "CYX", "Channel": {"Name": ["Hoechst", "CD3e"]}, "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5}
    tifffile.imwrite(path, data, ome=True, tile=(256, 256), compression="zlib", metadata=metadata)
    return data


def test_contrast_of_a_large_level_comes_from_windows_across_it(tmp_path, monkeypatch):
    from napari_ifcell._napari import layers
    from napari_ifcell.core.display import contrast_limits
    from napari_ifcell.io import open_slide

    data = _flat_slide(tmp_path / "flat.ome.tif")
    monkeypatch.setattr(layers, "THUMBNAIL_MAX_PX", 512)
    with open_slide(tmp_path / "flat.ome.tif") as slide:
        sample = layers.thumbnail_for_contrast(slide)
    assert sample.shape == (2, 512, 512)  # 4 windows of 256², not the 1500 x 1700 level
    for (lo, hi), (true_lo, true_hi) in zip(contrast_limits(sample), contrast_limits(data)):
        assert abs(lo - true_lo) < 0.05 * true_hi and abs(hi - true_hi) < 0.05 * true_hi


def test_a_large_slide_without_a_pyramid_is_refused_with_the_command_that_writes_one(
    make_napari_viewer, tmp_path, monkeypatch
):
    from napari_ifcell._napari import layers
    from napari_ifcell.cli import main

    _flat_slide(tmp_path / "flat.ome.tif")
    monkeypatch.setattr(layers, "MAX_SINGLE_LEVEL_PX", 1000 * 1000)  # napari would read all of it
    viewer = make_napari_viewer()
    with pytest.raises(Exception, match=r"flat\.ome\.tif: a 1500 x 1700 px slide without lower-resolution levels"):
        viewer.open(tmp_path / "flat.ome.tif", plugin="napari-ifcell")
    assert len(viewer.layers) == 0
    assert main(["pyramid", str(tmp_path / "flat.ome.tif"), str(tmp_path / "pyramid.ome.tif"), "--tile", "256"]) == 0
    layers_opened = viewer.open(tmp_path / "pyramid.ome.tif", plugin="napari-ifcell")
    assert [layer.name for layer in layers_opened] == ["Hoechst", "CD3e"]
    assert layers_opened[0].multiscale and len(layers_opened[0].data) == 4  # 1700 -> 850 -> 425 -> 213 px
    assert tuple(layers_opened[0].scale) == (0.5, 0.5)


def test_a_slide_without_a_pixel_size_says_the_size_it_is_drawn_at(make_napari_viewer, tmp_path):
    """File > Open drew a slide whose file gives no pixel size at 0.325 µm/px in µm, and only
    said "pixel size unknown"; it now says what was assumed and where to set it."""
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, np.random.default_rng(0).integers(0, 4000, (2, 64, 64), dtype=np.uint16))
    viewer = make_napari_viewer()
    with pytest.warns(UserWarning, match=r"plain.tif: drawn at 0.325 µm/px, assumed \(Orion's pixel size\)"):
        layers = viewer.open(plain, plugin="napari-ifcell")
    assert tuple(layers[0].scale) == (0.325, 0.325)


def test_slides_opened_with_file_open_reach_the_tabs(make_napari_viewer, small_pair, tmp_path, qtbot):
    """A slide opened by File > Open was drawn, but no tab knew it: the Gating tab's fields stayed
    empty and Segment said to open a slide in the Loader. The Loader now takes it up (and an H&E
    opened next becomes its pair); with slides open already, another one is only shown, and said."""
    import shutil

    from napari_ifcell._napari.gating_widget import GatingWidget
    from napari_ifcell._napari.layers import PLUGIN_KEY
    from napari_ifcell._napari.loader_widget import LoaderWidget

    def drawn(path, role):
        return [
            x
            for x in viewer.layers
            if x.metadata.get(PLUGIN_KEY, {}).get("role") == role and x.metadata[PLUGIN_KEY].get("path") == str(path)
        ]

    viewer = make_napari_viewer()
    viewer.open(small_pair.if_path, plugin="napari-ifcell")  # before the plugin's dock is opened
    loader, gating = LoaderWidget(viewer), GatingWidget(viewer)
    LoaderWidget(viewer)  # a second Loader (a dock beside the Workflow's) does not open it again
    qtbot.waitUntil(lambda: loader.if_alone is not None, timeout=30_000)
    assert str(gating.if_file.value) == str(small_pair.if_path)
    assert len(drawn(small_pair.if_path, "if")) == 19  # the reader's layers replaced, not doubled

    viewer.open(small_pair.he_path, plugin="napari-ifcell")  # its H&E, opened next: the pair
    qtbot.waitUntil(lambda: loader.pair is not None, timeout=30_000)
    assert str(loader.state.he_slide.path) == str(small_pair.he_path)
    assert len(drawn(small_pair.he_path, "he")) == 1 and loader.if_layers == drawn(small_pair.if_path, "if")

    viewer.open(small_pair.he_path, plugin="napari-ifcell")  # the same file again: not drawn twice
    qtbot.waitUntil(lambda: "open here already" in loader.status.value)
    assert drawn(small_pair.he_path, "he") == [loader.he_layer]

    copies = {}
    for name in ("b", "c"):
        copies[name] = tmp_path / f"{name}.ome.tif"
        shutil.copy(small_pair.if_path, copies[name])
    viewer.open(copies["b"], plugin="napari-ifcell")  # a pair is open: shown, not taken up
    qtbot.waitUntil(lambda: "b.ome.tif (File > Open) is only displayed" in loader.status.value)
    assert str(loader.state.slide.path) == str(small_pair.if_path) and len(drawn(copies["b"], "if")) == 19
    loader.close_button.changed.emit(True)
    viewer.open(copies["c"], plugin="napari-ifcell")  # after Close slides: the slide just opened is taken up
    qtbot.waitUntil(lambda: loader.if_alone is not None, timeout=30_000)
    assert str(loader.state.slide.path) == str(copies["c"])
