"""Slides opened with File > Open (or dropped on the canvas) join the workflow. napari's reader
returns layers, not a viewer, so it cannot tell the tabs; its layers are marked, and the Loader
takes such slides up when it has none open (otherwise it says they are only shown)."""

from __future__ import annotations

from pathlib import Path

from napari_ifcell._napari.layers import PLUGIN_KEY

FROM_READER = "from_reader"


def mark_as_read(layer_data: tuple) -> tuple:
    """A reader layer (``(data, kwargs, kind)``) marked as opened by File > Open."""
    data, kwargs, kind = layer_data
    metadata = dict(kwargs.get("metadata", {}))
    metadata[PLUGIN_KEY] = {**metadata.get(PLUGIN_KEY, {}), FROM_READER: True}
    return data, {**kwargs, "metadata": metadata}, kind


def slides_from_reader(viewer) -> dict[str, Path]:
    """The slides File > Open drew, by role (``"if"``, ``"he"``): the first of each."""
    found: dict[str, Path] = {}
    for layer in viewer.layers:
        ours = layer.metadata.get(PLUGIN_KEY, {})
        if ours.get(FROM_READER) and ours.get("role") in ("if", "he") and ours.get("path"):
            found.setdefault(ours["role"], Path(ours["path"]))
    return found
