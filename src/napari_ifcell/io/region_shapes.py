"""A named region of a slide: a rectangle or a polygon in level-0 ``(row, col)`` pixels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("rectangle", "polygon")


class RegionFileError(ValueError):
    """A region file that cannot be used; names the file and the field."""


@dataclass(frozen=True)
class Region:
    name: str
    kind: str
    vertices: np.ndarray  # (N, 2) row, col at level 0

    @classmethod
    def rectangle(cls, name: str, y: float, x: float, h: float, w: float) -> Region:
        return cls(name, "rectangle", np.array([[y, x], [y, x + w], [y + h, x + w], [y + h, x]], float))

    def contains(self, rows, cols) -> np.ndarray:
        """Which of the points ``(rows, cols)`` lie inside (polygon edges count as inside)."""
        from skimage.measure import points_in_poly

        points = np.column_stack([np.asarray(rows, float), np.asarray(cols, float)])
        if len(points) == 0:
            return np.zeros(0, bool)
        lo, hi = self.vertices.min(0), self.vertices.max(0)
        inside = ((points >= lo) & (points <= hi)).all(axis=1)  # cheap box test first
        if self.kind == "polygon":
            inside[inside] = points_in_poly(points[inside], self.vertices)
        return inside

    @property
    def bounds(self) -> tuple[int, int, int, int]:
        """Level-0 ``y, x, h, w`` of the bounding box (whole pixels, covering the region)."""
        lo = np.floor(self.vertices.min(0)).astype(int)
        hi = np.ceil(self.vertices.max(0)).astype(int)
        return int(lo[0]), int(lo[1]), int(hi[0] - lo[0]), int(hi[1] - lo[1])


def vertices_or_none(value) -> np.ndarray | None:
    """An (N >= 3, 2) array of finite floats, or None."""
    try:
        vertices = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None
    if vertices.ndim != 2 or vertices.shape[1] != 2 or len(vertices) < 3 or not np.isfinite(vertices).all():
        return None
    return vertices
