"""Named regions of a slide (rectangles and polygons), saved as JSON in the project folder.

Vertices are ``(row, col)`` pixels of the slide's level 0 (the IF grid); the file also records
the pixel size they were drawn at, checked when they are read.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from napari_ifcell.core.settings import is_finite_number
from napari_ifcell.io.atomic import atomic_text
from napari_ifcell.io.project import Project
from napari_ifcell.io.region_geojson import geojson_regions, is_geojson
from napari_ifcell.io.region_shapes import KINDS, Region, RegionFileError, vertices_or_none
from napari_ifcell.notes import note

__all__ = ["Region", "RegionFileError", "load_regions", "save_regions"]


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


def load_regions(path: str | Path, *, pixel_size_um: float | None = None) -> list[Region]:
    """Regions from a file written by :func:`save_regions` (or its project folder), or from a
    GeoJSON file of annotations (QuPath's export). Given the slide's ``pixel_size_um``, a note
    says when the regions were recorded at another one (they stay on their pixels)."""
    path = Path(path)
    project = path if path.is_dir() else None
    if project is not None:
        path = Project.at(project).regions
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if project is not None:
            raise RegionFileError(
                f"{project}: no regions saved in this project yet; draw and save some (Compare tab), "
                "or give a regions.json or QuPath GeoJSON of annotations (compare also takes --region NAME Y X H W)"
            ) from None
        raise RegionFileError(f"{path}: no such file; expected a regions.json or a GeoJSON of annotations") from None
    except (OSError, ValueError) as exc:
        raise RegionFileError(f"{path}: not a readable JSON region file ({exc})") from None
    if is_geojson(doc):
        return geojson_regions(doc, path)
    if not isinstance(doc, dict) or not isinstance(doc.get("regions"), list):
        raise RegionFileError(
            f"{path}: expected an object with a 'regions' list (a project's regions.json) or GeoJSON annotations"
        )
    regions, problems = [], []
    recorded = doc.get("pixel_size_um")
    if recorded is not None and not (is_finite_number(recorded) and recorded > 0):
        problems.append(
            f"pixel_size_um: expected a positive number of µm per pixel or null, got {str(recorded)[:40]!r}"
        )
    for i, item in enumerate(doc["regions"]):
        where = f"regions[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
            problems.append(f"{where}: expected an object with a non-empty string 'name'")
            continue
        if item.get("kind") not in KINDS:
            problems.append(f"{where}.kind: expected one of {KINDS}, got {str(item.get('kind'))[:40]!r}")
            continue
        vertices = vertices_or_none(item.get("vertices_rc"))
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
    if recorded and pixel_size_um and abs(recorded / pixel_size_um - 1) > 0.01:
        # most often the same image with its pixel size corrected since: its pixels stay its pixels
        note(
            f"{path}: the regions were drawn when the slide was taken as {recorded:g} µm/px and it is now "
            f"{pixel_size_um:g} µm/px; they are kept on the same pixels (redraw them if the image itself changed)"
        )
    return regions
