"""Slides opened with File > Open (or dropped on the canvas) join the workflow. napari's reader
returns layers, not a viewer, so it cannot tell the tabs; its layers are marked, and the Loader
takes such slides up when it has none open (otherwise it says they are only shown)."""

from __future__ import annotations

import weakref
from pathlib import Path

from napari_ifcell._napari.layers import PLUGIN_KEY, remove_layers
from napari_ifcell._napari.sources import set_path

FROM_READER = "from_reader"


def mark_as_read(layer_data: tuple) -> tuple:
    """A reader layer (``(data, kwargs, kind)``) marked as opened by File > Open."""
    data, kwargs, kind = layer_data
    metadata = dict(kwargs.get("metadata", {}))
    metadata[PLUGIN_KEY] = {**metadata.get(PLUGIN_KEY, {}), FROM_READER: True}
    return data, {**kwargs, "metadata": metadata}, kind


def layer_path(layer) -> str | None:
    return layer.metadata.get(PLUGIN_KEY, {}).get("path")


def from_reader(layer) -> bool:
    """Whether File > Open drew ``layer`` (a slide's layer the Loader did not open)."""
    return bool(layer.metadata.get(PLUGIN_KEY, {}).get(FROM_READER))


def slides_from_reader(layers) -> dict[str, Path]:
    """The slides File > Open drew among ``layers``, by role (``"if"``, ``"he"``): the first of each."""
    found: dict[str, Path] = {}
    for layer in layers:
        role, path = layer.metadata.get(PLUGIN_KEY, {}).get("role"), layer_path(layer)
        if from_reader(layer) and role in ("if", "he") and path:
            found.setdefault(role, Path(path))
    return found


class ReaderSlides:
    """The Loader's part in it (mixed into ``LoaderWidget``: its viewer, state, fields, status
    and opening methods)."""

    def _take_up_reader_slides_soon(self) -> None:
        """Watch for slides File > Open draws; those drawn before this dock was opened count too.
        The check runs once the layers being added are all in (a slide's channels come one by
        one), from a timer owned by this dock, so a closed dock checks nothing."""
        from qtpy.QtCore import QTimer

        self._opening, self._arrived = False, list(self.viewer.layers)
        self._take_up_timer = QTimer(self.native)
        self._take_up_timer.setSingleShot(True)
        self._take_up_timer.setInterval(0)
        self._take_up_timer.timeout.connect(self.take_up_reader_slides)
        self.viewer.layers.events.inserted.connect(self._on_layer_inserted)
        self._take_up_timer.start()

    def _on_layer_inserted(self, event=None) -> None:
        if event is not None:
            self._arrived.append(event.value)
        try:
            self._take_up_timer.start()
        except RuntimeError:  # this dock was closed: its Qt objects are gone
            self.viewer.layers.events.inserted.disconnect(self._on_layer_inserted)

    def take_up_reader_slides(self) -> None:
        """Slides File > Open drew since the last check are opened here when none are (an H&E
        joins an IF open alone as its pair), so every tab works on them; a slide open here
        already is not drawn twice; others are only shown, and the status says so."""
        if self._opening:  # checked again once this open is done
            return
        arrived, self._arrived = [x for x in self._arrived if x in self.viewer.layers], []
        found = slides_from_reader(arrived) if self._takes_up_reader_slides() else {}
        open_here = {self.state.path_of(role) for role in ("if", "he")} - {None}
        again = {role: path for role, path in found.items() if path in open_here}
        if again:
            copies = [x for x in arrived if from_reader(x) and Path(layer_path(x) or "") in again.values()]
            remove_layers(self.viewer, copies)  # the Loader's own layers of that slide are not marked: they stay
            self.status.value = f"{', '.join(p.name for p in again.values())}: open here already (not drawn twice)."
            found = {role: path for role, path in found.items() if role not in again}
        if not found:
            return
        if self.if_alone is not None and set(found) == {"he"}:
            found["if"] = Path(self.if_alone.path)
        elif self.state.slide is not None:
            self.status.value = (
                f"{', '.join(p.name for p in found.values())} (File > Open) is only displayed; the tabs work on "
                f"{self.state.slide.path.name}. To work on it, press Close slides and open it here."
            )
            return
        set_path(self.if_file, found.get("if"))
        set_path(self.he_file, found.get("he"))
        self._open_clicked()

    def _takes_up_reader_slides(self) -> bool:
        """One Loader per viewer takes slides up (the Workflow dock's and a Loader docked
        beside it would both open them)."""
        taker = self.state.reader_slides_taker
        if taker is None or taker() is None:
            self.state.reader_slides_taker = weakref.ref(self)
            return True
        return taker() is self

    def _opened(self) -> None:
        """An open ended: slides File > Open drew meanwhile are looked at now."""
        self._opening = False
        self._on_layer_inserted()
