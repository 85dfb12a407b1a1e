"""The review keys of the review widget: move through the queue, decide, undo and redo; when a
key cannot act (no review, no queue, work running, another layer's tools) the status line says
why."""

from __future__ import annotations

import numpy as np


class ReviewKeys:
    """Mixed into ``ReviewWidget`` (which provides the viewer, session, queue, layers and status)."""

    def _bind_keys(self, layer=None) -> None:
        """The review keys, on the viewer and on our own cells layer: an active layer's keys
        win over the viewer's, and napari gives layers number keys for their tools."""
        bindings = {
            ".": lambda: self.step(+1),
            ",": lambda: self.step(-1),
            "a": lambda: self.decide("approve"),
            "x": lambda: self.decide("reject"),
            "Control-z": self.undo,
            "Control-Shift-z": self.redo,
        }
        for i in range(1, 10):
            bindings[str(i)] = lambda i=i: self.decide("class", i - 1)
        for key, action in bindings.items():
            (layer or self.viewer).bind_key(key, lambda _target, action=action: action(), overwrite=True)

    def current_cell(self) -> int | None:
        return int(self.queue[self.position]) if 0 <= self.position < len(self.queue) else None

    def _ready_for_keys(self) -> bool:
        """Whether a review key can act now; if not, the status line says why."""
        why = (
            f"wait: {self.busy}"
            if self.busy
            else "open a review first (Open / start review)"
            if self.session is None
            else "the queue is empty: Build queue"
            if not len(self.queue)
            else ""
        )
        if why:
            self._say_for_key(f"Review keys: {why}.")
        return not why

    def _say_for_key(self, message: str) -> None:
        """Why a key did not act; cleared by the next key that does, so it never stays stale."""
        self.status.value = self._key_said = message

    def _key_acted(self) -> None:
        if self.status.value == getattr(self, "_key_said", None):
            self.status.value = ""

    def _on_active_layer(self, event=None) -> None:
        """Another layer's own keys (a labels layer's tools) win over the review's: say so."""
        layer = self.viewer.layers.selection.active
        if self.session is None or self.layers is None or layer is None or layer is self.layers.cells:
            return
        if layer.name == "cell edit":
            self.status.value = "Painting in 'cell edit': Apply or Discard the mask edit to get the review keys back."
        elif layer.__class__.__name__ in ("Labels", "Shapes", "Points"):
            self.status.value = (
                f"Review keys now go to '{layer.name}' (its own tools): select 'reviewed cells' to review again."
            )

    def step(self, delta: int) -> None:
        if not self._ready_for_keys():
            return
        self.position = int(np.clip(self.position + delta, 0, len(self.queue) - 1))
        self._key_acted()
        self._show_current()

    def decide(self, action: str, class_index: int | None = None) -> None:
        """One key: record the decision (durable on return), then move to the next cell."""
        if not self._ready_for_keys() or (cell := self.current_cell()) is None:
            return
        state = self.session.state
        if action == "approve" and state.label[state.positions([cell])[0]] < 0:
            keys = ", ".join(f"{i + 1} {name}" for i, name in enumerate(state.classes))
            self._say_for_key(f"Cell {cell} has no automatic class to approve: give it one ({keys}).")
            return
        try:
            if action == "approve":
                self.session.approve(cell)
            elif action == "reject":
                self.session.reject(cell)
            elif class_index is not None and class_index < len(self.session.state.classes):
                self.session.set_class(cell, self.session.state.classes[class_index])
            else:
                return
        except Exception as exc:  # noqa: BLE001
            return self._error(exc)
        self._recolour([cell])
        self.step(+1)

    def undo(self) -> None:
        self._undo_redo(undoing=True)

    def redo(self) -> None:
        self._undo_redo(undoing=False)

    def _undo_redo(self, *, undoing: bool) -> None:
        """Undo or redo the latest decision or mask edit, and redraw what it changed."""
        if not self._ready_for_keys():
            return
        state = self.session.state
        if not (state.undo_stack if undoing else state.redo_stack):
            self._say_for_key("Nothing to undo." if undoing else "Nothing to redo.")
            return
        (self.session.undo if undoing else self.session.redo)()
        record = state.redo_stack[-1] if undoing else state.undo_stack[-1]
        event = record.get("event")
        if event is not None:  # a mask edit: pixels and cells changed back (or again)
            self._after_mask_edit(record)
        else:
            self._recolour(record["pos_ids"])
        what = event.get("kind", "mask edit") if event is not None else "decision"
        self.status.value = f"{'Undone' if undoing else 'Redone'}: {what} ({len(record['pos_ids'])} cells)."
        self._show_current()
