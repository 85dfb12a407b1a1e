"""What the user is looking at: the visible region of a slide, from the camera."""

from __future__ import annotations

import math

import numpy as np


def camera_of(viewer):
    """The viewer's camera (``viewer.scene.camera`` from napari 0.9 on, ``viewer.camera`` before)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None and hasattr(scene, "camera") else viewer.camera


def visible_region_px(viewer, pixel_size_um: float, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """``(y, x, h, w)`` in level-0 pixels of a slide drawn at ``pixel_size_um`` µm per world unit,
    clipped to the slide's ``shape``. World coordinates are µm (layers are scaled by pixel size).
    """
    camera = camera_of(viewer)
    (ya, yb), (xa, xb) = view_bounds(viewer, camera.center[-2:], camera.zoom)
    y0, x0 = max(0, math.floor(ya / pixel_size_um)), max(0, math.floor(xa / pixel_size_um))
    y1, x1 = min(shape[0], math.ceil(yb / pixel_size_um)), min(shape[1], math.ceil(xb / pixel_size_um))
    return y0, x0, max(0, y1 - y0), max(0, x1 - x0)


def view_bounds(viewer, centre, zoom: float, margin: float = 1.0) -> tuple[tuple[float, float], ...]:
    """``((y0, y1), (x0, x1))`` in world units that the canvas shows with the camera centred on
    ``centre`` at ``zoom`` (screen pixels per world unit), widened ``margin`` times."""
    return tuple((c - margin * n / (2 * zoom), c + margin * n / (2 * zoom)) for c, n in zip(centre, viewer.canvas.size))


def level_for_size(h: int, w: int, downsamples, max_px: int = 1024) -> int:
    """The finest level at which an ``h x w`` level-0 region fits in ``max_px``;
    ``downsamples``: level-0 pixels per pixel of each level (a pyramid's levels may be 2x,
    4x or any factor apart)."""
    level = 0
    while max(h, w) / downsamples[level] > max_px and level < len(downsamples) - 1:
        level += 1
    return level


def read_ahead(viewer, centre: tuple[float, float], zoom: float):
    """A function to run in a thread that reads what the visible slide layers will draw once
    the camera is centred on ``centre`` (world units) at ``zoom``, at the levels they show now.
    The layers read through their slides' chunk caches (``Slide.display_levels``),
    which keep it, so moving the camera there costs no decoding on the GUI thread."""
    from napari_ifcell._napari.layers import PLUGIN_KEY

    world = view_bounds(viewer, centre, zoom, margin=1.25)  # the canvas may still grow a little (a dock laid out)
    windows = []
    for layer in viewer.layers:
        role = layer.metadata.get(PLUGIN_KEY, {}).get("role")
        if role not in ("if", "he") or not layer.visible or not layer.multiscale:  # one level: held whole
            continue
        levels = layer.data
        data = levels[layer.data_level]
        box = []
        for axis in (0, 1):  # world -> level-0 pixels -> this level's pixels
            factor = levels[0].shape[axis] / data.shape[axis]
            ends = [(end - layer.translate[-2 + axis]) / layer.scale[-2 + axis] for end in world[axis]]
            lo, hi = math.floor(ends[0] / factor), math.ceil(ends[1] / factor)
            box.append(slice(max(0, lo), max(0, min(data.shape[axis], hi))))
        windows.append((data, tuple(box)))

    def read() -> None:
        for data, box in windows:
            np.asarray(data[box])

    return read
