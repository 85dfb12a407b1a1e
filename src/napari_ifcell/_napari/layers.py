"""Slides as napari layer data: multiscale, lazy, in µm world coordinates."""

from __future__ import annotations

import contextlib

import numpy as np

from napari_ifcell.core.display import contrast_limits
from napari_ifcell.io.errors import SlideError
from napari_ifcell.io.slide import Slide
from napari_ifcell.orion import ORION_PIXEL_SIZE_UM

# Thumbnail size used to estimate contrast: the first level no larger than this.
THUMBNAIL_MAX_PX = 2048
# napari reads a single-level image whole: larger pyramid-less slides are refused (16,384² px)
MAX_SINGLE_LEVEL_PX = 2**28
DEFAULT_VISIBLE = ("Hoechst", "Pan-CK", "CD3e", "CD20")
ORION_COLORMAPS = {
    "Hoechst": "blue",
    "AF1": "gray",
    "CD31": "I Bordeaux",
    "CD45": "magenta",
    "CD68": "I Orange",
    "Argo550": "gray",
    "CD4": "cyan",
    "FOXP3": "I Purple",
    "CD8a": "yellow",
    "CD45RO": "bop purple",
    "CD20": "yellow",
    "PD-L1": "bop orange",
    "CD3e": "magenta",
    "CD163": "I Orange",
    "E-cadherin": "I Forest",
    "PD-1": "bop blue",
    "Ki67": "red",
    "Pan-CK": "green",
    "SMA": "red",
}
CYCLE = ("green", "magenta", "cyan", "yellow", "red", "blue")
PLUGIN_KEY = "napari_ifcell"


def _pyramid(slide: Slide, levels: list) -> tuple:
    """(data, multiscale) for napari, which mis-reads a one-level list as 1-D data.

    napari draws a single-level image by reading all of it: a large slide without
    lower-resolution levels is refused with the command that writes them."""
    if len(levels) > 1:
        return levels, True
    h, w = slide.shape
    if h * w > MAX_SINGLE_LEVEL_PX:
        size_gb = h * w * slide.n_channels * slide.dtype.itemsize / 1e9
        raise SlideError(
            slide.path,
            f"a {h} x {w} px slide without lower-resolution levels cannot be shown: napari would read all "
            f"{size_gb:.1f} GB of it to draw it. Write a pyramid first: "
            f"napari-ifcell pyramid {slide.path} {slide.path.parent / 'pyramid.ome.tif'}",
        )
    return levels[0], False


def thumbnail_for_contrast(slide: Slide) -> np.ndarray:
    """``(C, Y, X)`` pixels to set contrast from: the first level no larger than
    THUMBNAIL_MAX_PX, or a grid of windows across a larger one (bounded memory)."""
    level = thumbnail_level(slide)
    h, w = slide.level_shapes[level]
    if max(h, w) <= THUMBNAIL_MAX_PX:
        return slide.read_region(0, 0, h, w, level=level)
    side, n = 256, THUMBNAIL_MAX_PX // 256  # n x n windows of side x side px
    ys = np.linspace(0, max(h - side, 0), n).astype(int)
    xs = np.linspace(0, max(w - side, 0), n).astype(int)
    rows = [np.concatenate([slide.read_region(y, x, side, side, level=level) for x in xs], axis=2) for y in ys]
    return np.concatenate(rows, axis=1)


def thumbnail_level(slide: Slide) -> int:
    for level, (h, w) in enumerate(slide.level_shapes):
        if max(h, w) <= THUMBNAIL_MAX_PX:
            return level
    return len(slide.levels) - 1


# what the viewer says of a pixel size taken from an OME-Zarr scale without a unit
UNITLESS_SCALE = "the file's scale, which has no unit, read as µm"


def world_scale(slide) -> tuple[float, float]:
    """µm per level-0 pixel of a slide (or anything with ``pixel_size_um``); where unknown, the
    unitless scale its file gives, else Orion's."""
    ps = slide.pixel_size_um or getattr(slide, "pixel_size_hint_um", None) or ORION_PIXEL_SIZE_UM
    return (ps, ps)


def if_layer_data(slide: Slide, *, visible: tuple[str, ...] = DEFAULT_VISIBLE) -> tuple:
    """One LayerDataTuple that napari splits into one additive image layer per channel."""
    limits = contrast_limits(thumbnail_for_contrast(slide))
    from napari_ifcell.io.channels import panel_channels

    names = list(slide.channel_names)
    data, multiscale = _pyramid(slide, slide.display_levels())
    visible_here = set(panel_channels(visible, names))  # DAPI for Hoechst, CD3 for CD3e...
    shown = [n in visible_here for n in names]
    if not any(shown):
        shown[0] = True
    colours = {}  # Orion's colour of each marker, under this panel's name for it
    for orion_name, colour in ORION_COLORMAPS.items():
        for name in panel_channels([orion_name], names):
            colours.setdefault(name, colour)
    kwargs = {
        "channel_axis": 0,
        "name": names,
        "colormap": [colours.get(n, CYCLE[i % len(CYCLE)]) for i, n in enumerate(names)],
        "contrast_limits": limits,
        "visible": shown,
        "blending": "additive",
        "multiscale": multiscale,
        "scale": world_scale(slide),
        "units": ("µm", "µm"),
        "metadata": {PLUGIN_KEY: {"path": str(slide.path), "role": "if"}},
    }
    return (data, kwargs, "image")


def he_layer_data(slide: Slide, *, scale=None, translate=(0.0, 0.0)) -> tuple:
    data, multiscale = _pyramid(slide, slide.display_levels())
    kwargs = {
        "name": f"H&E {slide.path.name}",
        "rgb": True,
        "multiscale": multiscale,
        "scale": scale or world_scale(slide),
        "translate": translate,
        "units": ("µm", "µm"),
        "metadata": {PLUGIN_KEY: {"path": str(slide.path), "role": "he"}},
    }
    if slide.dtype.kind == "u" and slide.dtype != np.uint8:  # 16-bit RGB: its full range is white
        kwargs["contrast_limits"] = (0, int(np.iinfo(slide.dtype).max))
    return (data, kwargs, "image")


def labels_layer_data(slide: Slide, *, name: str, visible: bool = False) -> tuple:
    data, multiscale = _pyramid(slide, [d[0] for d in slide.dask_levels()])
    kwargs = {
        "name": name,
        "multiscale": multiscale,
        "scale": world_scale(slide),
        "units": ("µm", "µm"),
        "visible": visible,
        "metadata": {PLUGIN_KEY: {"path": str(slide.path), "role": "labels"}},
    }
    return (data, kwargs, "labels")


def slide_layer_data(slide: Slide) -> list[tuple]:
    """Layers for any slide: H&E as one RGB layer, fluorescence as one layer per channel."""
    return [he_layer_data(slide)] if slide.is_rgb else [if_layer_data(slide)]


def set_overlay_mode(if_layers, over_he: bool) -> None:
    """Draw IF channels over the H&E (transparent where dark) or additively on black.

    Additive blending over a bright H&E washes out to white; over the H&E each channel
    instead uses its colour with opacity rising with intensity.
    """
    from napari.utils.colormaps import Colormap, ensure_colormap

    for layer in if_layers:
        ours = dict(layer.metadata.get(PLUGIN_KEY, {}))  # napari shares one dict among channels
        base = ours.setdefault("base_colormap", layer.colormap.name)
        layer.metadata = {**layer.metadata, PLUGIN_KEY: ours}
        if over_he:
            rgb = ensure_colormap(base).map(np.array([1.0]))[0, :3]
            alpha = np.linspace(0, 1, 32) ** 0.7
            colors = np.column_stack([np.tile(rgb, (32, 1)), alpha])
            layer.colormap = Colormap(colors, name=f"{base} over H&E")
            # no depth test, or the first channel drawn hides the others
            layer.blending = "translucent_no_depth"
        else:
            layer.colormap = base
            layer.blending = "additive"


def remove_layers(viewer, layers) -> None:
    """Remove ``layers`` (layers or names; absent ones skipped) in one batch: napari runs a full
    garbage collection for every layer removed outside a batch (0.3 s or more each), so
    replacing a slide's 20 layers one by one took seconds."""
    batch = getattr(viewer.layers, "batched_update", None)  # older napari: one by one
    with batch() if batch is not None else contextlib.nullcontext():
        for layer in list(layers):
            if layer in viewer.layers:
                viewer.layers.remove(layer)


def redraw_lookup(layer) -> None:
    """Redraw a labels layer drawn through a lookup table changed in place (``LookupView``).
    napari keeps a pyramid's coarsest level (its whole-slide view and thumbnail) across
    ``refresh()``: after a change made zoomed in, zooming out showed the old colours (or
    none, after a prediction), so that kept level is dropped first."""
    if layer.multiscale:
        reset = getattr(layer, "_reset_thumbnail_level_data", None)  # napari 0.9
        if reset is None:
            layer.data = layer.data  # what the private call does, and more
            return
        reset()
    layer.refresh()
