"""Small crops of one cell for review: the H&E and the IF channels that decide its class,
each with the nucleus outline drawn in."""

from __future__ import annotations

import numpy as np

# the channels a reviewer checks for each class (Immunocto: "the relevant IF channels")
CLASS_CHANNELS = {
    "CD4 T": ("CD3e", "CD4"),
    "CD8 T": ("CD3e", "CD8a"),
    "B cell": ("CD20",),
    "macrophage": ("CD68", "CD163"),
    "other": ("CD45", "Pan-CK"),
}
OUTLINE = (255, 255, 0)


def channels_for(cell_class: str | None) -> tuple[str, ...]:
    default = ("CD45",)
    return ("Hoechst", *(CLASS_CHANNELS.get(cell_class, default) if cell_class is not None else default))


def grey_to_rgb(values: np.ndarray, limits: tuple[float, float]) -> np.ndarray:
    lo, hi = limits
    scaled = np.clip((values.astype(np.float32) - lo) / max(hi - lo, 1e-6), 0, 1)
    return np.repeat((scaled * 255).astype(np.uint8)[..., None], 3, axis=2)


def outlined(rgb: np.ndarray, mask: np.ndarray, colour=OUTLINE) -> np.ndarray:
    """``rgb`` with the boundary of ``mask`` painted in ``colour``."""
    from skimage.segmentation import find_boundaries

    out = rgb.copy()
    out[find_boundaries(mask, mode="inner")] = colour
    return out


def cell_crops(
    cell_id: int,
    centre: tuple[float, float],
    *,
    labels,
    if_read,
    he_read=None,
    channels=(),
    limits=None,
    size: int = 64,
) -> list[tuple[str, np.ndarray]]:
    """``[(title, (size, size, 3) uint8)]``: H&E (if ``he_read``) then each IF channel.

    ``labels(y, x, h, w)``, ``if_read(y, x, h, w, channels) -> (C, h, w)`` and
    ``he_read(y, x, h, w) -> (h, w, 3)`` read level-0 windows; ``limits``: per channel
    display range (default the crop's 1-99.8 percentiles).
    """
    y = int(round(centre[0])) - size // 2
    x = int(round(centre[1])) - size // 2
    mask = labels(y, x, size, size) == cell_id
    crops = []
    if he_read is not None:
        crops.append(("H&E", outlined(np.asarray(he_read(y, x, size, size), np.uint8), mask)))
    if channels:
        stack = if_read(y, x, size, size, list(channels))
        for name, plane in zip(channels, stack):
            lim = (limits or {}).get(name) or tuple(np.percentile(plane, (1, 99.8)))
            crops.append((name, outlined(grey_to_rgb(plane, lim), mask)))
    return crops
