"""The slides a widget should work on: the ones the Loader put on screen, or files."""

from __future__ import annotations

from pathlib import Path

from napari_ifcell._napari.layers import PLUGIN_KEY


def layer_with_role(viewer, role: str):
    for layer in viewer.layers:
        if layer.metadata.get(PLUGIN_KEY, {}).get("role") == role:
            return layer
    return None


def slide_layer(viewer):
    """The layer of the slide cells are placed on: the IF, or an H&E opened alone."""
    return layer_with_role(viewer, "if") or layer_with_role(viewer, "he")


def given_path(field) -> Path | None:
    """A file field's path, or None when left empty (magicgui reads an empty field as ".")."""
    return None if str(field.value) in ("", ".") else Path(field.value)


def he_offset_um(viewer) -> tuple[float, float]:
    """The Loader's H&E registration offset (H&E = IF + offset, µm): the H&E layer's
    translate, reversed; zero without an H&E layer."""
    layer = layer_with_role(viewer, "he")
    return (-float(layer.translate[-2]), -float(layer.translate[-1])) if layer is not None else (0.0, 0.0)


def _pixel_size_on_screen(layer) -> float:
    """µm per level-0 pixel as the layer is shown: the Loader's pixel size, overrides included."""
    return float(layer.scale[-1])


def open_sources(viewer, if_path: str = "", he_path: str = "", *, need_he: bool = False):
    """(slide, SlidePair or None). Empty paths fall back to the layers on screen, and then
    the pixel sizes and the H&E offset are the Loader's (the layers' scale and translate).
    With an H&E on screen and no IF, the slide is that H&E alone (an RGB slide, no pair): it
    satisfies ``need_he``, as every step runs on it."""
    from napari_ifcell.io import open_pair, open_slide

    if_path, he_path, offset = str(if_path or ""), str(he_path or ""), (0.0, 0.0)
    if_ps = he_ps = None
    if if_path in ("", "."):
        layer = slide_layer(viewer)
        if layer is not None and layer_with_role(viewer, "if") is None and he_path in ("", "."):  # an H&E alone
            return open_slide(layer.metadata[PLUGIN_KEY]["path"], pixel_size_um=_pixel_size_on_screen(layer)), None
        if layer is None:
            raise ValueError("open a slide (Loader: an IF slide, an H&E, or both) or choose the slide file")
        if_path, if_ps = layer.metadata[PLUGIN_KEY]["path"], _pixel_size_on_screen(layer)
    if he_path in ("", "."):
        layer = layer_with_role(viewer, "he")
        if layer is not None:
            he_path, he_ps = layer.metadata[PLUGIN_KEY]["path"], _pixel_size_on_screen(layer)
            offset = he_offset_um(viewer)
    if he_path in ("", "."):
        if need_he:
            raise ValueError("open the H&E with the IF slide (Loader) or choose the H&E file")
        return open_slide(if_path, pixel_size_um=if_ps), None
    pair = open_pair(if_path, he_path, offset_um=offset, if_pixel_size_um=if_ps, he_pixel_size_um=he_ps)
    return pair.if_slide, pair
