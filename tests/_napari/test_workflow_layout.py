"""The workflow dock on a 1600 x 1000 screen: each form keeps its fields together at the top of
its tab instead of spreading them over the dock's height."""

from __future__ import annotations

import pytest

from napari_ifcell._napari.workflow_widget import FILLS, STEPS, WorkflowWidget


@pytest.fixture
def workflow(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    workflow = WorkflowWidget(viewer)
    viewer.window.add_dock_widget(workflow, name="napari-ifcell")
    qtbot.wait(50)
    return workflow


def _field_spans(widget) -> list[tuple[int, int]]:
    """(top, bottom) in the step's coordinates of each visible field, in layout order."""
    native = widget.native
    fields = [w.native for w in widget if w.native.isVisibleTo(native)]
    return [(f.mapTo(native, f.rect().topLeft()).y(), f.mapTo(native, f.rect().bottomLeft()).y()) for f in fields]


@pytest.mark.parametrize("step", [s for s in STEPS if s not in FILLS])
def test_form_fields_sit_together_at_the_top(workflow, qtbot, step):
    workflow.show_step(step)
    qtbot.wait(50)
    spans = _field_spans(workflow.steps[step])
    assert len(spans) >= 3
    gaps = [top - bottom for (_, bottom), (top, _) in zip(spans, spans[1:])]
    # rows sit a few px apart; the export form once spread four fields over 900 px (gaps of 120 px)
    assert max(gaps) < 20, (step, gaps)
    assert spans[0][0] < 40, (step, spans)
