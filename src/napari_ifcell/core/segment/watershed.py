"""Nuclei without model weights: Hoechst (IF) or hematoxylin (H&E) + watershed.

The NuCLS bootstrap recipe: stain signal (hematoxylin by colour deconvolution for H&E),
Gaussian smoothing, a threshold, distance-transform peaks as seeds, watershed, and a size
filter. The threshold is best set once per slide (``slide_threshold`` on a thumbnail) so
that tiles of empty glass do not invent nuclei from noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

BACKENDS = ("hoechst", "he")


@dataclass(frozen=True)
class WatershedSettings:
    """Parameters in physical units, so they hold at any pixel size.

    Defaults: Immunocto's area range (42-4320 px at 0.325 µm = 4.4-456 µm²).
    """

    sigma_um: float = 0.33
    min_distance_um: float = 2.0
    min_area_um2: float = 4.4
    max_area_um2: float = 456.0
    threshold: float | None = None  # stain signal units; None: Otsu on the tile

    def problems(self) -> list[str]:
        out = []
        if self.sigma_um < 0:
            out.append(f"sigma_um must be >= 0, got {self.sigma_um}")
        if self.min_distance_um <= 0:
            out.append(f"min_distance_um must be > 0, got {self.min_distance_um}")
        if not 0 <= self.min_area_um2 < self.max_area_um2:
            out.append(f"need 0 <= min_area_um2 < max_area_um2, got {self.min_area_um2}, {self.max_area_um2}")
        return out


def stain_signal(image: np.ndarray, backend: str) -> np.ndarray:
    """Nuclear stain as float: Hoechst ``(Y, X)`` as is, H&E ``(Y, X, 3)`` by deconvolution."""
    if backend == "hoechst":
        return np.asarray(image, dtype=np.float32)
    if backend == "he":
        from skimage.color import rgb2hed

        return rgb2hed(image)[..., 0].astype(np.float32)
    raise ValueError(f"unknown backend {backend!r}; choose from {BACKENDS}")


def slide_threshold(thumbnail_signal: np.ndarray) -> float:
    """Otsu threshold of a whole-slide thumbnail of the stain signal."""
    from skimage.filters import threshold_otsu

    return float(threshold_otsu(thumbnail_signal[np.isfinite(thumbnail_signal)]))


def watershed_nuclei(
    signal: np.ndarray, *, pixel_size_um: float, settings: WatershedSettings = WatershedSettings()
) -> np.ndarray:
    """int32 nuclei labels (1..n) from a nuclear stain signal."""
    from skimage.feature import peak_local_max
    from skimage.filters import threshold_otsu
    from skimage.segmentation import watershed

    problems = settings.problems()
    if problems:
        raise ValueError("invalid watershed settings: " + "; ".join(problems))
    smooth = ndi.gaussian_filter(signal, settings.sigma_um / pixel_size_um) if settings.sigma_um > 0 else signal
    if settings.threshold is None:
        if float(smooth.max()) == float(smooth.min()):
            return np.zeros(signal.shape, np.int32)
        threshold = threshold_otsu(smooth)
    else:
        threshold = settings.threshold
    mask = ndi.binary_fill_holes(smooth > threshold)
    if not mask.any():
        return np.zeros(signal.shape, np.int32)
    distance = ndi.distance_transform_edt(mask)
    min_distance = max(1, int(round(settings.min_distance_um / pixel_size_um)))
    peaks = peak_local_max(distance, min_distance=min_distance, labels=ndi.label(mask)[0], exclude_border=False)
    markers = np.zeros(signal.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    labels = watershed(-distance, markers, mask=mask)
    return filter_by_area(labels, settings.min_area_um2 / pixel_size_um**2, settings.max_area_um2 / pixel_size_um**2)


def filter_by_area(labels: np.ndarray, min_px: float, max_px: float) -> np.ndarray:
    """Drop objects outside the area range and renumber 1..n."""
    from skimage.segmentation import relabel_sequential

    areas = np.bincount(labels.ravel())
    bad = (areas < min_px) | (areas > max_px)
    bad[0] = False
    cleaned = np.where(bad[labels], 0, labels)
    return relabel_sequential(cleaned)[0].astype(np.int32)
