"""The gated table and gates saved as the gates move: once they rest, one save at a time,
written in the order they were asked for."""

from __future__ import annotations

import threading
from collections.abc import Callable

from qtpy.QtCore import QObject, QTimer

from napari_ifcell._napari.workers import run_in_background

SAVE_DELAY_MS = 600  # the gated table is saved once the gates rest this long


class GatedTableSaves:
    """``snapshot()`` gives ``(table, gates copy, gated path, gates path)``, or None when there
    is nothing to save; ``on_saved(gated, gated path)`` and ``on_error(exc)`` run on the GUI thread."""

    def __init__(self, parent: QObject, snapshot: Callable, on_saved: Callable, on_error: Callable):
        self._snapshot, self._on_saved, self._on_error = snapshot, on_saved, on_error
        self.timer = QTimer(parent)
        self.timer.setSingleShot(True)
        self.timer.setInterval(SAVE_DELAY_MS)
        self.timer.timeout.connect(self.save)
        self.busy = self.again = False
        # a save still running when a later one is written (the slide changed) must not finish
        # over it: each write holds the lock and skips itself once a later one has written
        self._lock, self._asked, self._written = threading.Lock(), 0, 0

    def soon(self) -> None:
        """The gates moved: save once they rest (a drag moves them many times a second)."""
        self.timer.start()

    def flush(self) -> None:
        """Save a move still waiting, now and here (before the fields name another project)."""
        if self.timer.isActive() or self.again:
            self.timer.stop()
            self.busy = False
            self.save(sync=True)

    def save(self, *, sync: bool | None = None):
        """Write the current gates' table (atomically, in a worker); the worker, or None."""
        if self.busy:  # one save at a time; the latest gates are saved after it
            self.again = True
            return None
        what = self._snapshot()
        if what is None:
            return None
        table, gates, gated_path, gates_path = what
        self.busy, self.again = True, False
        self._asked += 1
        return run_in_background(
            self._write_in_order,
            self._asked,
            table,
            gates,
            gated_path=gated_path,
            gates_path=gates_path,
            on_done=lambda gated: self._done(gated, gated_path),
            on_error=self._failed,
            sync=sync,
        )

    def _write_in_order(self, asked: int, table, gates, **paths):
        """``save_gating``, unless a later save has written already (then None)."""
        from napari_ifcell.pipeline.gating import save_gating

        with self._lock:
            if asked < self._written:
                return None
            self._written = asked
            return save_gating(table, gates, **paths)

    def _done(self, gated, path) -> None:
        self.busy = False
        if gated is not None:  # None: overtaken by a later save
            self._on_saved(gated, path)
        if self.again:
            self.save()

    def _failed(self, exc: Exception) -> None:
        self.busy = False
        self._on_error(exc)
