"""Nuclei without model weights: Hoechst (IF) or hematoxylin (H&E) + watershed.

Two methods share the settings below. ``adaptive`` (the default, core.segment.adaptive)
subtracts the local background, cuts touching nuclei at their seams, splits clumps by shape and
outlines each nucleus at half its own brightness; its lengths follow a typical nucleus radius.
``classic`` is the NuCLS bootstrap recipe: stain signal, Gaussian smoothing, one threshold
(best set once per slide with ``slide_threshold``, so tiles of empty glass do not invent
nuclei from noise), distance-transform peaks as seeds, watershed: faster, but it merges
touching nuclei and misses dim ones on crowded or unevenly lit tissue.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from napari_ifcell.core.segment.adaptive import ALL_EDGES, Edges, fill_no_data

BACKENDS = ("hoechst", "he")
METHODS = ("classic", "adaptive")
TYPICAL_NUCLEUS_RADIUS_UM = 2.7


@dataclass(frozen=True)
class WatershedSettings:
    """Parameters in physical units, so they hold at any pixel size.

    Defaults: Immunocto's area range (42-4320 px at 0.325 µm = 4.4-456 µm²). ``threshold``:
    for ``classic`` the stain level (None: Otsu on the tile), for ``adaptive`` the height above
    the local background (None: 4 x the background's noise). ``nucleus_radius_um`` (adaptive):
    a typical nucleus radius, 2.7 µm (lymphocytes 3 µm, tumour nuclei larger; the method holds
    from about 2 to 4 µm); None estimates it from the image, which needs a region with many
    nuclei. ``sigma_um`` and ``min_distance_um``: classic only.
    """

    method: str = "adaptive"
    sigma_um: float = 0.33
    min_distance_um: float = 2.0
    min_area_um2: float = 4.4
    max_area_um2: float = 456.0
    threshold: float | None = None
    nucleus_radius_um: float | None = TYPICAL_NUCLEUS_RADIUS_UM

    def problems(self) -> list[str]:
        out = [] if self.method in METHODS else [f"unknown method {self.method!r}; choose from {METHODS}"]
        if self.nucleus_radius_um is not None and self.nucleus_radius_um <= 0:
            out.append(f"nucleus_radius_um must be > 0, got {self.nucleus_radius_um}")
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

        from napari_ifcell.core.segment.adaptive import white_of

        # Pure black is a scanner's or stitcher's fill, not stain: read it as glass. As the
        # densest hematoxylin it raised the background beside it and the nuclei there were lost.
        image = np.asarray(image)
        fill = ~np.any(image, axis=-1, keepdims=True)
        if fill.any():
            image = np.where(fill, np.asarray(white_of(image), image.dtype), image)
        return rgb2hed(image)[..., 0].astype(np.float32)
    raise ValueError(f"unknown backend {backend!r}; choose from {BACKENDS}")


def slide_threshold(thumbnail_signal: np.ndarray) -> float:
    """Otsu threshold of a whole-slide thumbnail of the stain signal."""
    from skimage.filters import threshold_otsu

    return float(threshold_otsu(thumbnail_signal[np.isfinite(thumbnail_signal)]))


def watershed_nuclei(
    signal: np.ndarray,
    *,
    pixel_size_um: float | None,
    settings: WatershedSettings = WatershedSettings(),
    zero_is_no_image: bool = False,
    rgb: np.ndarray | None = None,
    slide_edges: Edges = ALL_EDGES,
) -> np.ndarray:
    """int32 nuclei labels (1..n) from a nuclear stain signal. Without a pixel size (adaptive
    only) the nucleus radius is estimated in pixels and the area limits follow it.
    ``zero_is_no_image``: a fluorescence signal, whose runs of 0 far below its background are
    a stitched slide's fill (see :func:`~napari_ifcell.core.segment.adaptive.no_data`);
    ``rgb``: the H&E ``signal`` was taken from, whose bare glass the adaptive method reads as no
    tissue (see :func:`~napari_ifcell.core.segment.adaptive.glass`); ``slide_edges``: which
    sides (top, bottom, left, right) of ``signal`` are the slide's edges (default: a whole image)."""
    problems = settings.problems()
    if problems:
        raise ValueError("invalid watershed settings: " + "; ".join(problems))
    signal, no_value = fill_no_data(signal)  # pixels without data: no image, no nucleus
    if settings.method == "adaptive":
        return _adaptive(signal, pixel_size_um, settings, zero_is_no_image, rgb, slide_edges, no_value)
    if not pixel_size_um:
        raise ValueError("the classic watershed needs the pixel size")
    labels = _classic(signal, pixel_size_um, settings)
    if no_value is not None:
        labels[no_value] = 0
    return labels


def _adaptive(signal, pixel_size_um, settings, zero_is_no_image, rgb, slide_edges, no_value=None):
    from napari_ifcell.core.segment.adaptive import adaptive_nuclei, estimate_nucleus_radius, glass, no_data

    if settings.nucleus_radius_um and pixel_size_um:
        radius = settings.nucleus_radius_um / pixel_size_um
    else:
        radius = estimate_nucleus_radius([signal], pixel_size_um=pixel_size_um)
    if not pixel_size_um:  # the pixel size the estimated radius implies for a typical nucleus
        pixel_size_um = (settings.nucleus_radius_um or TYPICAL_NUCLEUS_RADIUS_UM) / radius
    # runs of 0 far below a fluorescence background (not hematoxylin's 0: no stain), H&E glass
    found = (no_data(signal, radius) if zero_is_no_image else None, None if rgb is None else glass(rgb, radius))
    masks = [m for m in (*found, no_value) if m is not None]
    return adaptive_nuclei(
        signal,
        radius_px=radius,
        threshold=settings.threshold,
        min_area_px=settings.min_area_um2 / pixel_size_um**2,
        max_area_px=settings.max_area_um2 / pixel_size_um**2,
        no_image=np.logical_or.reduce(masks) if masks else None,
        slide_edges=slide_edges,
        dark_is_glass=rgb is None,
    )


def _classic(signal, pixel_size_um, settings):
    from skimage.feature import peak_local_max
    from skimage.filters import threshold_otsu
    from skimage.segmentation import watershed

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
    from napari_ifcell.core.segment.sizes import filter_by_area

    return filter_by_area(labels, settings.min_area_um2 / pixel_size_um**2, settings.max_area_um2 / pixel_size_um**2)
