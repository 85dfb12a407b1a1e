"""`napari-ifcell demo`: generate a synthetic pair and open it with the widgets docked."""

from __future__ import annotations

from pathlib import Path


def run_demo(out_dir: str | Path, *, shape=(4096, 4096), seed: int = 0, show: bool = True):
    """Make (or reuse) a synthetic pair in ``out_dir`` and open it in a new viewer."""
    import napari

    from napari_ifcell._napari.classifier_widget import ClassifierWidget
    from napari_ifcell._napari.compare_widget import CompareWidget
    from napari_ifcell._napari.export_widget import ExportWidget
    from napari_ifcell._napari.gating_widget import GatingWidget
    from napari_ifcell._napari.loader_widget import LoaderWidget
    from napari_ifcell._napari.review.widget import ReviewWidget
    from napari_ifcell._napari.segment_widget import SegmentWidget
    from napari_ifcell.synth import SyntheticPair, make_synthetic_pair

    files = SyntheticPair.in_folder(out_dir)
    if not files.exists():
        print(f"Generating a {shape[0]} x {shape[1]} synthetic Orion-like pair in {files.folder} ...")
        make_synthetic_pair(files.folder, shape=tuple(shape), seed=seed)
    viewer = napari.Viewer(title="napari-ifcell demo", show=show)
    loader = LoaderWidget(viewer)
    viewer.window.add_dock_widget(loader, name="Loader", area="right")
    for name, widget in (
        ("Segment", SegmentWidget),
        ("Gating", GatingWidget),
        ("Classifier", ClassifierWidget),
        ("Review", ReviewWidget),
        ("Compare", CompareWidget),
        ("Export", ExportWidget),
    ):
        viewer.window.add_dock_widget(widget(viewer), name=name, area="right", tabify=True)
    gating = viewer.window.dock_widgets["Gating"]
    gating.if_file.value, gating.labels_file.value = files.if_path, files.labels_path  # the truth, until you segment
    loader.if_file.value, loader.he_file.value = files.if_path, files.he_path
    loader.open_pair(files.if_path, files.he_path, sync=True)  # before the event loop starts
    viewer.reset_view()
    raise_dock(viewer, "Loader")  # tabified docks show the last one added; the workflow starts here
    return viewer, loader


def raise_dock(viewer, name: str) -> None:
    """Show the tab of the dock widget ``name``."""
    from qtpy.QtWidgets import QApplication, QDockWidget

    QApplication.processEvents()  # Qt makes the tab bar of tabified docks only once events run
    for dock in viewer.window._qt_window.findChildren(QDockWidget):
        if dock.windowTitle() == name:
            dock.raise_()
