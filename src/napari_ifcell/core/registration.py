"""Residual translation between the H&E and IF images of one section.

Orion's H&E is registered to the IF well but not pixel-perfectly. The nuclear stains of
both images, Hoechst in IF and hematoxylin in H&E, show the same nuclei, so phase
correlation of the two finds the remaining shift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ShiftEstimate:
    """Where content of the reference image appears in the moving image.

    ``shift_px = (dy, dx)``: a feature at (y, x) in the reference is at
    (y + dy, x + dx) in the moving image. ``correlation`` is the Pearson correlation of
    the two images once aligned (near 0: unrelated images, the shift means nothing).
    """

    shift_px: tuple[float, float]
    correlation: float


def hematoxylin_density(rgb: np.ndarray) -> np.ndarray:
    """Hematoxylin optical density of an ``(H, W, 3)`` RGB image (colour deconvolution; pure
    black fill read as glass), as the H&E segmenters read it."""
    from napari_ifcell.core.segment.watershed import stain_signal

    return stain_signal(rgb, "he")


def _standardise(img: np.ndarray) -> np.ndarray:
    img = img.astype(np.float32)
    std = img.std()
    return (img - img.mean()) / (std if std > 0 else 1.0)


def estimate_shift(reference: np.ndarray, moving: np.ndarray, *, upsample: int = 10) -> ShiftEstimate:
    """Sub-pixel translation of ``moving`` relative to ``reference`` (2-D, same shape)."""
    from skimage.registration import phase_cross_correlation

    if reference.shape != moving.shape or reference.ndim != 2:
        raise ValueError(f"need two 2-D images of one shape, got {reference.shape} and {moving.shape}")
    reference, moving = _standardise(reference), _standardise(moving)
    # Plain cross-correlation: phase normalisation gives fine stroma texture, which
    # differs between stains, as much weight as the nuclei both stains share.
    shift, _, _ = phase_cross_correlation(reference, moving, upsample_factor=upsample, normalization=None)
    # skimage returns the shift that moves `moving` onto `reference`: the opposite sign.
    dy, dx = -float(shift[0]), -float(shift[1])
    return ShiftEstimate((dy, dx), _aligned_correlation(reference, moving, round(dy), round(dx)))


def _aligned_correlation(reference, moving, dy: int, dx: int) -> float:
    h, w = reference.shape
    ref = reference[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
    mov = moving[max(0, dy) : h - max(0, -dy), max(0, dx) : w - max(0, -dx)]
    if ref.size < 2 or ref.std() == 0 or mov.std() == 0:
        return 0.0
    return float(np.corrcoef(ref.ravel(), mov.ravel())[0, 1])


def estimate_he_shift(hoechst: np.ndarray, he_rgb: np.ndarray, *, upsample: int = 10) -> ShiftEstimate:
    """Shift of the H&E relative to the IF from a Hoechst tile and the H&E tile of the same place."""
    hoechst = hoechst.astype(np.float32)
    # Over-exposed debris would dominate the correlation: clip the brightest pixels.
    hoechst = np.minimum(hoechst, np.percentile(hoechst, 99.5))
    return estimate_shift(hoechst, hematoxylin_density(he_rgb), upsample=upsample)
