"""How hard the synthetic slide is to segment: ``easy`` (well separated, evenly lit, sharp
nuclei; the world the project started with) or ``realistic`` (the default).

``realistic`` adds what makes real tissue hard: touching and overlapping nuclei packed in
tumour nests and lymphoid aggregates, a wide spread of size and stain within a type, dim
nuclei, coarse chromatin, out-of-focus blur that varies across the slide, uneven background
and tissue autofluorescence in the nuclear channel, and H&E stain strength that differs
from slide to slide. The truth stays exact: every label is still rasterised from its shape.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Difficulty:
    name: str
    overlap: float  # two nuclei are kept unless their centres are closer than overlap * (r_i + r_j)
    dense_packing: float  # grid spacing factor in tumour nests and lymphoid aggregates
    size_spread: float  # factor on the within-type spread of nuclear size
    stain_spread: float  # lognormal sigma of one nucleus's nuclear stain (0: as its markers)
    dim_fraction: float  # nuclei whose stain is a fifth to a half of their type's
    chromatin: float  # amplitude of the chromatin texture in the IF (0: flat nuclei)
    he_chromatin: float  # and in the H&E
    chromocentres: float  # amplitude of bright chromatin clumps
    if_blur_px: tuple[float, float]  # optical blur (sigma) across the slide, sharpest to most out of focus
    he_blur_px: tuple[float, float]
    haze: float  # uneven background in the nuclear channel, in nuclear-stain counts at its peak
    he_haze: float  # hematoxylin taken up by the stroma where the haze is, in nuclear-density units
    he_stain_variation: float  # H&E stain strengths vary by up to this fraction between slides


EASY = Difficulty(
    "easy",
    overlap=0.85,
    dense_packing=1.0,
    size_spread=1.0,
    stain_spread=0.0,
    dim_fraction=0.0,
    chromatin=0.75,
    he_chromatin=0.8,
    chromocentres=0.0,
    if_blur_px=(1.0, 1.0),
    he_blur_px=(0.7, 0.7),
    haze=0.0,
    he_haze=0.0,
    he_stain_variation=0.0,
)
REALISTIC = Difficulty(
    "realistic",
    overlap=0.62,
    dense_packing=0.85,
    size_spread=1.6,
    stain_spread=0.45,
    dim_fraction=0.12,
    chromatin=1.0,
    he_chromatin=1.05,
    chromocentres=0.8,
    if_blur_px=(0.8, 2.6),
    he_blur_px=(0.6, 1.8),
    haze=2500.0,
    he_haze=0.25,
    he_stain_variation=0.3,
)
DIFFICULTIES = {d.name: d for d in (EASY, REALISTIC)}
DEFAULT = "realistic"


def difficulty_named(name: str | Difficulty) -> Difficulty:
    if isinstance(name, Difficulty):
        return name
    try:
        return DIFFICULTIES[name]
    except KeyError:
        raise ValueError(f"difficulty must be one of {sorted(DIFFICULTIES)}, got {name!r}") from None
