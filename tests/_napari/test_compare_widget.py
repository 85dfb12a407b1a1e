"""The Compare widget in a real viewer: named regions saved with the project, models added,
the report table and per-model overlays."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from napari.utils.colormaps.standardize_color import transform_color

from napari_ifcell._napari.compare_widget import CompareWidget
from napari_ifcell._napari.layers import PLUGIN_KEY
from napari_ifcell._napari.loader_widget import LoaderWidget
from napari_ifcell._napari.palette import OUTCOME_COLOURS
from napari_ifcell.pipeline.compare import classifier_cells, compare_models, truth_cells
from napari_ifcell.pipeline.detection_source import DetectionSource

from ..pipeline.test_compare import LIZARD, PX, hovernet_file, pick_regions, qupath_annotations, truth_class


def test_regions_models_report_and_overlays(make_napari_viewer, small_pair, predicted_table, tmp_path):
    table = predicted_table
    table.to_parquet(tmp_path / "predicted.parquet", index=False)
    hovernet_file(table, truth_class(table), tmp_path / "hovernet.json", np.random.default_rng(0))
    sparse, dense = pick_regions(table)
    viewer = make_napari_viewer()
    loader = LoaderWidget(viewer)
    # a copy of the pair: the regions and the review go to its project, not the shared fixture's
    import shutil

    for path in (small_pair.if_path, small_pair.he_path):
        shutil.copy(path, tmp_path / path.name)
    if_path = tmp_path / small_pair.if_path.name
    loader.open_pair(if_path, tmp_path / small_pair.he_path.name)
    w = CompareWidget(viewer)
    viewer.window.add_dock_widget(w)
    assert w.model.model_um.value == 0 and w.model.model_um.native.text() == "file's or map's own"  # not "0.000"
    layer = viewer.layers["regions"]
    assert tuple(layer.scale) == (PX, PX)
    # draw the two regions (in the layer's pixels) and name them as a user would
    for region in (sparse, dense):
        layer.add(region.vertices, shape_type="rectangle")
        layer.selected_data = {len(layer.data) - 1}
        w.region_name.value = region.name
        w.name_button.changed.emit(True)
    assert layer.features["name"].tolist() == ["sparse", "dense"]
    # names readable on what is shown: dark over the H&E (IF over it), light over IF alone
    from napari_ifcell._napari.palette import REGION_COLOUR_ON_DARK, REGION_COLOUR_ON_LIGHT

    np.testing.assert_allclose(layer.edge_color[0], transform_color(REGION_COLOUR_ON_LIGHT)[0], atol=0.01)
    he = next(x for x in viewer.layers if x.metadata.get("napari_ifcell", {}).get("role") == "he")
    he.visible = False
    w.on_shown()
    np.testing.assert_allclose(layer.edge_color[1], transform_color(REGION_COLOUR_ON_DARK)[0], atol=0.01)
    np.testing.assert_allclose(layer.text.color.constant, transform_color(REGION_COLOUR_ON_DARK)[0], atol=0.01)
    he.visible = True
    w.save_regions_button.changed.emit(True)
    saved = if_path.parent / "synthetic_if.ifcell" / "regions.json"
    assert saved.is_file(), w.status.value
    layer.data = []
    w.load_regions_button.changed.emit(True)
    assert len(layer.data) == 2 and layer.features["name"].tolist() == ["sparse", "dense"]
    # a new Compare widget on the slide brings the saved regions back by itself
    viewer.layers.remove(layer)
    CompareWidget(viewer)
    layer = viewer.layers["regions"]
    assert layer.features["name"].tolist() == ["sparse", "dense"]
    # the same regions drawn in QuPath: its GeoJSON of annotations, x and y in level-0 pixels
    qupath_annotations(tmp_path / "qupath.geojson", [sparse, dense])
    doc = json.loads((tmp_path / "qupath.geojson").read_text())
    doc["features"].append({**doc["features"][0], "properties": {"objectType": "detection"}})
    (tmp_path / "qupath.geojson").write_text(json.dumps(doc))
    w.regions_file.value = tmp_path / "qupath.geojson"
    w.load_regions_button.changed.emit(True)
    assert layer.features["name"].tolist() == ["sparse", "dense"] and list(layer.shape_type) == ["polygon"] * 2
    assert w.status.value.startswith("Loaded 2 regions.") and "left out 1 detections" in w.status.value
    np.testing.assert_allclose(layer.data[1], dense.vertices)
    # models: a HoVer-Net file (Lizard types, run at 0.5 µm) and our classifier
    w.truth_file.value = tmp_path / "predicted.parquet"
    w.model.name.value, w.model.file.value, w.model.type_map.value = "HoVer-Net", tmp_path / "hovernet.json", "lizard"
    w.model.trust.value = True
    w.model.add_button.changed.emit(True)
    assert w.sources["HoVer-Net"].trust and not w.model.trust.value  # trust given for that file only
    assert w.status.value == "Added 'HoVer-Net' (hovernet.json); it is read and checked when you press Compare."
    w.model.trust.value = True
    w.model.file.value = tmp_path / "other.dat"
    assert not w.model.trust.value  # another file: asked again
    w.ours_file.value = tmp_path / "predicted.parquet"
    w.add_ours_button.changed.emit(True)
    assert w.models_label.value == "Models: HoVer-Net, ours"
    w.compare_button.changed.emit(True)
    assert "lymphocyte F1" in w.status.value, w.status.value
    shown = pd.DataFrame(w.table.value["data"], columns=w.table.value["columns"]).set_index("region")
    assert list(shown.index) == ["sparse", "dense", "Total"]
    expected, counts, _ = compare_models(
        [sparse, dense],
        truth_cells(table),
        {"HoVer-Net": DetectionSource(tmp_path / "hovernet.json").read(PX), "ours": classifier_cells(table)},
        um_per_px=PX,
    )
    expected = expected.set_index("region")
    np.testing.assert_allclose(
        shown["HoVer-Net lymphocyte F1"].astype(float), expected["HoVer-Net lymphocyte F1"].round(3)
    )
    assert shown.loc["dense", "n lymphocyte"] == expected.loc["dense", "n lymphocyte"]
    # one overlay per model: TP green where the model put them, misses yellow at the true cells
    hover = viewer.layers["HoVer-Net vs IF"]
    outcomes = hover.features["outcome"].to_numpy()
    assert {"TP", "FP", "FN"} <= set(outcomes)
    tp_colour = hover.face_color[np.flatnonzero(outcomes == "TP")[0]]
    np.testing.assert_allclose(tp_colour[:3], transform_color(OUTCOME_COLOURS["TP"])[0][:3], atol=0.01)
    # no grey rim: points enlarged to their minimum size zoomed out were grey discs with a dot
    np.testing.assert_allclose(hover.border_color, hover.face_color)
    assert "ours vs IF" in viewer.layers
    # the two models are told apart by symbol and size, and the legend says which is which
    ours = viewer.layers["ours vs IF"]
    assert str(hover.symbol[0]) != str(ours.symbol[0]) and hover.size[0] != ours.size[0]
    # ... also zoomed out: a minimum on screen, larger for the second model
    assert ours.canvas_size_limits[0] >= 5 and hover.canvas_size_limits[0] != ours.canvas_size_limits[0]
    assert "HoVer-Net: disc" in w.legend.value and "ours: square" in w.legend.value
    assert "FN" in w.legend.value and "ignored" in w.legend.value  # every colour drawn is named
    hover_counts = counts[(counts.model == "HoVer-Net") & (counts.region == "Total")]
    assert (outcomes == "FN").sum() == hover_counts["fn"].sum() and (outcomes == "FP").sum() == hover_counts["fp"].sum()
    w.out_dir.value = tmp_path / "report"
    w.save_button.changed.emit(True)
    table_part, about = (tmp_path / "report" / "comparison.md").read_text().split("\n## How this comparison was made")
    assert table_part.count("\n") == 5  # header, rule, 2 regions, total
    assert f"- Truth: {tmp_path / 'predicted.parquet'} (every cell labelled)" in about
    assert "- HoVer-Net: " in about and "(hovernet-json, type map 'lizard', read at 0.5 µm/px" in about
    # model against model: no truth, so the outcome points and their legend go (they stayed, stale)
    w.no_truth.value = True
    w.compare_button.changed.emit(True)
    assert "kappa" in w.status.value and "model_a" in w.table.value["columns"]
    assert not [x for x in viewer.layers if x.metadata.get(PLUGIN_KEY, {}).get("role") == "comparison"]
    assert w.legend.value == ""
    w.no_truth.value = False
    # with no truth file, the project's review is the truth: relabel one dense-region "other" as CD8 T
    from napari_ifcell.pipeline.review.session import ReviewSession

    dense_others = truth_cells(table)
    dense_others = dense_others[dense.contains(dense_others.y, dense_others.x) & (dense_others["class"] == "other")]
    session = ReviewSession.open(if_path.parent / "synthetic_if.ifcell", table, reviewer="ana")
    session.set_class(int(dense_others["CellID"].iloc[0]), "CD8 T")
    session.files.close()
    w.truth_file.value = ""
    w.compare_button.changed.emit(True)
    assert "lymphocyte F1" in w.status.value, w.status.value
    shown = pd.DataFrame(w.table.value["data"], columns=w.table.value["columns"]).set_index("region")
    assert shown.loc["dense", "n lymphocyte"] == expected.loc["dense", "n lymphocyte"] + 1
    assert shown.loc["dense", "n other"] == expected.loc["dense", "n other"] - 1
    # held out of the data set our classifier learnt from: its train and val cells are not scored
    learnt = table["CellID"] % 2 == 0
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    split = np.where(learnt, "train", "test")
    table[["CellID", "X_centroid", "Y_centroid"]].assign(split=split).to_parquet(dataset / "index.parquet")
    w.truth_file.value, w.held_out.value = tmp_path / "predicted.parquet", dataset
    w.compare_button.changed.emit(True)
    shown = pd.DataFrame(w.table.value["data"], columns=w.table.value["columns"]).set_index("region")
    held_out = truth_cells(table[~learnt])
    in_dense = dense.contains(held_out.y, held_out.x) & (held_out["class"] == "lymphocyte")
    assert 0 < shown.loc["dense", "n lymphocyte"] == in_dense.sum() < expected.loc["dense", "n lymphocyte"]
    assert f"truth cells left out, the cells our classifier was trained or validated on ({dataset})" in "\n".join(
        w.about
    )
    w.no_truth.value = True  # no truth to leave cells out of: the field goes while it is ticked
    assert w.held_out.native.isHidden()
    w.compare_button.changed.emit(True)
    assert "kappa" in w.status.value, w.status.value
    w.no_truth.value = False
    assert not w.held_out.native.isHidden() and w.held_out.value == dataset


def test_models_are_checked_and_cleared_and_early_regions_end_up_on_top(
    make_napari_viewer, small_pair, predicted_table, tmp_path
):
    """Clicks before their inputs exist: Compare before a slide made a regions layer that the
    slide then covered; Add with an empty field added "." as a model, which no click removed."""
    import shutil

    from napari_ifcell._napari.region_layer import regions_layer

    viewer = make_napari_viewer()
    w = CompareWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.compare_button.changed.emit(True)
    assert "open the slide (Loader) first" in w.status.value and not len(viewer.layers)
    w.add_ours_button.changed.emit(True)  # nothing chosen yet
    assert w.sources == {} and "Our predictions table: choose a file first" in w.status.value
    predicted_table.to_parquet(tmp_path / "predicted.parquet", index=False)
    w.ours_file.value = tmp_path / "predicted.parquet"
    w.add_ours_button.changed.emit(True)
    w.add_ours_button.changed.emit(True)  # the same file twice: one model
    assert list(w.sources) == ["ours"] and "already a model ('ours')" in w.status.value
    w.clear_models_button.changed.emit(True)
    assert w.sources == {} and w.models_label.value == "Models: none"
    w.add_ours_button.changed.emit(True)
    drawn = regions_layer(viewer, PX)  # made before the slide, as a script might
    for path in (small_pair.if_path, small_pair.he_path):
        shutil.copy(path, tmp_path / path.name)
    loader = LoaderWidget(viewer)
    first = (tmp_path / small_pair.if_path.name, tmp_path / small_pair.he_path.name)
    loader.open_pair(*first)
    assert viewer.layers[-1] is drawn  # drawn over the slide, not under its H&E
    assert w.sources == {}  # the models of the slide before are not this one's

    # another slide opens: the regions drawn on this one are set aside (hidden, kept), not
    # shown on it, and they come back with their slide, unsaved as they were
    drawn.add(np.array([[10.0, 10.0], [10.0, 90.0], [90.0, 90.0], [90.0, 10.0]]), shape_type="rectangle")
    # a region just drawn shows the name the report will give it (it showed "None"), in its middle
    assert drawn.features["name"].tolist() == ["region 1"] and drawn.text.anchor == "center"
    other = tmp_path / "other"
    other.mkdir()
    for path in (small_pair.if_path, small_pair.he_path):
        shutil.copy(path, other / path.name)
    loader.open_pair(other / small_pair.if_path.name, other / small_pair.he_path.name)
    name = small_pair.if_path.name
    assert drawn.name == f"regions of {name}" and not drawn.visible and len(drawn.data) == 1
    assert f"kept, hidden, in layer 'regions of {name}'" in loader.status.value  # where the slide was opened
    assert len(w.regions_layer().data) == 0 and w.regions_layer() is not drawn
    loader.open_pair(*first)
    assert w.regions_layer() is drawn and drawn.visible and len(drawn.data) == 1
    assert [x.name for x in viewer.layers].count("regions") == 1  # the other slide's empty layer went

    # an ellipse is a region (it was dropped without a word); an unnamed region's number is one
    # no typed name has; a line holds no cells and is refused
    from napari_ifcell._napari.region_layer import layer_regions

    drawn.add(np.array([[100.0, 100.0], [100.0, 300.0], [200.0, 300.0], [200.0, 100.0]]), shape_type="ellipse")
    assert drawn.features["name"].tolist() == ["region 1", "region 2"]  # not napari's copy of the last name
    drawn.selected_data = {1}
    w.region_name.value = "tumour"
    w.name_button.changed.emit(True)
    drawn.add(np.array([[300.0, 300.0], [300.0, 350.0], [350.0, 350.0], [350.0, 300.0]]), shape_type="rectangle")
    assert drawn.features["name"].tolist() == ["region 1", "tumour", "region 3"]
    drawn.selected_data = {0, 2}  # one name for two regions: compare would refuse the pair later
    w.region_name.value = "stroma"
    w.name_button.changed.emit(True)
    assert drawn.features["name"].tolist() == ["region 1", "tumour", "region 3"]
    assert w.status.value == "2 regions are selected; select one to name."
    # several shapes added at once (napari says only -1) and a pasted copy: each gets its own name
    drawn.add([np.array([[400.0, 400.0], [400.0, 450.0], [450.0, 450.0], [450.0, 400.0]]) + d for d in (0, 60)])
    drawn.selected_data = {1}
    drawn._copy_data()
    drawn._paste_data()
    assert drawn.features["name"].tolist() == ["region 1", "tumour", "region 3", "region 4", "region 5", "region 6"]
    drawn.selected_data = set(range(3, 6))
    drawn.remove_selected()
    drawn.selected_data = {2}
    drawn.remove_selected()
    drawn.features = {"name": np.array(["region 2", None], dtype=object)}  # the ellipse: "region 2" was typed
    regions = layer_regions(drawn, PX)
    assert [r.name for r in regions] == ["region 2", "region 3"] and regions[1].kind == "polygon"
    assert regions[1].contains([150, 150, 104], [200, 297, 104]).tolist() == [True, True, False]  # not its box corner
    drawn.add(np.array([[0.0, 0.0], [50.0, 50.0]]), shape_type="line")
    w.compare_button.changed.emit(True)
    assert "shape 3 in the 'regions' layer is a line: regions are rectangles, polygons or ellipses" in w.status.value
    assert len(layer_regions(drawn, PX, lines_refused=False)) == 2  # where regions are optional (Export)
    # a second model of one name is refused (it replaced the first); a custom type map file
    qupath = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [5, 5]},
            "properties": {"objectType": "detection", "classification": {"name": "Lymphos"}},
        }
    ]
    (tmp_path / "q.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": qupath}))
    (tmp_path / "map.json").write_text(json.dumps({"classes": {"Lymphos": "lymphocyte"}}))
    assert not w.model.type_map_file.visible  # a file's rarer settings show on asking
    w.model.more.value = True
    w.model.name.value, w.model.file.value, w.model.type_map_file.value = (
        "QuPath",
        tmp_path / "q.geojson",
        tmp_path / "map.json",
    )
    w.model.add_button.changed.emit(True)
    assert w.sources["QuPath"].read(PX)["class"].tolist() == ["lymphocyte"]
    assert not w.model.type_map_file.line_edit.value  # the next model's map is chosen again
    w.model.file.value = tmp_path / "predicted.parquet"
    w.model.add_button.changed.emit(True)
    assert "A model called 'QuPath' is added already" in w.status.value and list(w.sources) == ["QuPath"]
    # a model run on a tile of the slide: its format and where its image began, as the CLI's
    # --format and --origin-px give them (the GUI had no way)
    shutil.copy(tmp_path / "q.geojson", tmp_path / "tile.geojson")
    w.model.name.value, w.model.file.value, w.model.format.value = "tile", tmp_path / "tile.geojson", "qupath-geojson"
    w.model.origin_y.value, w.model.origin_x.value = 100, 200
    w.model.add_button.changed.emit(True)
    assert w.sources["tile"].format == "qupath-geojson" and w.sources["tile"].origin_px == (100, 200)
    at_origin = w.sources["QuPath"].read(PX)[["y", "x"]].to_numpy()
    np.testing.assert_allclose(w.sources["tile"].read(PX)[["y", "x"]].to_numpy(), at_origin + [100, 200])
    assert w.model.origin_y.value == w.model.origin_x.value == 0  # the next file's image is placed again
    w.model.format.value, w.model.origin_x.value = "hovernet-json", 7
    w.model.more.value = False  # hidden, the rarer settings are back to their defaults: what applies is shown
    assert (w.model.format.value, w.model.origin_x.value, w.model.type_map_file.visible) == ("auto", 0, False)


def _contour_file(path, truth_img, table, shift_px: float) -> None:
    """A HoVer-Net JSON (x/y order) with every true nucleus's contour, moved ``shift_px`` down."""
    from skimage.measure import find_contours, regionprops

    cls = truth_class(table).set_axis(table["CellID"].to_numpy())
    nuc = {}
    for prop in regionprops(truth_img):
        kind = cls.get(prop.label)
        if kind is None:
            continue
        y0, x0, _, _ = prop.bbox
        contour = find_contours(np.pad(prop.image, 1).astype(float), 0.5)[0] + (y0 - 1 + shift_px, x0 - 1)
        cy, cx = prop.centroid
        nuc[str(prop.label)] = {
            "bbox": [[y0, x0], list(prop.bbox[2:])],
            "centroid": [cx, cy + shift_px],
            "contour": contour[:, ::-1].tolist(),
            "type": LIZARD[kind],
            "type_prob": 0.9,
        }
    path.write_text(json.dumps({"mag": 40, "nuc": nuc}))


def test_mask_iou_matching_is_chosen_in_the_widget(
    make_napari_viewer, small_pair, predicted_table, truth_store, tmp_path
):
    """Contours moved 9 px (2.9 µm, inside the 3 µm centroid radius) pair by centroid but not
    by mask: the widget's *Match cells by* reaches the comparison, with the truth's masks from
    the label store chosen, and the status says how each model was matched."""
    import shutil

    table = predicted_table
    table.to_parquet(tmp_path / "predicted.parquet", index=False)
    truth_img = np.asarray(truth_store.read(0, 0, 700, 700))
    _contour_file(tmp_path / "exact.json", truth_img, table, 0)
    _contour_file(tmp_path / "shifted.json", truth_img, table, 9)
    viewer = make_napari_viewer()
    for path in (small_pair.if_path, small_pair.he_path):
        shutil.copy(path, tmp_path / path.name)
    LoaderWidget(viewer).open_pair(tmp_path / small_pair.if_path.name, tmp_path / small_pair.he_path.name)
    w = CompareWidget(viewer)
    layer = viewer.layers["regions"]
    layer.add(np.array([[100.0, 100.0], [100.0, 600.0], [600.0, 600.0], [600.0, 100.0]]), shape_type="rectangle")
    layer.selected_data = {0}
    w.region_name.value = "centre"
    w.name_button.changed.emit(True)
    w.truth_file.value = tmp_path / "predicted.parquet"
    for name in ("exact", "shifted"):
        w.model.name.value, w.model.file.value, w.model.model_um.value = name, tmp_path / f"{name}.json", PX
        w.model.add_button.changed.emit(True)
    w.ours_file.value = tmp_path / "predicted.parquet"
    w.add_ours_button.changed.emit(True)

    def found(model: str) -> float:
        total = w.counts[(w.counts.model == model) & (w.counts.region == "Total")]
        return total.tp.sum() / (total.tp.sum() + total.fn.sum())

    assert w.truth_labels.native.isHidden()  # asked for only when matching by mask
    w.compare_button.changed.emit(True)
    assert found("exact") > 0.95 and found("shifted") > 0.9, w.status.value
    assert "shifted: centroid" in w.status.value
    w.match.value = "iou"
    assert not w.truth_labels.native.isHidden() and str(w.truth_labels.value) in (
        "",
        ".",
    )  # this project has no store yet
    w.compare_button.changed.emit(True)
    assert "mask IoU matching needs the truth's nuclei" in w.status.value
    w.truth_labels.value = truth_store.folder
    w.compare_button.changed.emit(True)
    assert found("exact") > 0.95 and found("shifted") < 0.1, w.status.value
    assert "exact: mask IoU, shifted: mask IoU, ours: cell id" in w.status.value
    assert "Note: exact.json: type map 'lizard' assumed" in w.status.value  # the guess, said in the tab
