"""Every step in one dock, as tabs in workflow order: Loader, Segment, Gating, Classifier,
Review, Compare, Export. They share the viewer's workflow state, so each tab starts from what
the previous one opened or wrote."""

from __future__ import annotations

from qtpy.QtWidgets import QScrollArea, QTabWidget, QVBoxLayout, QWidget

STEPS = ("Loader", "Segment", "Gating", "Classifier", "Review", "Compare", "Export")
# the overlays each step draws (their layers' role): shown with that step's tab, hidden (kept) with others
OVERLAY_STEP = {
    "segmentation": "Segment",
    "gating": "Gating",
    "classifier": "Classifier",
    "review": "Review",
    "comparison": "Compare",
}
# steps whose plot or gallery takes the height they are given; the others keep their fields together
FILLS = ("Gating", "Review")
DOCK_WIDTH = 440  # leaves a 1600 px wide screen most of its width for the canvas


def _step_widgets(viewer) -> dict:
    from napari_ifcell._napari.classifier_widget import ClassifierWidget
    from napari_ifcell._napari.compare_widget import CompareWidget
    from napari_ifcell._napari.export_widget import ExportWidget
    from napari_ifcell._napari.gating_widget import GatingWidget
    from napari_ifcell._napari.loader_widget import LoaderWidget
    from napari_ifcell._napari.review.widget import ReviewWidget
    from napari_ifcell._napari.segment_widget import SegmentWidget

    kinds = (LoaderWidget, SegmentWidget, GatingWidget, ClassifierWidget, ReviewWidget, CompareWidget, ExportWidget)
    return {name: kind(viewer) for name, kind in zip(STEPS, kinds)}


def _packed_at_top(widget: QWidget) -> QWidget:
    """The widget at its natural height at the top of the tab, the spare height below it
    (a form stretched over a tall dock spreads its fields apart)."""
    page = QWidget()
    layout = QVBoxLayout(page)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(widget)
    layout.addStretch(1)
    return page


class WorkflowWidget(QWidget):
    """The workflow's steps as tabs; ``steps[name]`` is each step's widget."""

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.steps = _step_widgets(napari_viewer)
        self.tabs = QTabWidget()
        self.tabs.setUsesScrollButtons(True)
        for name, widget in self.steps.items():
            scroll = QScrollArea()  # a tall step scrolls instead of growing the window
            scroll.setWidgetResizable(True)
            native = getattr(widget, "native", widget)
            scroll.setWidget(native if name in FILLS else _packed_at_top(native))
            self.tabs.addTab(scroll, name)
        self.tabs.currentChanged.connect(self._on_step_shown)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        self.setMinimumWidth(DOCK_WIDTH)
        self.setMaximumWidth(DOCK_WIDTH + 80)

    def reset_choices(self, *_) -> None:
        """napari calls this on a docked widget when layers change; the steps' layer pickers follow."""
        for widget in self.steps.values():
            if hasattr(widget, "reset_choices"):
                widget.reset_choices()

    def _on_step_shown(self, index: int) -> None:
        """Only the current step's overlays are drawn: earlier steps' layers are hidden, not removed."""
        from napari_ifcell._napari.layers import PLUGIN_KEY

        step = STEPS[index]
        for layer in self.viewer.layers:
            owner = OVERLAY_STEP.get(layer.metadata.get(PLUGIN_KEY, {}).get("role"))
            if owner is not None:
                layer.visible = owner == step
        widget = self.steps[step]
        if hasattr(widget, "on_shown"):
            widget.on_shown()

    def show_step(self, name: str) -> None:
        self.tabs.setCurrentIndex(STEPS.index(name))

    @property
    def current_step(self) -> str:
        return STEPS[self.tabs.currentIndex()]
