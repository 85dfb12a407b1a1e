"""Render one block of the synthetic slide: nuclei labels, 19-channel IF and H&E.

A block is rendered with a halo wide enough for the membrane ring and the optical blur,
then cropped, so blocks rendered independently tile the slide without seams.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from napari_ifcell.orion import NUCLEAR_MARKERS, ORION_CHANNELS
from napari_ifcell.synth import markers as mk
from napari_ifcell.synth.cells import Artefacts, CellPopulation
from napari_ifcell.synth.difficulty import Difficulty
from napari_ifcell.synth.layout import TissueLayout
from napari_ifcell.synth.raster import CellIndex, rasterize_nuclei

RING_PX = 5  # membrane ring, as Orion's 5-px cell compartment
HALO = 24
SHOT_NOISE_GAIN = 2.0
READ_NOISE = 25.0
MEMBRANE_OVER_NUCLEUS = 0.15  # membrane stain seen over the nucleus in a thin section
# Stain concentrations in skimage's hed2rgb units per unit of density.
H_SCALE, E_SCALE = 0.085, 0.045


@dataclass
class Scene:
    """Everything needed to render any block of the slide pair."""

    layout: TissueLayout
    cells: CellPopulation
    artefacts: Artefacts
    index: CellIndex
    he_shift_px: tuple[float, float]
    seed: int
    fibres: np.ndarray  # (k, 4): wave vector y, x, phase, weight of the stroma texture
    difficulty: Difficulty
    focus: np.ndarray  # waves of the out-of-focus field (0 sharp .. 1 most blurred)
    haze: np.ndarray  # waves of the uneven background
    he_stain: tuple[float, float]  # this slide's hematoxylin and eosin strength

    @property
    def shape(self) -> tuple[int, int]:
        return self.layout.shape


def make_fibres(rng: np.random.Generator, n: int = 8) -> np.ndarray:
    return make_waves(rng, n, (0.05, 0.2))  # cycles per px: fibres a few µm apart


def make_waves(rng: np.random.Generator, n: int, cycles_per_px: tuple[float, float]) -> np.ndarray:
    """``n`` plane waves (wave vector y, x, phase, weight) of random direction and frequency."""
    angle = rng.uniform(0, np.pi, n)
    freq = rng.uniform(*cycles_per_px, n)
    return np.column_stack(
        [freq * np.sin(angle), freq * np.cos(angle), rng.uniform(0, 2 * np.pi, n), rng.uniform(0.5, 1, n)]
    )


def wave_field(waves: np.ndarray, y0: float, x0: float, h: int, w: int, *, gain: float = 2.5) -> np.ndarray:
    """A texture in 0..1 summed from ``waves``, a function of global position so blocks join
    seamlessly; ``gain`` > 1 saturates it into patches."""
    yy = (np.arange(h, dtype=np.float64)[:, None] + y0).astype(np.float32)
    xx = (np.arange(w, dtype=np.float64)[None, :] + x0).astype(np.float32)
    total = np.zeros((h, w), dtype=np.float32)
    for ky, kx, phase, weight in waves:
        total += np.float32(weight) * np.sin(
            np.float32(2 * np.pi) * (np.float32(ky) * yy + np.float32(kx) * xx) + np.float32(phase)
        )
    return np.clip(0.5 + total / (2 * waves[:, 3].sum()) * gain, 0, 1)


def _blur(scene: Scene, image: np.ndarray, sigmas: tuple[float, float], origin) -> np.ndarray:
    """Optical blur (over y and x; a last axis of stains is kept apart) of a window at
    ``origin``: ``sigmas[0]`` where the slide is in focus, ``sigmas[1]`` where it is most out
    of focus, blended by the slide's focus field."""

    def blurred(sigma: float) -> np.ndarray:
        return ndi.gaussian_filter(image, (sigma, sigma) + (0,) * (image.ndim - 2))

    sharp = blurred(sigmas[0])
    if sigmas[1] == sigmas[0]:
        return sharp
    weight = wave_field(scene.focus, *origin, *image.shape[:2], gain=1.5)
    return sharp + (blurred(sigmas[1]) - sharp) * weight.reshape(weight.shape + (1,) * (image.ndim - 2))


def _lut(values: np.ndarray) -> np.ndarray:
    """Per-label lookup with label 0 (background) mapping to 0."""
    return np.concatenate([np.zeros((1,) + values.shape[1:], values.dtype), values])


def render_block(scene: Scene, y0: int, x0: int, h: int, w: int):
    """Labels ``(h, w)`` uint32, IF ``(19, h, w)`` uint16 and H&E ``(h, w, 3)`` uint8."""
    from skimage.segmentation import expand_labels

    Y0, X0, H, W = y0 - HALO, x0 - HALO, h + 2 * HALO, w + 2 * HALO
    rng = np.random.default_rng([scene.seed, y0, x0])
    inner = (slice(HALO, HALO + h), slice(HALO, HALO + w))
    tissue = scene.layout.tissue_density(Y0, X0, H, W)
    fibres = wave_field(scene.fibres, Y0, X0, H, W)

    nuclei = rasterize_nuclei(scene.index, Y0, X0, H, W)
    cells_img = expand_labels(nuclei, RING_PX)
    if_img = _render_if(scene, nuclei, cells_img, tissue, fibres, rng, (Y0, X0))

    # The H&E shows the whole scene moved by the registration error, stroma included.
    dy, dx = scene.he_shift_px
    he_tissue = scene.layout.tissue_density(Y0 - dy, X0 - dx, H, W)
    he_fibres = wave_field(scene.fibres, Y0 - dy, X0 - dx, H, W)
    he_nuclei = rasterize_nuclei(scene.index, Y0, X0, H, W, shift=scene.he_shift_px)
    he = _render_he(scene, he_nuclei, expand_labels(he_nuclei, RING_PX), he_tissue, he_fibres, rng, (Y0 - dy, X0 - dx))
    return nuclei[inner], if_img[(slice(None), *inner)], he[inner]


def _render_if(scene, nuclei, cells_img, tissue, fibres, rng, origin) -> np.ndarray:
    cells = scene.cells
    ring = (cells_img > 0) & (nuclei == 0)
    in_nucleus = nuclei > 0
    membrane_weight = np.where(ring, 1.0, np.where(in_nucleus, MEMBRANE_OVER_NUCLEUS, 0.0)).astype(np.float32)
    chromatin = _chromatin(rng, nuclei.shape, 1.5, scene.difficulty.chromatin, scene.difficulty.chromocentres)
    autofluor = tissue * (250 + 1200 * fibres) + 150 * (cells_img > 0)
    level = _lut(cells.level)
    out = np.empty((len(ORION_CHANNELS), *nuclei.shape), dtype=np.uint16)
    saturated = _artefact_masks(scene.artefacts, origin, nuclei.shape)
    for c, name in enumerate(ORION_CHANNELS):
        if name == "AF1":
            signal = autofluor
        elif name in NUCLEAR_MARKERS:
            signal = level[nuclei, c] * (chromatin if name == "Hoechst" else 1.0)
        else:
            signal = level[cells_img, c] * membrane_weight
        img = _blur(scene, signal.astype(np.float32), scene.difficulty.if_blur_px, origin)
        if name == "Hoechst" and scene.difficulty.haze:
            img += scene.difficulty.haze * wave_field(scene.haze, *origin, *nuclei.shape) * (0.3 + 0.7 * tissue)
        img += mk.BACKGROUND[name] + mk.AF_BLEED[name] * autofluor * (name != "AF1")
        img += rng.standard_normal(img.shape, dtype=np.float32) * np.sqrt(img * SHOT_NOISE_GAIN + READ_NOISE**2)
        for mask, channels in saturated:
            if channels[c]:
                img[mask] = 65535
        out[c] = np.clip(img, 0, 65535)
    return out


def _artefact_masks(artefacts: Artefacts, origin, shape):
    """(mask, channels) for each artefact touching the window."""
    y0, x0 = origin
    found = []
    for y, x, r, channels in zip(artefacts.y, artefacts.x, artefacts.radius, artefacts.channels):
        cy, cx = y - y0, x - x0
        if -r <= cy < shape[0] + r and -r <= cx < shape[1] + r:
            yy, xx = np.ogrid[: shape[0], : shape[1]]
            found.append((((yy + 0.5 - cy) ** 2 + (xx + 0.5 - cx) ** 2) <= r * r, channels))
    return found


def _chromatin(rng, shape, grain_px: float, amplitude: float, chromocentres: float) -> np.ndarray:
    """Multiplicative chromatin texture around 1: fine grain plus sparse bright clumps."""
    grain = ndi.gaussian_filter(rng.standard_normal(shape).astype(np.float32), grain_px)
    texture = 1 + amplitude * grain
    if chromocentres:
        clumps = ndi.gaussian_filter(rng.standard_normal(shape).astype(np.float32), 1.2)
        texture += chromocentres * np.maximum(clumps / clumps.std() - 1.5, 0)
        texture = np.maximum(texture, 0.05)
    return texture


def _render_he(scene, nuclei, cells_img, tissue, fibres, rng, origin) -> np.ndarray:
    from skimage.color import hed2rgb

    lymph = set(mk.LYMPHOCYTE_TYPES)
    h_by_type = np.array(
        [mk.LYMPHOCYTE_HEMATOXYLIN if t in lymph else mk.HEMATOXYLIN[t] for t in mk.CELL_TYPES], dtype=np.float32
    )
    e_by_type = np.array(
        [mk.EOSIN_CYTOPLASM.get(t, mk.DEFAULT_EOSIN_CYTOPLASM) for t in mk.CELL_TYPES], dtype=np.float32
    )
    codes = scene.cells.type_code
    ring = (cells_img > 0) & (nuclei == 0)
    chromatin = _chromatin(rng, nuclei.shape, 1.0, scene.difficulty.he_chromatin, scene.difficulty.chromocentres)
    uptake = h_by_type[codes] * np.sqrt(scene.cells.nuclear_stain).astype(np.float32)
    hema = _lut(uptake)[nuclei] * chromatin + 0.05 * tissue
    if scene.difficulty.he_haze:
        hema += scene.difficulty.he_haze * wave_field(scene.haze, *origin, *nuclei.shape) * tissue
    eosin = tissue * (0.25 + 0.45 * fibres) * (cells_img == 0)
    eosin += _lut(e_by_type[codes])[cells_img] * ring + 0.15 * (nuclei > 0)
    h_scale, e_scale = H_SCALE * scene.he_stain[0], E_SCALE * scene.he_stain[1]
    stains = np.stack([hema * h_scale, eosin * e_scale, np.zeros_like(hema)], axis=-1)
    stains = _blur(scene, stains, scene.difficulty.he_blur_px, origin)
    rgb = hed2rgb(stains) * 255 * 0.97  # slide glass is not perfectly white
    rgb += rng.normal(0, 2.0, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8)
