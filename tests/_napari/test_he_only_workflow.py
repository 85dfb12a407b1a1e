"""An H&E slide with no IF, walked through the widgets as a user would: Loader -> Segment ->
Classifier -> Review -> Compare, every step on the H&E alone (a 0.5 µm/px slide)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from napari_ifcell._napari.classifier_widget import ClassifierWidget
from napari_ifcell._napari.compare_widget import CompareWidget
from napari_ifcell._napari.loader_widget import LoaderWidget
from napari_ifcell._napari.review.widget import ReviewWidget
from napari_ifcell._napari.segment_widget import SegmentWidget
from napari_ifcell.core.classes import CLASSES
from napari_ifcell.io.label_store import LabelStore
from napari_ifcell.io.project import Project
from napari_ifcell.synth.he_alone import write_he_alone


def test_he_only_workflow_segment_predict_review_compare(make_napari_viewer, small_pair, pair_classifier, tmp_path):
    model_dir, _, _ = pair_classifier
    he = write_he_alone(small_pair, tmp_path, pixel_size_um=0.5, name="routine")
    project = Project.for_slide(he.he_path)
    viewer = make_napari_viewer()

    loader = LoaderWidget(viewer)  # only the H&E file: no IF
    viewer.window.add_dock_widget(loader)
    loader.he_file.value = he.he_path
    loader.open_button.changed.emit(True)
    assert len(viewer.layers) == 1 and viewer.layers[0].rgb, loader.status.value
    assert "no IF" in loader.info.value and loader.he_pixel_size.value == 0.5
    assert tuple(viewer.layers[0].scale) == (0.5, 0.5)

    segment = SegmentWidget(viewer)  # automatic backend: H&E on an RGB slide
    viewer.window.add_dock_widget(segment)
    assert segment.settings().sam.um_per_px == 0.325  # SAM's working resolution, not rounded by the field
    segment.all_button.changed.emit(True)
    assert "Error" not in segment.status.value, segment.status.value
    n_cells = len(LabelStore.open(project.labels).index)
    assert 0.85 * len(pd.read_csv(he.cells_path)) <= n_cells

    classifier = ClassifierWidget(viewer)  # no table: the store's cells
    viewer.window.add_dock_widget(classifier)
    classifier.model_dir.value = model_dir
    classifier.all_button.changed.emit(True)
    assert f"Predicted {n_cells} cells" in classifier.status.value, classifier.status.value
    layer = viewer.layers["predicted class"]
    predicted = pd.read_parquet(project.predictions)  # saved where Review and Compare look
    assert len(predicted) == n_cells and predicted["predicted"].isin(CLASSES).all()
    first = predicted.iloc[0]
    code = CLASSES.index(first["predicted"]) + 1
    assert classifier.lut[int(first["CellID"])] == code  # coloured by its class
    assert np.allclose(layer.colormap.map(code)[:3], _colour(first["predicted"]), atol=0.01)
    assert all(name in classifier.metrics.value for name in CLASSES)  # the legend
    truth_only = (classifier.target, classifier.threshold, classifier.show_tn, classifier.save_button)
    assert not any(w.native.isVisibleTo(classifier.native) for w in truth_only)  # no IF: nothing to score against
    viewer.camera.center, viewer.camera.zoom = (100, 100), 8  # a corner: predicting it keeps the rest
    classifier.visible_button.changed.emit(True)
    assert f"Predicted {n_cells} cells" not in classifier.status.value  # only the cells in view
    assert pd.read_parquet(project.predictions)["predicted"].notna().all(), classifier.status.value
    classifier.export_button.changed.emit(True)
    geojson = json.loads((project.exports / "routine_predictions.geojson").read_text())
    assert len(geojson["features"]) == n_cells and (project.exports / "routine_predictions.h5ad").is_file()

    review = ReviewWidget(viewer)
    viewer.window.add_dock_widget(review)
    review.reviewer.value = "pathologist"
    review.table_file.value, review.auto_from.value = project.predictions, "model"
    review.open_button.changed.emit(True)
    assert "Review of" in review.status.value, review.status.value
    review.order.value = "uncertainty"
    review.queue_button.changed.emit(True)
    top = predicted.set_index("CellID").loc[review.queue].filter(like="prob_").max(axis=1).to_numpy()
    assert (np.diff(top) >= -1e-6).all()  # the model's least confident cells first
    assert review.gallery.titles == ["H&E"]  # no IF channels to show
    decided = []
    for i in range(12):  # approve, relabel as B cell, approve, ...
        decided.append(review.current_cell())
        review.decide("approve") if i % 2 == 0 else review.decide("set_class", CLASSES.index("B cell"))
    state = review.session.state.table().set_index("CellID").loc[decided]
    assert (state["review_status"] != "unreviewed").all() and state["reviewer"].eq("pathologist").all()
    review.session.close()

    compare = CompareWidget(viewer)
    viewer.window.add_dock_widget(compare)
    from napari_ifcell._napari.region_layer import set_layer_regions
    from napari_ifcell.io.regions import Region

    cells = predicted.set_index("CellID").loc[decided]
    y0, x0 = cells[["Y_centroid", "X_centroid"]].min() - 5
    y1, x1 = cells[["Y_centroid", "X_centroid"]].max() + 5
    set_layer_regions(compare.regions_layer(), [Region.rectangle("reviewed", y0, x0, y1 - y0, x1 - x0)])
    compare.ours_file.value = project.predictions
    compare.add_ours_button.changed.emit(True)
    compare.compare_button.changed.emit(True)  # the truth: the project's reviewed cells
    assert "ours: lymphocyte F1" in compare.status.value, compare.status.value
    report = compare.report.set_index("region")
    assert report.loc["Total", "n lymphocyte"] + report.loc["Total", "n other"] >= len(decided)
    assert "ours vs review" in viewer.layers  # the truth is the review, not IF

    other = tmp_path / "other.json"  # a second model: our own calls, as a HoVer-Net file would hold them
    nuc = {
        str(i): {"centroid": [r.X_centroid, r.Y_centroid], "type": 3 if r.predicted in CLASSES[:3] else 2}
        for i, r in enumerate(predicted.itertuples(), start=1)
    }
    other.write_text(json.dumps({"mag": 20, "nuc": nuc}))
    compare.model.name.value, compare.model.file.value, compare.model.model_um.value = "other", other, 0.5
    compare.model.add_button.changed.emit(True)
    compare.no_truth.value = True
    compare.compare_button.changed.emit(True)
    total = compare.report[compare.report["region"] == "Total"].iloc[0]
    assert total["matched"] == total["cells_a"] == total["cells_b"] and total["kappa"] == 1.0
    assert "kappa 1.000" in compare.status.value


def _colour(name):
    from napari.utils.colormaps.standardize_color import transform_color

    from napari_ifcell._napari.palette import CLASS_COLOURS

    return transform_color(CLASS_COLOURS[name])[0][:3]
