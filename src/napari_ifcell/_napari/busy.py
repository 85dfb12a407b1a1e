"""One long job at a time in a widget: while it runs, the buttons that start work are off and
Cancel is on; however it ends (done, cancelled, failed) the buttons come back. Two clicks of
*Train* used to start two trainings writing one model folder."""

from __future__ import annotations

import threading
from collections.abc import Callable

from napari_ifcell._napari.workers import run_in_background, run_steps_in_background


def _set_enabled(button, enabled: bool) -> None:
    getattr(button, "native", button).setEnabled(enabled)  # a magicgui button or a Qt one


class Busy:
    """Guards a widget's work buttons; ``say`` shows a message in the widget's status,
    ``cancelling`` what it says when Cancel is pressed."""

    def __init__(
        self, cancel_button, say: Callable[[str], None], cancelling: str = "Cancelling after the current step..."
    ):
        self.cancel_button, self._say, self._cancelling = cancel_button, say, cancelling
        self.buttons: list = []
        self.event = threading.Event()
        self.running = False
        if hasattr(cancel_button, "changed"):  # magicgui's button (what scripts and tests press)
            cancel_button.changed.connect(lambda *_: self.cancel())
        else:
            cancel_button.clicked.connect(self.cancel)
        _set_enabled(cancel_button, False)

    def guard(self, *buttons) -> None:
        """These buttons are off while a job runs."""
        self.buttons.extend(buttons)

    def run_steps(self, steps, *, on_progress: Callable, on_done: Callable, on_error: Callable, sync=None):
        """Drive a step generator off the GUI thread; Cancel stops it after the current step
        (``on_done(None)``)."""
        self.event.clear()
        self._set_running(True)
        return run_steps_in_background(
            steps,
            on_progress=on_progress,
            on_done=self._then(on_done),
            on_error=self._then(on_error),
            cancel=self.event,
            sync=sync,
        )

    def run(self, func: Callable, *args, on_done: Callable, on_error: Callable, sync=None, **kwargs):
        """Call ``func`` off the GUI thread; it cannot be cancelled (Cancel stays off)."""
        self._set_running(True, cancellable=False)
        return run_in_background(
            func, *args, on_done=self._then(on_done), on_error=self._then(on_error), sync=sync, **kwargs
        )

    def cancel(self) -> None:
        if self.running:
            self.event.set()
            self._say(self._cancelling)

    def _then(self, callback: Callable) -> Callable:
        def finished(result):
            self._set_running(False)
            return callback(result)

        return finished

    def _set_running(self, running: bool, *, cancellable: bool = True) -> None:
        self.running = running
        for button in self.buttons:
            _set_enabled(button, not running)
        _set_enabled(self.cancel_button, running and cancellable)
