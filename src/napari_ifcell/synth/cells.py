"""The synthetic cell population: positions, types, nuclear shapes and marker expression."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from napari_ifcell.orion import ORION_CHANNELS
from napari_ifcell.synth import markers as mk
from napari_ifcell.synth.difficulty import REALISTIC, Difficulty
from napari_ifcell.synth.layout import REGION_CODES, TissueLayout

N_HARMONICS = 4  # boundary harmonics k = 2..5
DIM_FRACTION = 0.06  # positive cells expressing a marker weakly (the "uncertain" band)
DIM_FACTOR = 0.15
ARTEFACTS_PER_MM2 = 4.0


@dataclass
class CellPopulation:
    """One row per cell; the cell with row ``i`` has label ``i + 1``.

    Positions and sizes are in level-0 pixels; ``level`` is a positive cell's marker
    brightness above background (0 where negative); ``nuclear_stain`` is how strongly a
    nucleus takes up the nuclear stain (Hoechst and hematoxylin), around 1.
    """

    y: np.ndarray
    x: np.ndarray
    type_code: np.ndarray
    region: np.ndarray
    semi_major: np.ndarray
    semi_minor: np.ndarray
    angle: np.ndarray
    harmonic_amp: np.ndarray
    harmonic_phase: np.ndarray
    positive: np.ndarray
    dim: np.ndarray
    level: np.ndarray
    overexposed: np.ndarray
    nuclear_stain: np.ndarray

    def __len__(self) -> int:
        return self.y.size

    @property
    def max_radius(self) -> float:
        if len(self) == 0:
            return 0.0
        return float(np.max(self.semi_major * (1 + self.harmonic_amp.sum(axis=1)))) + 1


@dataclass
class Artefacts:
    """Over-exposed debris: discs that saturate some channels."""

    y: np.ndarray
    x: np.ndarray
    radius: np.ndarray
    channels: np.ndarray  # bool (n, C)


def make_cells(
    layout: TissueLayout, rng: np.random.Generator, *, pixel_size_um: float, difficulty: Difficulty = REALISTIC
) -> CellPopulation:
    y, x, region = _place(layout, rng, pixel_size_um, difficulty.dense_packing)
    n = y.size
    type_code = np.zeros(n, dtype=np.int8)
    for name, mix in mk.REGION_MIX.items():
        rows = np.flatnonzero(region == REGION_CODES[name])
        codes = [mk.CELL_TYPES.index(t) for t in mix]
        type_code[rows] = rng.choice(codes, size=rows.size, p=np.array(list(mix.values())) / sum(mix.values()))
    semi_major, semi_minor, angle, amp, phase = _morphology(type_code, rng, pixel_size_um, difficulty.size_spread)
    y, x, keep = _drop_overlaps(y, x, semi_major * (1 + amp.sum(axis=1)), difficulty.overlap)
    if difficulty.stain_spread or difficulty.dim_fraction:
        stain = rng.lognormal(0.0, difficulty.stain_spread, keep.sum())
        faint = rng.random(keep.sum()) < difficulty.dim_fraction
        stain[faint] = rng.uniform(0.2, 0.5, faint.sum())
    else:  # the easy world: no draw added, so it stays the slide earlier versions drew
        stain = None
    positive, dim, level = _expression(type_code[keep], rng, stain)
    return CellPopulation(
        y,
        x,
        type_code[keep],
        region[keep],
        semi_major[keep],
        semi_minor[keep],
        angle[keep],
        amp[keep],
        phase[keep],
        positive,
        dim,
        level,
        np.zeros(keep.sum(), dtype=bool),
        np.ones(keep.sum()) if stain is None else stain,
    )


def _place(layout, rng, pixel_size_um, dense_packing):
    """Jittered grid per region: dense in aggregates, packed in tumour, sparse in stroma."""
    h, w = layout.shape
    ys, xs, regions = [], [], []
    for name, (spacing_um, occupancy) in mk.REGION_PACKING.items():
        s = spacing_um / pixel_size_um * (1.0 if name == "stroma" else dense_packing)
        gy, gx = np.meshgrid(np.arange(s / 2, h, s), np.arange(s / 2, w, s), indexing="ij")
        gy = gy.ravel() + rng.uniform(-0.3, 0.3, gy.size) * s
        gx = gx.ravel() + rng.uniform(-0.3, 0.3, gx.size) * s
        code = layout.region_at(gy, gx)
        keep = (code == REGION_CODES[name]) & (rng.random(gy.size) < occupancy)
        ys.append(gy[keep])
        xs.append(gx[keep])
        regions.append(code[keep])
    y, x, region = np.concatenate(ys), np.concatenate(xs), np.concatenate(regions)
    inside = (y >= 0) & (y < h) & (x >= 0) & (x < w)
    order = np.lexsort((x[inside], y[inside]))  # ids run row by row
    return y[inside][order], x[inside][order], region[inside][order]


def _morphology(type_code, rng, pixel_size_um, size_spread):
    n = type_code.size
    semi_major, ratio, amp_scale = np.empty(n), np.empty(n), np.empty(n)
    for code, name in enumerate(mk.CELL_TYPES):
        rows = type_code == code
        mean, sd, (lo, hi), irregular = mk.MORPHOLOGY[name]
        smallest, largest = (1 - 0.4 * size_spread) * mean, (1 + 0.5 * size_spread) * mean
        semi_major[rows] = np.clip(rng.normal(mean, sd * size_spread, rows.sum()), smallest, largest)
        ratio[rows] = rng.uniform(lo, hi, rows.sum())
        amp_scale[rows] = irregular
    semi_major /= pixel_size_um
    harmonics = np.arange(2, 2 + N_HARMONICS)
    amp = amp_scale[:, None] * rng.uniform(0.3, 1.0, (n, N_HARMONICS)) / np.sqrt(harmonics - 1)
    phase = rng.uniform(0, 2 * np.pi, (n, N_HARMONICS))
    angle = rng.uniform(0, np.pi, n)
    return semi_major, np.maximum(semi_major * ratio, 1.2), angle, amp, phase


def _drop_overlaps(y, x, radius, overlap):
    """Remove the later of two cells whose centres are closer than ``overlap`` times the sum
    of their radii (0.85: nuclei overlap by a sliver at most; lower: they overlap)."""
    keep = np.ones(y.size, dtype=bool)
    if y.size > 1:
        pairs = cKDTree(np.column_stack([y, x])).query_pairs(2 * radius.max(), output_type="ndarray")
        if pairs.size:
            i, j = pairs[:, 0], pairs[:, 1]
            dist = np.hypot(y[i] - y[j], x[i] - x[j])
            clash = dist < overlap * (radius[i] + radius[j])
            keep[np.maximum(i, j)[clash]] = False
    return y[keep], x[keep], keep


def _expression(type_code, rng, nuclear_stain):
    n, n_ch = type_code.size, len(ORION_CHANNELS)
    positive = np.zeros((n, n_ch), dtype=bool)
    positive[:, ORION_CHANNELS.index("Hoechst")] = True
    for code, name in enumerate(mk.CELL_TYPES):
        rows = np.flatnonzero(type_code == code)
        for marker, p in mk.MARKER_PROFILES[name].items():
            positive[rows, ORION_CHANNELS.index(marker)] = rng.random(rows.size) < p
    # FOXP3 is only ever seen with CD4 in the profiles; no extra rule needed here.
    brightness = np.array([mk.MARKER_BRIGHTNESS[m] for m in ORION_CHANNELS], dtype=np.float32)
    level = positive * brightness * rng.lognormal(0.0, 0.25, (n, n_ch)).astype(np.float32)
    hoechst = ORION_CHANNELS.index("Hoechst")
    factor = np.array([mk.HOECHST_FACTOR.get(t, 1.0) for t in mk.CELL_TYPES], dtype=np.float32)
    if nuclear_stain is None:
        level[:, hoechst] *= factor[type_code]
    else:
        level[:, hoechst] = brightness[hoechst] * factor[type_code] * nuclear_stain
    dim = positive & (rng.random((n, n_ch)) < DIM_FRACTION)
    dim[:, hoechst] = False
    level[dim] *= DIM_FACTOR
    return positive, dim, level


def make_artefacts(
    layout: TissueLayout, cells: CellPopulation, rng: np.random.Generator, *, pixel_size_um: float
) -> Artefacts:
    """Place over-exposed debris in tissue and flag the cells it touches."""
    h, w = layout.shape
    area_mm2 = h * w * (pixel_size_um * 1e-3) ** 2
    n = max(1, int(round(area_mm2 * ARTEFACTS_PER_MM2)))
    y, x = rng.uniform(0, h, 4 * n), rng.uniform(0, w, 4 * n)
    in_tissue = layout.region_at(y, x) > 0
    y, x = y[in_tissue][:n], x[in_tissue][:n]
    radius = rng.uniform(2.0, 5.0, y.size) / pixel_size_um
    channels = np.zeros((y.size, len(ORION_CHANNELS)), dtype=bool)
    markers = [i for i, m in enumerate(ORION_CHANNELS) if m not in ("Hoechst", "AF1", "Argo550")]
    for row in range(y.size):
        channels[row, rng.choice(markers, size=rng.integers(2, 6), replace=False)] = True
    if len(cells) and y.size:
        tree = cKDTree(np.column_stack([cells.y, cells.x]))
        reach = radius + cells.max_radius + 6  # nucleus plus its membrane ring
        for hits in tree.query_ball_point(np.column_stack([y, x]), reach):
            cells.overexposed[hits] = True
    return Artefacts(y, x, radius, channels)
