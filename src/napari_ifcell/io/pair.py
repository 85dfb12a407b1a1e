"""An IF slide and its registered H&E, checked to belong together."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from napari_ifcell.io.errors import SlidePairError
from napari_ifcell.io.slide import Slide
from napari_ifcell.io.slide_metadata import UNKNOWN_PIXEL_SIZE
from napari_ifcell.io.slide_open import open_slide

# Physical extents of the two images may differ by cropping; beyond this they are
# not the same section.
EXTENT_TOLERANCE = 0.02
# Writers that do not know a pixel size put 1 (µm, or no unit) in its place; an H&E that
# declares it on a grid this close to the IF's is on the IF's grid.
PLACEHOLDER_PIXEL_SIZE_UM = 1.0
SAME_GRID_PX = 4


@dataclass
class Registration:
    """Maps IF physical coordinates to H&E ones: ``he_um = if_um * scale + offset_um``.

    ``offset_um`` is (dy, dx) in µm: a nucleus at IF position p sits at p + offset in the H&E.
    """

    offset_um: tuple[float, float] = (0.0, 0.0)
    scale: float = 1.0


@dataclass(frozen=True)
class OffsetEstimate:
    offset_um: tuple[float, float]
    offset_px: tuple[float, float]
    correlation: float


@dataclass
class SlidePair:
    """A multiplex IF slide and its H&E on (nearly) the same grid.

    Attributes
    ----------
    if_slide, he_slide : Slide
    registration : Registration
    notes : list of str
        What was assumed (e.g. the H&E pixel size taken from the IF).
    """

    if_slide: Slide
    he_slide: Slide
    registration: Registration = field(default_factory=Registration)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        he, ps_if = self.he_slide, self.if_slide.pixel_size_um
        if he.pixel_size_um is None and ps_if is not None:
            he.pixel_size_um = ps_if
            why = [n for n in he.notes if n.startswith(UNKNOWN_PIXEL_SIZE)]
            for n in why:  # said once, here, with what was done about it
                he.notes.remove(n)
            reason = why[0].removeprefix(UNKNOWN_PIXEL_SIZE) if why else ""
            self.notes.append(f"H&E pixel size unknown{reason}; using the IF's {ps_if} µm (override if wrong)")
        elif ps_if is not None and _is_placeholder(he) and _same_grid(self.if_slide, he):
            self.notes.append(
                f"H&E declares {he.pixel_size_um} µm per pixel, a placeholder: its "
                f"{he.shape[0]} x {he.shape[1]} px grid is the IF's, so it is taken at the IF's {ps_if} µm"
            )
            he.pixel_size_um = ps_if
        check_pair(self.if_slide, self.he_slide)

    @property
    def all_notes(self) -> list[str]:
        """What was read or assumed about either slide and the pair, each slide's named."""
        return [
            *(f"IF: {n}" for n in self.if_slide.notes),
            *(f"H&E: {n}" for n in self.he_slide.notes),
            *self.notes,
        ]

    @property
    def pixel_size_um(self) -> float:
        return self.if_slide.require_pixel_size()

    def _he_pixel_size_um(self) -> float:
        """The H&E pixel size; set from the IF's at construction when the file has none."""
        ps = self.he_slide.pixel_size_um
        if ps is None:
            raise SlidePairError(self.he_slide.path, "pixel size unknown; give the H&E pixel size")
        return ps

    def he_world_transform(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """(scale, translate) in µm that place H&E pixels in the IF's physical frame."""
        reg = self.registration
        s = self._he_pixel_size_um() / reg.scale
        return (s, s), (-reg.offset_um[0] / reg.scale, -reg.offset_um[1] / reg.scale)

    def if_to_he_px(self, y: float, x: float) -> tuple[float, float]:
        """H&E level-0 pixel of an IF level-0 pixel position (numbers or arrays of them)."""
        reg, ps_if, ps_he = self.registration, self.pixel_size_um, self._he_pixel_size_um()
        return (
            (y * ps_if * reg.scale + reg.offset_um[0]) / ps_he,
            (x * ps_if * reg.scale + reg.offset_um[1]) / ps_he,
        )

    def estimate_offset(
        self, y: int, x: int, h: int, w: int, *, level: int = 0, nuclear_channel: str | int = "Hoechst"
    ) -> OffsetEstimate:
        """Estimate the H&E offset on one region by phase correlation (Hoechst vs hematoxylin).

        The region ``(y, x, h, w)`` is in IF pixels of ``level``; the H&E is read at the
        same resolution and place under the current registration, so the result is the
        new total offset.
        """
        from napari_ifcell.core.registration import estimate_he_shift

        names = self.if_slide.channel_names
        if not (isinstance(nuclear_channel, str) and nuclear_channel in names):  # DAPI for Hoechst, else the first
            nuclear_channel = _nuclear_or_first(names, nuclear_channel)
        hoechst = self.if_slide.read_region(y, x, h, w, level=level, channels=[nuclear_channel])[0]
        um_per_px = self.if_slide.level_pixel_size_um(level)
        he = self.read_he_aligned(y, x, h, w, um_per_px=um_per_px)
        shift = estimate_he_shift(hoechst, he)
        he_um = um_per_px * self.registration.scale  # the H&E was read in pixels of this many of its µm
        dy_um, dx_um = shift.shift_px[0] * he_um, shift.shift_px[1] * he_um
        total = (self.registration.offset_um[0] + dy_um, self.registration.offset_um[1] + dx_um)
        ps = self.pixel_size_um
        return OffsetEstimate(total, (total[0] / ps, total[1] / ps), shift.correlation)

    def read_he_aligned(self, y: int, x: int, h: int, w: int, *, um_per_px: float, fill: int = 0) -> np.ndarray:
        """The H&E under an IF region given in pixels of ``um_per_px``, on the IF's grid.

        An IF pixel of ``um_per_px`` spans ``um_per_px * scale`` µm of the H&E, which is read
        at that resolution. Integer-pixel alignment: the H&E read starts at the whole pixel
        nearest where the IF region's first pixel centre maps (µm 0 at pixel 0's centre on
        both slides, as in :meth:`if_to_he_px`).
        """
        from napari_ifcell.io.resample import grid_position

        he_um = um_per_px * self.registration.scale
        to_if, from_he = um_per_px / self.pixel_size_um, self._he_pixel_size_um() / he_um
        on_he = self.if_to_he_px(grid_position(y, to_if), grid_position(x, to_if))  # level-0 H&E px
        y_he, x_he = (round(grid_position(p, from_he)) for p in on_he)
        return self.he_slide.read_region(y_he, x_he, h, w, um_per_px=he_um, fill=fill)

    def close(self) -> None:
        self.if_slide.close()
        self.he_slide.close()


def _is_placeholder(slide: Slide) -> bool:
    """A pixel size read from the file (not given by the user) that is the writers' stand-in."""
    return slide.pixel_size_source not in (None, "given") and slide.pixel_size_um == PLACEHOLDER_PIXEL_SIZE_UM


def _same_grid(if_slide: Slide, he_slide: Slide) -> bool:
    return all(abs(a - b) <= SAME_GRID_PX for a, b in zip(if_slide.shape, he_slide.shape))


def check_pair(if_slide: Slide, he_slide: Slide) -> None:
    """Raise :class:`SlidePairError` unless the two slides can be one IF + H&E section."""
    if if_slide.is_rgb:
        raise SlidePairError(if_slide.path, "given as the IF slide but it is an RGB image")
    if not he_slide.is_rgb:
        raise SlidePairError(
            he_slide.path,
            f"given as the H&E slide but it is not RGB ({he_slide.n_channels} channels, {he_slide.dtype})",
        )
    ps_if, ps_he = if_slide.pixel_size_um, he_slide.pixel_size_um
    if ps_if is None:
        raise SlidePairError(if_slide.path, "pixel size unknown; give the IF pixel size")
    if ps_he is None:
        raise SlidePairError(he_slide.path, "pixel size unknown; give the H&E pixel size")
    ext_if = np.array(if_slide.shape) * ps_if
    ext_he = np.array(he_slide.shape) * ps_he
    rel = np.abs(ext_if - ext_he) / np.maximum(ext_if, ext_he)
    if np.any(rel > EXTENT_TOLERANCE):
        raise SlidePairError(
            None,
            f"{if_slide.path.name} and {he_slide.path.name} cannot be one section: "
            f"IF {if_slide.shape[0]} x {if_slide.shape[1]} px at {ps_if} µm "
            f"({ext_if[0]:.0f} x {ext_if[1]:.0f} µm) vs H&E {he_slide.shape[0]} x {he_slide.shape[1]} px "
            f"at {ps_he} µm ({ext_he[0]:.0f} x {ext_he[1]:.0f} µm)",
        )


def open_pair(
    if_path: str | Path,
    he_path: str | Path,
    *,
    if_pixel_size_um: float | None = None,
    he_pixel_size_um: float | None = None,
    offset_um: tuple[float, float] = (0.0, 0.0),
    scale: float = 1.0,
    channel_names=None,
    assume_pixel_size: Callable[[Slide], None] | None = None,
    assume_he_pixel_size: Callable[[Slide], None] | None = None,
) -> SlidePair:
    """Open an IF slide and its H&E, and check they belong together (``channel_names``: the IF's;
    ``assume_pixel_size`` / ``assume_he_pixel_size``: called on the IF / H&E slide where its
    file gives no pixel size, to assume one with ``Slide.assume_pixel_size``; an H&E left
    without one takes the IF's)."""
    if_slide = open_slide(if_path, pixel_size_um=if_pixel_size_um, channel_names=channel_names)
    if if_slide.pixel_size_um is None and assume_pixel_size is not None:
        assume_pixel_size(if_slide)
    try:
        he_slide = open_slide(he_path, pixel_size_um=he_pixel_size_um)
    except BaseException:
        if_slide.close()
        raise
    if he_slide.pixel_size_um is None and assume_he_pixel_size is not None:
        assume_he_pixel_size(he_slide)
    try:
        dy_um, dx_um = offset_um
        return SlidePair(if_slide, he_slide, Registration((float(dy_um), float(dx_um)), scale))
    except BaseException:
        if_slide.close()
        he_slide.close()
        raise


def _nuclear_or_first(names, wanted) -> int:
    from napari_ifcell.io.channels import nuclear_channel_index
    from napari_ifcell.io.errors import SlideError

    try:
        return nuclear_channel_index(names, wanted)
    except SlideError:
        return 0
