"""The Segment widget in a real viewer: visible and drawn regions, cancel, errors."""

from __future__ import annotations

import numpy as np
import pytest

from napari_ifcell._napari.layers import PLUGIN_KEY
from napari_ifcell._napari.loader_widget import LoaderWidget
from napari_ifcell._napari.segment_widget import SegmentWidget
from napari_ifcell._napari.view import camera_of, visible_region_px


@pytest.fixture
def viewer_with_pair(make_napari_viewer, small_pair, tmp_path):
    import shutil

    # a private copy: the label store is written next to the slide
    for name in ("if_path", "he_path"):
        shutil.copy(getattr(small_pair, name), tmp_path / getattr(small_pair, name).name)
    viewer = make_napari_viewer()
    loader = LoaderWidget(viewer)
    loader.open_pair(tmp_path / small_pair.if_path.name, tmp_path / small_pair.he_path.name)
    widget = SegmentWidget(viewer)
    viewer.window.add_dock_widget(widget)
    return viewer, widget, tmp_path


def test_visible_region_follows_the_camera(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.canvas.size = (400, 600)
    camera_of(viewer).center = (0, 65.0, 97.5)  # µm
    camera_of(viewer).zoom = 2.0  # screen px per µm -> 200 x 300 µm in view
    y, x, h, w = visible_region_px(viewer, 0.325, (1100, 1400))
    assert (y, x) == (0, 0)  # clipped at the slide's top-left
    assert h == round((65 + 100) / 0.325) and w == round((97.5 + 150) / 0.325)


def test_segment_visible_region(viewer_with_pair):
    viewer, widget, folder = viewer_with_pair
    camera_of(viewer).center = (0, 150.0, 200.0)
    camera_of(viewer).zoom = 3.0
    region = visible_region_px(viewer, 0.325, (1100, 1400))
    widget.visible_button.changed.emit(True)
    assert "cells found" in widget.status.value, widget.status.value
    idx = widget.store.index
    assert len(idx) > 20
    y, x, h, w = region
    assert idx.Y_centroid.between(y, y + h).all() and idx.X_centroid.between(x, x + w).all()
    layer = widget.labels_layer
    assert layer in viewer.layers and (folder / "synthetic_if.ifcell" / "cell_index.parquet").is_file()
    data = layer.data[0] if layer.multiscale else layer.data
    assert np.asarray(data[y : y + h, x : x + w]).any()


def test_segment_drawn_region_then_rerun_replaces(viewer_with_pair):
    viewer, widget, _ = viewer_with_pair
    # 37 true nuclei in this rectangle (µm); the slide's top-left corner has none
    shapes = viewer.add_shapes(
        [[[150.0, 200.0], [150.0, 300.0], [220.0, 300.0], [220.0, 200.0]]], shape_type="rectangle"
    )
    widget.drawn_button.changed.emit(True)
    first = widget.store.index.copy()
    y0, x0 = 150 / 0.325, 200 / 0.325
    assert 30 <= len(first) <= 45 and first.Y_centroid.between(y0 - 1, 220 / 0.325 + 1).all()
    assert first.X_centroid.between(x0 - 1, 300 / 0.325 + 1).all()
    widget.drawn_button.changed.emit(True)  # the same region again: replaced, not duplicated
    assert abs(len(widget.store.index) - len(first)) <= 1 and widget.store.index.run.eq(2).all()
    assert "replaced" in widget.status.value and "Warning" not in widget.status.value  # nothing made from them
    assert shapes in viewer.layers
    first.to_parquet(widget.state.project.cell_table)  # a table quantified from the replaced cells
    second = len(widget.store.index)
    widget.drawn_button.changed.emit(True)
    assert (
        f"Warning: {second} cells were replaced with new ids; the project's cell table may name them: quantify again"
        in (widget.status.value)
    ), widget.status.value


def test_cancel_stops_after_the_current_tile(viewer_with_pair):
    viewer, widget, _ = viewer_with_pair
    widget.tile.value = 128
    camera_of(viewer).center = (0, 178.0, 227.0)
    camera_of(viewer).zoom = 0.5  # the whole slide

    real = widget._on_progress

    def press_cancel_on_third_tile(step):
        real(step)
        if step[1] == 2 * 11 + 2:  # the third tile of the third row (the first rows are glass)
            widget.cancel_button.changed.emit(True)

    widget._on_progress = press_cancel_on_third_tile
    widget.visible_button.changed.emit(True)
    assert "Cancelled" in widget.status.value
    from napari_ifcell.io.label_store import LabelStore

    store = LabelStore.open(widget.store.folder)
    labels = np.asarray(store.levels[0][:])
    assert len(store.index) and set(np.unique(labels)) - {0} == set(store.index.CellID)  # consistent
    assert widget.visible_button.enabled and not widget.cancel_button.enabled


def test_sam_without_checkpoint_is_reported(viewer_with_pair):
    viewer, widget, _ = viewer_with_pair
    widget.backend.value = "SAM, point grid (Immunocto)"
    widget.visible_button.changed.emit(True)
    assert "checkpoint" in widget.status.value and widget.visible_button.enabled


def test_your_function_segments_and_the_result_is_scored_against_a_truth_layer(viewer_with_pair, small_pair):
    import tifffile

    viewer, widget, folder = viewer_with_pair
    (folder / "otsu_nuclei.py").write_text(
        "from scipy import ndimage as ndi\n"
        "from skimage.filters import threshold_otsu\n"
        "def nuclei(image):\n"
        "    return ndi.label(image > threshold_otsu(image))[0]\n"
    )
    widget.backend.value = "Your function (module:function)"
    widget.model.value = f"{folder / 'otsu_nuclei.py'}:nuclei"
    camera_of(viewer).center = (0, 150.0, 200.0)
    camera_of(viewer).zoom = 3.0
    widget.visible_button.changed.emit(True)
    assert "cells found" in widget.status.value and "with custom" in widget.status.value, widget.status.value

    evaluation = widget.evaluation
    evaluation.button.changed.emit(True)
    assert evaluation.result.value.startswith("Error: choose the Labels layer")
    viewer.add_labels(np.zeros((50, 60), np.int32), name="too small")
    evaluation.truth.value = "too small"
    evaluation.button.changed.emit(True)
    assert "is 50 x 60 px but the slide's cells are 1100 x 1400 px" in evaluation.result.value

    viewer.add_labels(tifffile.imread(small_pair.labels_path), name="annotated", scale=(0.325, 0.325))
    assert widget.labels_layer.name not in evaluation.truth.choices  # our own cells are what gets scored
    evaluation.truth.value = "annotated"
    evaluation.button.changed.emit(True)
    at5 = evaluation.scores.set_index("iou").loc[0.5]
    assert 0.5 < at5.f1 < 1 and at5.tp + at5.fn > 50  # Otsu alone merges touching nuclei
    assert f"F1 {at5.f1:.3f} at IoU 0.5" in evaluation.result.value


def test_another_tools_label_image_becomes_the_slides_cells(viewer_with_pair, small_pair):
    """Cellpose-style masks taken in through the Segment tab: the store and the labels layer
    hold them with their ids, they score F1 1 against the truth they were made from, and the
    Gating tab is told the store changed."""
    import tifffile

    viewer, widget, folder = viewer_with_pair
    widget.import_button.changed.emit(True)
    assert widget.status.value.startswith("Error: choose the label image"), widget.status.value
    truth = tifffile.imread(small_pair.labels_path)
    tifffile.imwrite(folder / "crop_masks.tif", truth[:512, :512].astype(np.uint16))
    widget.labels_file.value = folder / "crop_masks.tif"
    widget.import_button.changed.emit(True)
    assert "the labels are 512 x 512 px but synthetic_if.ome.tif is 1100 x 1400 px" in widget.status.value
    assert widget.import_button.enabled and widget.visible_button.enabled
    assert not (folder / "synthetic_if.ifcell").exists()  # no empty store left for Gating to trip on
    tifffile.imwrite(folder / "no_cells.tif", np.zeros_like(truth, np.uint16))
    widget.labels_file.value = folder / "no_cells.tif"
    widget.import_button.changed.emit(True)
    assert "no_cells.tif: no cell in the label image" in widget.status.value, widget.status.value
    assert not (folder / "synthetic_if.ifcell").exists() and widget.labels_layer is None
    announced = []
    widget.state.changed.connect(announced.append)
    masks = np.where(truth > 0, 1000 + 7 * truth.astype(np.int64), 0).astype(np.uint16)
    tifffile.imwrite(folder / "cp_masks.tif", masks)
    widget.labels_file.value = folder / "cp_masks.tif"
    widget.import_button.changed.emit(True)
    n = len(np.unique(masks)) - 1
    assert widget.status.value.startswith(f"{n} cells taken from cp_masks.tif in "), widget.status.value
    assert "labels" in announced and widget.state.existing("labels") == folder / "synthetic_if.ifcell"
    layer = widget.labels_layer
    np.testing.assert_array_equal(np.asarray(layer.data[0] if layer.multiscale else layer.data), masks)
    announced.clear()
    widget.import_button.changed.emit(True)  # the same label image again: nothing for later steps to redo
    assert "(the cells the store held already)" in widget.status.value, widget.status.value
    assert "labels" not in announced and "Warning" not in widget.status.value
    viewer.add_labels(truth, name="annotated", scale=(0.325, 0.325))
    widget.evaluation.truth.value = "annotated"
    camera_of(viewer).center = (0, 180.0, 230.0)
    widget.evaluation.button.changed.emit(True)
    assert (widget.evaluation.scores.f1 == 1.0).all(), widget.evaluation.scores


@pytest.mark.parametrize(
    ("backend", "shown", "hidden"),
    [
        ("Automatic (Hoechst on IF, H&E on RGB)", {"CPU method"}, {"SAM checkpoint", "Model", "Predicted IoU >"}),
        ("Hoechst watershed (CPU)", {"CPU method", "Nucleus radius (µm)"}, {"SAM checkpoint", "Model"}),
        ("SAM, prompts at Hoechst nuclei", {"SAM checkpoint", "Predicted IoU >"}, {"CPU method", "Model"}),
        ("Cellpose (model name or file)", {"Model", "Model reads"}, {"CPU method", "SAM checkpoint"}),
        ("Your function (module:function)", {"Model"}, {"Nucleus radius (µm)", "Stability >="}),
    ],
)
def test_only_the_chosen_backends_fields_are_shown(make_napari_viewer, backend, shown, hidden):
    widget = SegmentWidget(make_napari_viewer())
    widget.backend.value = backend
    visible = {w.label for w in widget if w.native.isVisibleTo(widget.native)}
    assert shown <= visible and not hidden & visible
    assert {"Backend", "IF slide", "Tile (px)"} <= visible  # what every backend reads


def test_fields_of_another_backend_are_not_read(make_napari_viewer):
    widget = SegmentWidget(make_napari_viewer())
    widget.backend.value = "Cellpose (model name or file)"
    widget.model.value = "cpsam"
    widget.model_input.value = "H&E"
    widget.backend.value = "Hoechst watershed (CPU)"
    widget.watershed_fields["nucleus_radius_um"].value = "3.1"
    settings = widget.settings()
    assert (settings.backend, settings.model, settings.model_input) == ("hoechst", "", "")
    assert settings.problems() == [] and settings.watershed.nucleus_radius_um == 3.1
    widget.watershed_fields["nucleus_radius_um"].value = "not a number"  # hidden under SAM: not read
    widget.backend.value = "SAM, point grid (Immunocto)"
    assert widget.settings().backend == "sam"


def test_another_slide_brings_its_own_cells_and_closing_drops_the_last_ones(make_napari_viewer, small_pair, tmp_path):
    """Cells belong to their slide: closing the slides removes their layer, and the next slide's
    cells are drawn from its own store, never over the previous slide's layer."""
    import shutil

    import tifffile

    for name in ("if_path", "he_path"):
        shutil.copy(getattr(small_pair, name), tmp_path / getattr(small_pair, name).name)
    second = tmp_path / "second_if.ome.tif"
    shutil.copy(small_pair.if_path, second)
    truth = tifffile.imread(small_pair.labels_path)
    tifffile.imwrite(tmp_path / "masks.tif", truth.astype(np.uint16))
    renumbered = np.where(truth > 0, 1000 + 7 * truth.astype(np.int64), 0).astype(np.uint16)
    tifffile.imwrite(tmp_path / "renumbered.tif", renumbered)
    viewer = make_napari_viewer()
    loader, widget = LoaderWidget(viewer), SegmentWidget(viewer)

    def segmentation_layers():
        return [x for x in viewer.layers if x.metadata.get(PLUGIN_KEY, {}).get("role") == "segmentation"]

    loader.open_pair(tmp_path / small_pair.if_path.name, tmp_path / small_pair.he_path.name)
    widget.labels_file.value = tmp_path / "masks.tif"
    widget.import_button.changed.emit(True)
    assert [x.name for x in segmentation_layers()] == ["nuclei (synthetic_if.ifcell)"], widget.status.value
    loader.close_slides()
    assert len(viewer.layers) == 0 and widget.store is None
    loader.open_if_alone(second)
    viewer.screenshot(canvas_only=True)  # the next slide paints (a leftover layer of the last one crashed it)
    widget.labels_file.value = tmp_path / "renumbered.tif"
    widget.import_button.changed.emit(True)
    (layer,) = segmentation_layers()
    assert layer.name == "nuclei (second_if.ifcell)", widget.status.value
    np.testing.assert_array_equal(np.asarray(layer.data[0] if layer.multiscale else layer.data), renumbered)
    loader.open_pair(tmp_path / small_pair.if_path.name, tmp_path / small_pair.he_path.name)  # without closing
    assert segmentation_layers() == [] and widget.store is None
    viewer.screenshot(canvas_only=True)
    # the slides closed while an import runs: it finishes into its own slide's store, draws nothing
    real = widget._on_progress

    def close_on_first_block(step):
        real(step)
        if step[1] == 0:
            loader.close_slides()

    widget._on_progress = close_on_first_block
    widget.labels_file.value = tmp_path / "masks.tif"
    widget.import_button.changed.emit(True)
    assert widget.status.value.startswith("Done; the slide was closed"), widget.status.value
    assert segmentation_layers() == [] and widget.import_button.enabled
    widget._on_progress = real
    # an H&E alone, then the pair with the same H&E: cells were on the H&E, now on the IF
    loader.open_he_alone(tmp_path / small_pair.he_path.name)
    viewer.add_labels(np.zeros((8, 8), np.int32), metadata={PLUGIN_KEY: {"role": "segmentation", "path": "x"}})
    loader.open_pair(tmp_path / small_pair.if_path.name, tmp_path / small_pair.he_path.name)
    assert segmentation_layers() == []


@pytest.mark.parametrize("with_he", [True, False])
def test_slides_whose_files_give_no_pixel_size_segment_at_the_size_the_loader_shows(
    make_napari_viewer, small_pair, tmp_path, with_he
):
    """Files with no pixel size anywhere (no OME, no resolution tags): the Loader shows 0.325
    µm/px, and that is the size every step uses, said in its status (the Segment tab failed
    with "unsupported operand ... NoneType" while the Loader showed 0.325)."""
    import tifffile

    from napari_ifcell.io import open_slide

    with open_slide(small_pair.if_path) as slide:
        tifffile.imwrite(tmp_path / "if.tif", slide.read_region(0, 0, *slide.shape), photometric="minisblack")
    with open_slide(small_pair.he_path) as slide:
        tifffile.imwrite(tmp_path / "he.tif", slide.read_region(0, 0, *slide.shape), photometric="rgb")
    viewer = make_napari_viewer()
    loader = LoaderWidget(viewer)
    loader.if_file.value = tmp_path / "if.tif"
    if with_he:
        loader.he_file.value = tmp_path / "he.tif"
    loader.open_button.changed.emit(True)
    assert "using 0.325 µm/px, assumed" in loader.status.value, loader.status.value
    assert "Error" not in loader.status.value
    if_layer = next(layer for layer in viewer.layers if layer.metadata.get(PLUGIN_KEY, {}).get("role") == "if")
    assert tuple(if_layer.scale) == (0.325, 0.325)
    widget = SegmentWidget(viewer)
    assert all({"*.svs", "*.zarr"} <= set(f.filter.split()) for f in (widget.if_file, widget.he_file))
    camera_of(viewer).center = (0, 150.0, 200.0)
    camera_of(viewer).zoom = 3.0
    widget.visible_button.changed.emit(True)  # channels ch0..ch18: which is the nuclear stain is not known
    assert "Nuclear stain in the Segment tab" in widget.status.value, widget.status.value
    assert widget.store is None and not (tmp_path / "if.ifcell").exists()
    assert widget.nuclear.choices[1:3] == ("ch0", "ch1")
    widget.nuclear.value = "ch0"  # the user says which (the synthetic slide's Hoechst)
    widget.visible_button.changed.emit(True)
    assert "cells found" in widget.status.value, widget.status.value
    assert len(widget.store.index) > 20 and widget.store.meta["pixel_size_um"] == pytest.approx(0.325)
