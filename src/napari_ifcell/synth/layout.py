"""Tissue layout of the synthetic slide: background, stroma, tumour nests, lymphoid aggregates.

The layout is two smooth random fields on a coarse grid (tissue and tumour) plus discs for
lymphoid aggregates. Thresholds are quantiles, so every slide, small or large, has the
same mix of regions; fields are interpolated, so region borders are smooth at any scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

REGION_CODES = {"background": 0, "stroma": 1, "tumour": 2, "lymphoid aggregate": 3}

TISSUE_FRACTION = 0.75  # of the slide
TUMOUR_FRACTION = 0.4  # of the tissue
FEATURE_SIZE_UM = 120.0  # correlation length of tissue and tumour fields
AGGREGATES_PER_MM2 = 1.5
AGGREGATE_RADIUS_UM = (60.0, 130.0)


@dataclass
class TissueLayout:
    """Region fields on a coarse grid of ``step`` level-0 pixels.

    ``tissue`` and ``tumour`` are positive inside tissue / tumour; ``aggregates`` holds one
    ``(y, x, radius)`` row in level-0 pixels per lymphoid aggregate.
    """

    shape: tuple[int, int]
    step: int
    tissue: np.ndarray
    tumour: np.ndarray
    aggregates: np.ndarray

    def _sample(self, field: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        coords = np.stack([np.ravel(y) / self.step - 0.5, np.ravel(x) / self.step - 0.5])
        return ndi.map_coordinates(field, coords, order=1, mode="nearest").reshape(np.shape(y))

    def region_at(self, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Region code (see ``REGION_CODES``) at level-0 pixel positions."""
        y, x = np.asarray(y, dtype=np.float64), np.asarray(x, dtype=np.float64)
        tissue = self._sample(self.tissue, y, x) > 0
        codes = np.where(tissue, REGION_CODES["stroma"], REGION_CODES["background"])
        codes = np.where(tissue & (self._sample(self.tumour, y, x) > 0), REGION_CODES["tumour"], codes)
        for ay, ax, r in self.aggregates:
            inside = tissue & ((y - ay) ** 2 + (x - ax) ** 2 <= r * r)
            codes = np.where(inside, REGION_CODES["lymphoid aggregate"], codes)
        return codes.astype(np.uint8)

    def tissue_density(self, y0: float, x0: float, h: int, w: int) -> np.ndarray:
        """Soft tissue mask (0..1) of a level-0 window, for rendering stroma and background."""
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
        yy += y0
        xx += x0
        return np.clip(self._sample(self.tissue, yy, xx) * 4.0 + 0.5, 0.0, 1.0).astype(np.float32)


def make_layout(shape: tuple[int, int], rng: np.random.Generator, *, pixel_size_um: float) -> TissueLayout:
    """A seeded random layout for a slide of ``shape`` (height, width) level-0 pixels."""
    step = max(8, int(round(20.0 / pixel_size_um)))  # ~20 µm coarse pixels
    coarse = (shape[0] // step + 2, shape[1] // step + 2)
    sigma = FEATURE_SIZE_UM / (step * pixel_size_um)
    tissue = _smooth_field(coarse, sigma, rng)
    tissue -= np.quantile(tissue, 1 - TISSUE_FRACTION)
    tumour = _smooth_field(coarse, sigma * 0.7, rng)
    tumour -= np.quantile(tumour[tissue > 0], 1 - TUMOUR_FRACTION)
    layout = TissueLayout(tuple(shape), step, tissue, tumour, np.zeros((0, 3)))
    layout.aggregates = _place_aggregates(layout, rng, pixel_size_um)
    return layout


def _smooth_field(shape, sigma, rng) -> np.ndarray:
    field = ndi.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma, mode="wrap")
    return (field - field.mean()) / (field.std() + 1e-12)


def _place_aggregates(layout: TissueLayout, rng, pixel_size_um) -> np.ndarray:
    h, w = layout.shape
    area_mm2 = h * w * (pixel_size_um * 1e-3) ** 2
    n = max(1, int(round(area_mm2 * AGGREGATES_PER_MM2)))
    # candidate centres: stroma points of a coarse grid
    ys, xs = np.mgrid[0 : h : layout.step, 0 : w : layout.step]
    ys, xs = ys.ravel() + layout.step / 2, xs.ravel() + layout.step / 2
    codes = layout.region_at(ys, xs)
    candidates = np.flatnonzero(codes == REGION_CODES["stroma"])
    if candidates.size == 0:
        candidates = np.arange(ys.size)
    picked = rng.choice(candidates, size=min(n, candidates.size), replace=False)
    radii = rng.uniform(*AGGREGATE_RADIUS_UM, size=picked.size) / pixel_size_um
    radii = np.minimum(radii, 0.3 * min(h, w))
    return np.column_stack([ys[picked], xs[picked], radii])
