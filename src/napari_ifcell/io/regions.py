"""Named regions of a slide (rectangles and polygons), saved as JSON in the project folder.

Vertices are ``(row, col)`` pixels of the slide's level 0 (the IF grid); the file also records
the pixel size so that a region stays where it was drawn if the file is read elsewhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_ifcell.io.atomic import atomic_text
from napari_ifcell.io.project import Project

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


def save_regions(regions: list[Region], path: str | Path, *, pixel_size_um: float | None = None) -> Path:
    """Write ``regions`` to ``path`` (a file, or a project folder) atomically."""
    path = Path(path)
    if path.suffix.lower() != ".json":
        path.mkdir(parents=True, exist_ok=True)
        path = Project.at(path).regions
    names = [r.name for r in regions]
    if len(set(names)) != len(names):
        raise RegionFileError(f"{path}: region names must be unique, got {names}")
    doc = {
        "schema_version": 1,
        "pixel_size_um": pixel_size_um,
        "regions": [
            {"name": r.name, "kind": r.kind, "vertices_rc": np.asarray(r.vertices, float).tolist()} for r in regions
        ],
    }
    return atomic_text(path, json.dumps(doc, indent=1))


def load_regions(path: str | Path) -> list[Region]:
    """Regions from a file written by :func:`save_regions` (or its project folder)."""
    path = Path(path)
    if path.is_dir():
        path = Project.at(path).regions
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise RegionFileError(f"{path}: not a readable JSON region file ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("regions"), list):
        raise RegionFileError(f"{path}: expected an object with a 'regions' list")
    regions, problems = [], []
    for i, item in enumerate(doc["regions"]):
        where = f"regions[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
            problems.append(f"{where}: expected an object with a non-empty string 'name'")
            continue
        if item.get("kind") not in KINDS:
            problems.append(f"{where}.kind: expected one of {KINDS}, got {str(item.get('kind'))[:40]!r}")
            continue
        vertices = _vertices(item.get("vertices_rc"))
        if vertices is None:
            problems.append(f"{where}.vertices_rc: expected at least 3 [row, col] pairs of finite numbers")
            continue
        regions.append(Region(item["name"], item["kind"], vertices))
    names = [r.name for r in regions]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        problems.append(f"region name(s) {', '.join(map(repr, repeated))} used twice; each region needs its own name")
    if problems:
        raise RegionFileError(f"{path}: {len(problems)} problem(s) in the regions:\n  - " + "\n  - ".join(problems))
    return regions


def _vertices(value) -> np.ndarray | None:
    """An (N >= 3, 2) array of finite floats, or None."""
    try:
        vertices = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None
    if vertices.ndim != 2 or vertices.shape[1] != 2 or len(vertices) < 3 or not np.isfinite(vertices).all():
        return None
    return vertices
