"""Coordinates and polygons as other models' detection files give them: checked, with errors
that name the file and the field, and turned into centroids and outlines."""

from __future__ import annotations

import numpy as np

from napari_ifcell.io.detection_errors import DetectionFileError


def number(value) -> float:
    try:
        return float(value) if value is not None else np.nan
    except (TypeError, ValueError):
        return np.nan


def xy_pair(value, where: str, expected: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float) if value is not None else np.zeros(0)
    except (TypeError, ValueError):
        arr = np.zeros(0)
    if arr.shape != (2,) or not np.isfinite(arr).all():
        raise DetectionFileError(f"{where}: expected {expected}, got {value!r:.60}")
    return arr


def xy_points(value, where: str) -> np.ndarray | None:
    if value is None:
        return None
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise DetectionFileError(f"{where}: expected a polygon: at least 3 [x, y] points of finite numbers") from None
    if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) < 3 or not np.isfinite(arr).all():
        raise DetectionFileError(f"{where}: expected a polygon: at least 3 [x, y] points of finite numbers")
    return arr


def polygon_area(xy: np.ndarray) -> float:
    x, y = xy[:, 0], xy[:, 1]
    return float((x * np.roll(y, -1) - np.roll(x, -1) * y).sum() / 2)


def polygon_centroid(xy: np.ndarray) -> np.ndarray:
    x, y = xy[:, 0], xy[:, 1]
    cross = x * np.roll(y, -1) - np.roll(x, -1) * y
    area = cross.sum() / 2
    if abs(area) < 1e-12:
        return xy.mean(axis=0)
    return np.array([((x + np.roll(x, -1)) * cross).sum(), ((y + np.roll(y, -1)) * cross).sum()]) / (6 * area)


def outline(coordinates, single: bool, where: str) -> tuple[np.ndarray, np.ndarray]:
    """A (Multi)Polygon's centroid and outline: each part's outer ring (holes ignored); a cell
    in parts sits at their area-weighted centroid and is outlined by its largest part."""
    polygons = [coordinates] if single else coordinates
    if not single and isinstance(polygons, list):
        polygons = [p for p in polygons if p != [] and p != [[]]]  # empty parts: nothing to place
    if not isinstance(polygons, list) or not polygons or not all(isinstance(p, list) and p for p in polygons):
        raise DetectionFileError(f"{where}: expected a list of rings of [x, y]")
    rings: list[np.ndarray] = []
    for i, polygon in enumerate(polygons):
        place = f"{where}[0]" if single else f"{where}[{i}][0]"
        ring = xy_points(polygon[0], place)
        if ring is None:
            raise DetectionFileError(f"{place}: expected a list of [x, y] points")
        rings.append(ring)
    areas = np.array([abs(polygon_area(ring)) for ring in rings])
    weights = areas if areas.sum() > 0 else np.ones(len(rings))
    centroid = np.average([polygon_centroid(ring) for ring in rings], axis=0, weights=weights)
    return centroid, rings[int(np.argmax(areas))]
