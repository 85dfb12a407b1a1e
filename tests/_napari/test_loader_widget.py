"""The Loader dock widget, driven as a user would."""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_ifcell._napari import layers
from napari_ifcell._napari.loader_widget import LoaderWidget
from napari_ifcell._napari.view import camera_of
from napari_ifcell.orion import ORION_CHANNELS

from ..conftest import HE_OFFSET_PX


@pytest.fixture
def loader(make_napari_viewer, small_pair):
    viewer = make_napari_viewer()
    widget = LoaderWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.if_file.value, widget.he_file.value = small_pair.if_path, small_pair.he_path
    widget.open_button.changed.emit(True)  # the user clicks "Open pair"
    return viewer, widget


def test_open_pair_adds_he_and_if_layers(loader):
    viewer, widget = loader
    assert len(viewer.layers) == 20
    assert viewer.layers[0].rgb and [layer.name for layer in widget.if_layers] == list(ORION_CHANNELS)
    assert "19 channels" in widget.info.value
    # said once, with why and what was done about it
    assert widget.status.value.count("pixel size unknown") == 1
    assert (
        "H&E pixel size unknown (no OME PhysicalSize" in widget.status.value and "using the IF's" in widget.status.value
    )
    assert widget.he_pixel_size.value == pytest.approx(0.325)


def test_channel_list_toggles_layers(loader):
    viewer, widget = loader
    widget.channels.value = ["CD8a", "Ki67"]
    assert {layer.name for layer in widget.if_layers if layer.visible} == {"CD8a", "Ki67"}


def test_pixel_size_and_offset_overrides_move_the_layers(loader):
    viewer, widget = loader
    widget.he_pixel_size.value = 0.5
    assert tuple(widget.he_layer.scale) == pytest.approx((0.5, 0.5))
    widget.if_pixel_size.value = 0.4
    assert all(tuple(layer.scale) == pytest.approx((0.4, 0.4)) for layer in widget.if_layers)
    widget.offset_y.value, widget.offset_x.value = 1.3, -0.65
    widget.offset_y.value = 0.975  # three pixels of 0.325 µm, not rounded by the field
    assert widget.offset_y.value == 0.975
    widget.offset_y.value = 1.3
    assert tuple(widget.he_layer.translate) == pytest.approx((-1.3, 0.65))
    assert widget.pair.registration.offset_um == pytest.approx((1.3, -0.65))


def test_estimate_offset_in_view_recovers_the_true_offset(loader):
    viewer, widget = loader
    camera_of(viewer).center = (0, 180, 230)  # µm
    camera_of(viewer).zoom = 2.0  # screen px per µm: a region of a few hundred px
    widget.estimate_button.changed.emit(True)
    expected_um = np.array(HE_OFFSET_PX) * 0.325
    np.testing.assert_allclose((widget.offset_y.value, widget.offset_x.value), expected_um, atol=0.07)
    np.testing.assert_allclose(widget.he_layer.translate, -expected_um, atol=0.07)
    assert "correlation" in widget.status.value


def test_estimate_offset_on_a_pyramid_whose_levels_are_4x_apart(make_napari_viewer, small_pair, tmp_path):
    """The estimate read level 1 as if it were 2x smaller than level 0: a window twice the size
    of the view, elsewhere on the slide and partly off it."""
    from skimage.transform import downscale_local_mean

    from napari_ifcell.io import open_slide

    with open_slide(small_pair.if_path) as slide:
        level0 = slide.read_region(0, 0, *slide.shape)
        names = list(slide.channel_names)
    path = tmp_path / "if_4x.ome.tif"
    meta = {"axes": "CYX", "PhysicalSizeX": 0.325, "PhysicalSizeY": 0.325, "Channel": {"Name": names}}
    with tifffile.TiffWriter(path, ome=True) as tif:
        tif.write(level0, tile=(256, 256), subifds=2, metadata=meta)
        for f in (4, 16):  # block means, as pyramid writers make them (pixel centres in the middle of each block)
            lower = downscale_local_mean(level0, (1, f, f))[:, : level0.shape[1] // f, : level0.shape[2] // f]
            tif.write(lower.astype(level0.dtype), tile=(256, 256), subfiletype=1)
    viewer = make_napari_viewer()
    widget = LoaderWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.if_file.value, widget.he_file.value = path, small_pair.he_path
    widget.open_button.changed.emit(True)
    assert widget.pair.if_slide.downsamples[1] == pytest.approx(4, rel=0.01)
    camera = camera_of(viewer)
    camera.center = (0, 550 * 0.325, 700 * 0.325)
    camera.zoom = viewer.canvas.size[1] / (1300 * 0.325)  # more than 1024 px across: level 1 is read
    from napari_ifcell._napari.view import level_for_size, visible_region_px

    _, _, h, w = visible_region_px(viewer, 0.325, widget.pair.if_slide.shape)
    assert max(h, w) > 1024 and level_for_size(h, w, widget.pair.if_slide.downsamples) == 1
    asked = []
    estimate = widget.pair.estimate_offset
    widget.pair.estimate_offset = lambda *region, level: asked.append((region, level)) or estimate(*region, level=level)
    widget.estimate_button.changed.emit(True)
    # the region in view, read at level 1 (4x): it was read as if 2x, elsewhere and twice as large
    ((region, level),) = asked
    assert level == 1
    np.testing.assert_allclose(np.array(region) * 4, visible_region_px(viewer, 0.325, (1100, 1400)), atol=4)
    expected_um = np.array(HE_OFFSET_PX) * 0.325
    np.testing.assert_allclose((widget.offset_y.value, widget.offset_x.value), expected_um, atol=0.2)
    assert "correlation" in widget.status.value


def test_a_wrong_file_is_reported_in_the_widget(make_napari_viewer, small_pair, tmp_path, monkeypatch):
    viewer = make_napari_viewer()
    widget = LoaderWidget(viewer)
    widget.open_pair(small_pair.if_path, small_pair.if_path)  # IF given as the H&E
    assert "not RGB" in widget.status.value and "synthetic_if.ome.tif" in widget.status.value
    assert len(viewer.layers) == 0 and widget.pair is None
    widget.open_he_alone(small_pair.if_path, sync=True)  # alone, each in the other's field
    assert "synthetic_if.ome.tif: given as the H&E but it is not an RGB image; give it as the IF" in widget.status.value
    widget.open_if_alone(small_pair.he_path, sync=True)
    assert (
        "synthetic_he.ome.tif: given as the IF slide but it is an RGB image; give it as the H&E" in widget.status.value
    )
    assert len(viewer.layers) == 0 and widget.he_alone is None and widget.if_alone is None

    # a slide napari cannot draw as it is: the message names the command that makes it drawable
    monkeypatch.setattr(layers, "MAX_SINGLE_LEVEL_PX", 100 * 100)
    widget.open_if_alone(small_pair.labels_path.parent / "synthetic_if_flat.tif", sync=True)
    assert "no such file" in widget.status.value
    flat = tmp_path / "flat.tif"
    tifffile.imwrite(flat, np.zeros((300, 400), np.uint16))
    widget.open_if_alone(flat, sync=True)
    assert "without lower-resolution levels" in widget.status.value and "napari-ifcell pyramid" in widget.status.value
    assert len(viewer.layers) == 0 and widget.pair is None


def test_loader_is_a_plugin_dock_widget(make_napari_viewer):
    viewer = make_napari_viewer()
    dock, widget = viewer.window.add_plugin_dock_widget("napari-ifcell", "Loader")
    assert isinstance(widget, LoaderWidget)


def test_if_over_he_toggle(loader):
    viewer, widget = loader
    cd20 = viewer.layers["CD20"]
    assert widget.over_he.value and cd20.blending == "translucent_no_depth"
    alpha = cd20.colormap.colors[:, 3]
    assert alpha[0] == 0 and alpha[-1] == 1  # dark pixels let the H&E through
    assert viewer.layers["Pan-CK"].colormap.colors[-1, 1] == 1  # each channel keeps its own colour
    widget.over_he.value = False
    assert cd20.blending == "additive" and cd20.colormap.name == "yellow"
    assert viewer.layers["Hoechst"].colormap.name == "blue"


def test_demo_opens_the_pair_with_every_step_as_tabs(tmp_path, qtbot, capsys):
    from napari_ifcell._napari.demo import run_demo
    from napari_ifcell._napari.view import camera_of
    from napari_ifcell._napari.workflow_widget import STEPS

    viewer, workflow = run_demo(tmp_path / "demo", shape=(256, 320), seed=2, show=False)
    assert "render: 0 of 1" in capsys.readouterr().out  # generating says how far it is
    try:
        loader = workflow.steps["Loader"]
        assert loader.pair is not None and len(viewer.layers) == 20
        assert viewer.window.dock_widgets["napari-ifcell"] is workflow
        assert [workflow.tabs.tabText(i) for i in range(workflow.tabs.count())] == list(STEPS)
        assert workflow.current_step == "Loader"  # the workflow's first step shows
        # the offset was estimated (the demo's H&E is shifted by (3, -2) px of 0.325 µm)
        assert (loader.offset_y.value, loader.offset_x.value) == pytest.approx((0.975, -0.65), abs=0.2)
        assert "match correlation" in loader.status.value
        assert camera_of(viewer).zoom == 2.0  # zoomed in on tissue, not the whole slide
        # the other steps were filled from the Loader: no file asked twice
        assert Path(workflow.steps["Segment"].if_file.value) == loader.pair.if_slide.path
        assert Path(workflow.steps["Gating"].table_file.value).parent.name == "synthetic_if.ifcell"
    finally:
        viewer.close()
    # run again with another seed: the pair made before opens, and says it is not the one asked for
    viewer, _ = run_demo(tmp_path / "demo", shape=(256, 320), seed=3, show=False)
    viewer.close()
    said = capsys.readouterr().out
    assert "render:" not in said and "it is 256 x 320 px, seed 2, not the 256 x 320 px, seed 3 asked for" in said


def test_channel_list_survives_other_layers_being_added(loader):
    viewer, widget = loader
    widget.channels.value = ["CD8a"]
    viewer.add_points([[1.0, 2.0]])  # napari then asks every dock widget to reset its choices
    assert list(widget.channels.choices) == list(ORION_CHANNELS) and widget.channels.value == ["CD8a"]


def test_the_loaders_pixel_sizes_and_offset_reach_the_other_widgets(loader):
    """Every widget opens the slides through open_sources: it sees what the Loader shows."""
    from napari_ifcell._napari.sources import open_sources

    viewer, widget = loader
    widget.if_pixel_size.value = 0.4
    widget.he_pixel_size.value = 0.4
    widget.offset_y.value, widget.offset_x.value = 1.2, -0.8
    if_slide, pair = open_sources(viewer, need_he=True)
    assert if_slide.pixel_size_um == pytest.approx(0.4) and pair.he_slide.pixel_size_um == pytest.approx(0.4)
    assert pair.registration.offset_um == pytest.approx((1.2, -0.8))
    pair.close()


def test_cells_drawn_before_a_pixel_size_correction_stay_on_their_nuclei(loader):
    """Only the slide's layers were rescaled: the cells (and gates, regions) kept the old size,
    35 % too small on a slide corrected from 0.325 to 0.5 µm/px."""
    viewer, widget = loader
    cells = viewer.add_labels(
        np.zeros((1100, 1400), np.int32),
        scale=(0.325, 0.325),
        translate=(3.25, 6.5),
        metadata={layers.PLUGIN_KEY: {"role": "segmentation"}},
    )
    points = viewer.add_points([[100.0, 200.0]], metadata={layers.PLUGIN_KEY: {"role": "gating"}})  # data in µm
    mine = viewer.add_points([[100.0, 200.0]])  # the user's own layer is left alone
    widget.if_pixel_size.value = 0.5
    assert tuple(cells.scale) == pytest.approx((0.5, 0.5)) and tuple(cells.translate) == pytest.approx((5.0, 10.0))
    np.testing.assert_allclose(points.data_to_world(points.data[0]), np.array([100.0, 200.0]) * 0.5 / 0.325)
    assert tuple(mine.scale) == (1.0, 1.0)


def test_opening_over_layers_of_the_same_slide_replaces_them(make_napari_viewer, small_pair):
    """File > Open Sample (or the reader) put the same slide on screen first: opening it in the
    Loader replaces those layers instead of failing on taken names or duplicating them."""
    from napari_ifcell._napari.layers import he_layer_data, if_layer_data
    from napari_ifcell.io import open_pair

    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((4, 4)), name="CD8a", units=("µm", "µm"))  # a user's layer sharing a name
    pair = open_pair(small_pair.if_path, small_pair.he_path)
    for data, kwargs, _ in (he_layer_data(pair.he_slide), if_layer_data(pair.if_slide)):
        viewer.add_image(data, **kwargs)
    widget = LoaderWidget(viewer)
    widget.if_file.value, widget.he_file.value = small_pair.if_path, small_pair.he_path
    full_collections = []
    gc.callbacks.append(
        on_gc := lambda phase, info: full_collections.append(phase == "start" and info["generation"] == 2)
    )
    try:
        widget.open_button.changed.emit(True)
    finally:
        gc.callbacks.remove(on_gc)
    assert "Error" not in widget.status.value, widget.status.value
    assert len(viewer.layers) == 21  # the pair once, and the user's layer kept
    # napari collects garbage in full for each layer removed outside a batch: 20 layers took seconds
    assert sum(full_collections) <= 4, sum(full_collections)
    assert viewer.layers["CD8a"].data.shape == (4, 4)
    widget.channels.value = ["CD8a", "Hoechst"]  # the Loader's CD8a is matched by position, not name
    shown = {name for name, layer in zip(ORION_CHANNELS, widget.if_layers) if layer.visible}
    assert shown == {"CD8a", "Hoechst"} and viewer.layers["CD8a [1]"].visible


def test_close_and_open_an_if_slide_alone(loader, small_pair):
    from napari_ifcell._napari.state import workflow_state

    viewer, widget = loader
    state = workflow_state(viewer)
    assert state.pair is widget.pair and state.project.folder.name == "synthetic_if.ifcell"
    widget.close_button.changed.emit(True)
    assert len(viewer.layers) == 0 and state.slide is None and widget.info.value == "No slides open."
    widget.he_file.line_edit.value = ""
    widget.open_button.changed.emit(True)  # the IF alone
    assert len(viewer.layers) == 19 and "no H&E" in widget.info.value, widget.status.value
    assert state.pair is None and state.if_slide is widget.if_alone and state.he_slide is None
    widget.if_pixel_size.value = 0.5  # an override reaches the slide every step uses
    assert state.slide.pixel_size_um == 0.5 and tuple(viewer.layers["Hoechst"].scale) == (0.5, 0.5)
    # closed, the boxes go back to Orion's: the next file without a pixel size took this one's 0.5
    widget.offset_y.value = 3.0
    widget.close_button.changed.emit(True)
    boxes = (widget.if_pixel_size, widget.he_pixel_size, widget.offset_y, widget.offset_x)
    assert [box.value for box in boxes] == [0.325, 0.325, 0.0, 0.0]


def test_another_slide_sets_the_regions_of_this_one_aside_with_no_compare_dock(loader, small_pair, tmp_path):
    """Review's region filter and Export read the regions layer too: opened from the Loader
    alone, another slide must not inherit this one's regions."""
    import shutil

    from napari_ifcell._napari.region_layer import find_regions_layer, regions_layer

    viewer, widget = loader
    drawn = regions_layer(viewer, 0.325, small_pair.if_path)
    drawn.add(np.array([[10.0, 10.0], [10.0, 90.0], [90.0, 90.0]]), shape_type="polygon")
    for path in (small_pair.if_path, small_pair.he_path):
        shutil.copy(path, tmp_path / path.name)
    widget.open_pair(tmp_path / small_pair.if_path.name, tmp_path / small_pair.he_path.name, sync=True)
    assert find_regions_layer(viewer) is None and not drawn.visible and len(drawn.data) == 1
    assert f"kept, hidden, in layer 'regions of {small_pair.if_path.name}'" in widget.status.value


def test_a_slide_without_pixel_size_takes_the_one_its_cells_were_segmented_at(make_napari_viewer, tmp_path):
    """Its label store records the size the cells were found at: the Loader's 0.325 would make
    every later step refuse the store as segmented on another grid."""
    from napari_ifcell.io.label_store import LabelStore

    tifffile.imwrite(tmp_path / "plain.tif", np.zeros((2, 64, 64), np.uint16), photometric="minisblack")
    LabelStore.create(tmp_path / "plain.ifcell", (64, 64), pixel_size_um=0.5)
    viewer = make_napari_viewer()
    widget = LoaderWidget(viewer)
    widget.if_file.value = tmp_path / "plain.tif"
    widget.open_button.changed.emit(True)
    assert widget.if_pixel_size.value == 0.5 and widget.state.slide.pixel_size_um == 0.5, widget.status.value
    assert all(tuple(layer.scale) == (0.5, 0.5) for layer in viewer.layers)  # drawn where its cells will be


def test_an_he_slide_without_pixel_size_is_drawn_at_the_size_the_loader_assumes(make_napari_viewer, tmp_path):
    """The layer was built at Orion's 0.325 µm while the slide (and so its cells) took the box's
    0.5: nuclei segmented on it sat 1.5x off the tissue."""
    tifffile.imwrite(tmp_path / "he.tif", np.full((96, 128, 3), 200, np.uint8), photometric="rgb")
    viewer = make_napari_viewer()
    widget = LoaderWidget(viewer)
    widget.he_pixel_size.value = 0.5
    widget.open_he_alone(tmp_path / "he.tif", sync=True)
    assert widget.state.slide.pixel_size_um == 0.5 and "assumed" in widget.status.value, widget.status.value
    assert tuple(widget.he_layer.scale) == (0.5, 0.5)
    assert "96 x 128 px, 1 level," in widget.info.value
    tifffile.imwrite(tmp_path / "svs_like.tif", np.full((96, 128, 3), 200, np.uint8), photometric="rgb",
                     resolution=(1e4 / 0.2527, 1e4 / 0.2527), resolutionunit="CENTIMETER")  # fmt: skip
    widget.open_he_alone(tmp_path / "svs_like.tif", sync=True)  # the file's own size, not the box's 0.253
    assert widget.state.slide.pixel_size_um == pytest.approx(0.2527) and widget.he_layer.scale[0] == pytest.approx(
        0.2527
    )


def _ngff_without_units(path, data, pixel_size_um, names):
    """What ome-zarr-py writes when given scales but no units."""
    import zarr

    from ..ngff_writer import write_ngff

    group = zarr.open_group(path, mode="w")
    write_ngff(group, data, axes="cyx", pixel_size_um=pixel_size_um, names=names)
    attrs = group.attrs.asdict()
    for axis in attrs.get("ome", attrs)["multiscales"][0]["axes"]:
        axis.pop("unit", None)
    group.attrs.put(attrs)
    return path


def test_an_ome_zarr_scale_without_unit_is_taken_as_um_not_orions_size(make_napari_viewer, tmp_path):
    """ome-zarr-py writes the scale it is given and no unit: an H&E at 0.5 µm was drawn and
    segmented at the box's 0.325 (cells 35 % too small), while the file said 0.5."""
    he = _ngff_without_units(tmp_path / "he.ome.zarr", np.full((3, 96, 128), 200, np.uint8), 0.5, ("R", "G", "B"))
    viewer = make_napari_viewer()
    widget = LoaderWidget(viewer)
    widget.open_he_alone(he, sync=True)
    assert widget.state.slide.pixel_size_um == 0.5 and widget.he_pixel_size.value == 0.5
    assert tuple(widget.he_layer.scale) == (0.5, 0.5)
    assert "using 0.5 µm/px, assumed; the file's scale, which has no unit, read as µm" in widget.status.value
    if_path = _ngff_without_units(tmp_path / "if.ome.zarr", np.ones((2, 96, 128), np.uint16), 0.5, ("Hoechst", "CD3e"))
    res = {"resolution": (1e4 / 0.5, 1e4 / 0.5), "resolutionunit": "CENTIMETER"}
    tifffile.imwrite(tmp_path / "he.tif", np.full((96, 128, 3), 200, np.uint8), photometric="rgb", **res)
    assert widget.if_pixel_size.value == 0.325
    widget.open_pair(if_path, tmp_path / "he.tif", sync=True)
    assert widget.pair.if_slide.pixel_size_um == 0.5 and widget.if_pixel_size.value == 0.5, widget.status.value
    assert all(tuple(layer.scale) == (0.5, 0.5) for layer in widget.if_layers)
    he_fine = _ngff_without_units(tmp_path / "fine.ome.zarr", np.full((3, 192, 256), 200, np.uint8), 0.25, "RGB")
    tifffile.imwrite(tmp_path / "if.tif", np.ones((2, 96, 128), np.uint16), photometric="minisblack", **res)
    widget.open_pair(tmp_path / "if.tif", he_fine, sync=True)  # the H&E at its own scale, not the IF's 0.5
    assert widget.pair.he_slide.pixel_size_um == 0.25 and widget.he_pixel_size.value == 0.25, widget.status.value
    assert "read as µm; correct it in H&E µm/px if wrong" in widget.status.value
    big = _ngff_without_units(tmp_path / "big.ome.zarr", np.ones((2, 96, 128), np.uint16), 1000.0, ("Hoechst", "CD3e"))
    widget.open_if_alone(big, sync=True)  # 1 mm pixels are no microscope's: the box's size, said so
    assert widget.state.slide.pixel_size_um == 0.5, widget.status.value
    assert "x scale 1000 has no unit" in widget.status.value and "--pixel-size" not in widget.status.value
