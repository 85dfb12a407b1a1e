"""Regenerate the README's screenshots from the synthetic pair, as a user would see them:

- docs/screenshot.png: the pair in napari with the Loader docked;
- docs/screenshot_segment.png: the Segment tab after "Segment visible region" with the
  automatic backend (the nuclei layer over the H&E and IF);
- docs/screenshot_gating.png, _classifier.png, _review.png, _compare.png: the next tabs, each
  started from what the step before wrote (quantify that store and move a gate; export patches,
  train briefly, predict the view; review three cells; compare in a named region);
- docs/screenshot_export.png: the Export tab after exporting that slide and its nuclei as
  OME-Zarr (image + labels);
- docs/screenshot_he_only.png: the pair's H&E written alone at 0.5 µm/px (a 20x scan, no IF),
  segmented and classified by a model trained briefly on the pair, cells coloured by
  predicted class with the legend.

Run under a display (or xvfb-run): python scripts/screenshot.py [OUT_FOLDER]
"""

import sys
import tempfile
from pathlib import Path

from qtpy.QtWidgets import QApplication
from skimage.io import imsave

from napari_ifcell._napari.demo import run_demo
from napari_ifcell._napari.view import camera_of
from napari_ifcell.core.classify.model import ClassifierConfig


def _shot(viewer, path: Path) -> None:
    """The whole window, as a user sees it, to ``path``."""
    imsave(path, viewer.screenshot(canvas_only=False, flash=False), check_contrast=False)


def _settle() -> None:
    for _ in range(30):
        QApplication.processEvents()


def main(out: str = "docs") -> None:
    out_dir = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        viewer, workflow = run_demo(Path(tmp) / "pair", shape=(2048, 2048), seed=1)
        viewer.window._qt_window.showNormal()
        viewer.window.resize(1600, 1000)
        camera_of(viewer).center = (0, 300, 420)
        camera_of(viewer).zoom = 1.6
        _settle()
        _shot(viewer, out_dir / "screenshot.png")

        segment = workflow.steps["Segment"]
        workflow.show_step("Segment")
        segment.segment_visible(sync=True)  # the automatic backend: Hoechst watershed on the IF
        _settle()
        print(segment.status.value)
        _shot(viewer, out_dir / "screenshot_segment.png")
        walk_the_steps(viewer, workflow, out_dir)
        export = workflow.steps["Export"]
        workflow.show_step("Export")
        export.format.value = "OME-Zarr image + labels (.ome.zarr)"
        export.export(sync=True)  # the slide and the nuclei just segmented, as NGFF image + labels
        _settle()
        print(export.status.value)
        _shot(viewer, out_dir / "screenshot_export.png")
        viewer.close()
        he_only(Path(tmp) / "pair", out_dir)


def walk_the_steps(viewer, workflow, out_dir: Path) -> None:
    """Gating -> Classifier -> Review -> Compare on the segmented region, through the tabs."""
    from napari_ifcell._napari.torch_guard import keep_triton_out

    keep_triton_out()  # training below runs in a process with a software-OpenGL viewer
    gating = workflow.steps["Gating"]
    workflow.show_step("Gating")
    gating.quantify(sync=True)  # the store Segment just wrote
    gating.marker.setCurrentText("CD3e")
    negative, positive, over = gating.slider.value()
    gating.slider.setValue((negative, negative + (positive - negative) * 0.8, over))  # positive moved down
    gating.save_gated(sync=True)
    _settle()
    print(gating.status.text(), "|", gating.save_status.text())
    _shot(viewer, out_dir / "screenshot_gating.png")

    classifier = workflow.steps["Classifier"]
    workflow.show_step("Classifier")
    gating.layer.visible = False  # the current step's overlay only
    classifier.training.n_cells.value = 300
    classifier.training.export_dataset(sync=True)
    classifier.training_fields["epochs"].value = 4
    classifier.training.train(sync=True)
    classifier.predict(visible=True, sync=True)
    _settle()
    print(classifier.status.value)
    _shot(viewer, out_dir / "screenshot_classifier.png")

    review = workflow.steps["Review"]
    workflow.show_step("Review")
    classifier.layer.visible = False
    review.reviewer.value = "pathologist"
    review.open_review(sync=True)
    review.order.value = "per_class"  # cells with an automatic class, so approving records one
    review.build_queue()
    for key in ("approve", "approve"):
        review.decide(key)
    review.decide("set_class", 1)
    _settle()
    print(review.status.value)
    _shot(viewer, out_dir / "screenshot_review.png")
    review.session.close()
    review.session = None

    compare = workflow.steps["Compare"]
    workflow.show_step("Compare")
    layer = compare.regions_layer()
    layer.add_rectangles([[900.0, 1100.0], [1400.0, 1600.0]])  # the layer's pixels, in the segmented area
    camera_of(viewer).center = (0, 1150 * 0.325, 1350 * 0.325)
    camera_of(viewer).zoom = 2.0
    layer.selected_data = {0}
    compare.region_name.value = "centre"
    compare.name_selected()
    compare.add_ours()
    compare.compare(sync=True)
    _settle()
    print(compare.status.value)
    _shot(viewer, out_dir / "screenshot_compare.png")


def he_only(pair_folder: Path, out_dir: Path) -> None:
    """An H&E slide alone through Loader -> Segment whole slide -> Classifier, as a user clicks."""
    import napari

    from napari_ifcell._napari.torch_guard import keep_triton_out
    from napari_ifcell._napari.workflow_widget import WorkflowWidget
    from napari_ifcell.synth import SyntheticPair
    from napari_ifcell.synth.he_alone import write_he_alone

    keep_triton_out()  # training below runs in a process with a software-OpenGL viewer
    pair = SyntheticPair.in_folder(pair_folder)
    model = _train_on_pair(pair, pair_folder / "model")
    he = write_he_alone(pair, pair_folder / "alone", pixel_size_um=0.5, name="routine")
    viewer = napari.Viewer()
    viewer.window.resize(1600, 1000)
    workflow = WorkflowWidget(viewer)
    viewer.window.add_dock_widget(workflow, name="napari-ifcell")
    loader, segment, classifier = (workflow.steps[name] for name in ("Loader", "Segment", "Classifier"))
    loader.he_file.value = he.he_path
    loader.open_he_alone(he.he_path, sync=True)
    segment.segment_all(sync=True)
    classifier.model_dir.value = model
    classifier.predict(visible=False, sync=True)
    workflow.show_step("Classifier")
    camera_of(viewer).center = (0, 230, 260)
    camera_of(viewer).zoom = 2.2
    _settle()
    print(segment.status.value, "|", classifier.status.value)
    _shot(viewer, out_dir / "screenshot_he_only.png")
    viewer.close()


def _train_on_pair(pair, folder: Path) -> Path:
    """A small CNN trained for a few epochs on the pair's true nuclei and suggested gates."""
    from napari_ifcell.core.gating.apply import gated_table
    from napari_ifcell.core.gating.auto import suggested_gateset
    from napari_ifcell.core.steps import run_to_end
    from napari_ifcell.io import open_pair, open_slide
    from napari_ifcell.pipeline import quantify_region
    from napari_ifcell.pipeline.classify import train_on_dataset_steps
    from napari_ifcell.pipeline.dataset import export_dataset

    with open_slide(pair.if_path) as if_slide, open_slide(pair.labels_path) as labels:
        table = quantify_region(if_slide, labels)
    table = gated_table(table, suggested_gateset(table)[0])
    slides = open_pair(pair.if_path, pair.he_path, offset_um=(0.975, -0.65))
    config = ClassifierConfig(epochs=6)
    export_dataset(slides, table, pair.labels_path, folder / "dataset", config=config, sampling="natural", n=10**6)
    run_to_end(train_on_dataset_steps(folder / "dataset", folder / "model"))
    return folder / "model"


if __name__ == "__main__":
    main(*sys.argv[1:])
