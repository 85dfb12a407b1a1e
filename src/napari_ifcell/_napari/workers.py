"""Run widget work off the GUI thread, or synchronously for deterministic tests."""

from __future__ import annotations

import os
from collections.abc import Callable

SYNC_ENV = "NAPARI_IFCELL_SYNC"


def is_sync(sync: bool | None = None) -> bool:
    """Whether widget work runs inline: ``sync`` when given, else ``NAPARI_IFCELL_SYNC=1``."""
    return os.environ.get(SYNC_ENV) == "1" if sync is None else sync


def run_in_background(func: Callable, *args, on_done: Callable, on_error: Callable, sync: bool | None = None, **kwargs):
    """Call ``func(*args, **kwargs)`` in a napari thread worker; results come back on the GUI thread.

    With ``sync=True``, or ``NAPARI_IFCELL_SYNC=1`` in the environment, the call runs
    inline, so tests see its effect at once. Returns the worker (None when synchronous).
    """
    if is_sync(sync):
        try:
            result = func(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - reported to the user, never raised into Qt
            on_error(exc)
        else:
            on_done(result)
        return None
    from napari.qt.threading import create_worker

    # _ignore_errors: on_error reports the error; superqt would also raise it again on the GUI
    # thread (a second pop-up with a traceback, or an abort in a script without napari.run()).
    worker = create_worker(func, *args, _start_thread=False, _ignore_errors=True, **kwargs)
    worker.returned.connect(on_done)
    worker.errored.connect(on_error)
    worker.start()
    return worker


def run_steps_in_background(
    steps, *, on_progress: Callable, on_done: Callable, on_error: Callable, cancel, sync: bool | None = None
):
    """Drive a step generator (yields ``(stage, i, n)``, returns a result) off the GUI thread.

    ``cancel`` is a ``threading.Event``: when set, the generator is closed after the current
    step (its cleanup runs) and ``on_done(None)`` is called.
    """

    def drive():
        while True:
            if cancel.is_set():
                steps.close()
                return None
            try:
                step = next(steps)
            except StopIteration as stop:
                return stop.value
            yield step

    if is_sync(sync):
        try:
            driver = drive()
            while True:
                try:
                    on_progress(next(driver))
                except StopIteration as stop:
                    result = stop.value
                    break
        except Exception as exc:  # noqa: BLE001 - reported to the user, never raised into Qt
            on_error(exc)
        else:
            on_done(result)
        return None
    from napari.qt.threading import create_worker

    worker = create_worker(drive, _start_thread=False, _ignore_errors=True)  # as above
    worker.yielded.connect(on_progress)
    worker.returned.connect(on_done)
    worker.errored.connect(on_error)
    worker.start()
    return worker
