"""Background work in the widgets: an error reaches the widget's handler once, and nothing else."""

from __future__ import annotations

import threading

import pytest

from napari_ifcell._napari.workers import run_in_background, run_steps_in_background


def _fail():
    raise ValueError("/data/slide.ome.tif: no such file")


def _failing_steps():
    yield ("reading", 1, 2)
    raise ValueError("/data/slide.ome.tif: no such file")


@pytest.mark.parametrize("kind", ["call", "steps"])
def test_an_error_in_background_work_is_reported_once_and_not_raised_again_in_qt(qtbot, kind):
    """Raised again on the GUI thread, napari showed a second pop-up with a traceback, and a
    script using a viewer without napari.run() aborted."""
    errors: list[Exception] = []
    done: list = []
    with qtbot.capture_exceptions() as raised_in_qt:
        if kind == "call":
            worker = run_in_background(_fail, on_done=done.append, on_error=errors.append, sync=False)
        else:
            worker = run_steps_in_background(
                _failing_steps(),
                on_progress=lambda step: None,
                on_done=done.append,
                on_error=errors.append,
                cancel=threading.Event(),
                sync=False,
            )
        assert worker is not None
        qtbot.waitUntil(lambda: bool(errors), timeout=10_000)
        qtbot.wait(100)  # any second delivery of the error would arrive by now
    assert [str(e) for e in errors] == ["/data/slide.ome.tif: no such file"]
    assert not done and not raised_in_qt
