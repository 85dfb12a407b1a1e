"""Regions from a GeoJSON file of annotations, as QuPath exports them (File > Export objects as
GeoJSON): each annotation's polygon, named by its name or else its classification.

Coordinates are ``x, y`` pixels of the image the annotations were drawn on, read as the level-0
``col, row`` of the slide (the IF grid: draw them on the IF, or on an H&E on the same grid).
A MultiPolygon becomes one region per part; a polygon with holes is refused (a region here is
one outline); detections, cells, points and lines are left out with a note.
"""

from __future__ import annotations

from collections import Counter

from napari_ifcell.io.region_shapes import Region, RegionFileError, vertices_or_none
from napari_ifcell.io.slide_metadata import unique_names
from napari_ifcell.notes import note

GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")


def is_geojson(doc) -> bool:
    """A GeoJSON document (a FeatureCollection, a Feature or a geometry), or QuPath's older
    export: a bare list of Features."""
    if isinstance(doc, list):
        return bool(doc) and all(isinstance(f, dict) and f.get("type") == "Feature" for f in doc)
    return isinstance(doc, dict) and doc.get("type") in ("FeatureCollection", "Feature", *GEOMETRY_TYPES)


def geojson_regions(doc, path) -> list[Region]:
    """One polygon region per annotation part; every problem reported at once."""
    features = _features(doc)
    regions: list[Region] = []
    problems: list[str] = []
    left_out: Counter = Counter()
    for i, feature in enumerate(features):
        where = f"features[{i}]"
        if not isinstance(feature, dict) or not isinstance(feature.get("geometry"), dict):
            problems.append(f"{where}: expected a GeoJSON Feature with a geometry")
            continue
        properties = feature.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        kind = str(properties.get("objectType", properties.get("object_type", "annotation")))  # QuPath 0.2-0.3
        geometry = feature["geometry"]
        if kind != "annotation":
            left_out[f"{kind}s"] += 1
            continue
        if geometry.get("type") not in ("Polygon", "MultiPolygon"):
            left_out[f"{geometry.get('type')} annotations"] += 1
            continue
        name = _name(properties) or f"annotation {i + 1}"
        parts = [geometry.get("coordinates")] if geometry["type"] == "Polygon" else geometry.get("coordinates")
        parts = parts if isinstance(parts, list) and parts else [None]
        for k, rings in enumerate(parts):
            part = name if len(parts) == 1 else f"{name} ({k + 1})"
            if isinstance(rings, list) and len(rings) > 1:
                problems.append(
                    f"{where} {name!r}: a polygon with {len(rings) - 1} hole(s); a region is one outline "
                    "without holes: fill or remove the holes (or split the annotation) and export again"
                )
                continue
            vertices = _ring_vertices(rings[0] if isinstance(rings, list) and rings else None)
            if vertices is None:
                problems.append(f"{where} {name!r}: expected a ring of at least 3 [x, y] pairs of finite numbers")
                continue
            regions.append(Region(part, "polygon", vertices))
    if problems:
        raise RegionFileError(f"{path}: {len(problems)} problem(s) in the annotations:\n  - " + "\n  - ".join(problems))
    said = ", ".join(f"{n} {what}" for what, n in left_out.items())
    if not regions:
        raise RegionFileError(
            f"{path}: no annotation polygons to use as regions (the file holds {said or 'no features'}); "
            "export annotations: in QuPath, File > Export objects as GeoJSON, Annotations"
        )
    notes: list[str] = []
    names = unique_names([r.name for r in regions], notes, what="region", first=1)
    regions = [Region(n, r.kind, r.vertices) for n, r in zip(names, regions, strict=True)]
    if left_out:
        notes.append(f"read {len(regions)} region(s) from the annotation polygons; left out {said}")
    for message in notes:
        note(f"{path}: {message}")
    return regions


def _features(doc) -> list:
    if isinstance(doc, list):
        return doc
    if doc.get("type") == "FeatureCollection":
        features = doc.get("features")
        return features if isinstance(features, list) else [None]
    if doc.get("type") == "Feature":
        return [doc]
    return [{"type": "Feature", "geometry": doc, "properties": {}}]


def _name(properties: dict) -> str:
    """The annotation's name, else its classification's (QuPath writes ``{"name": ..., "color": ...}``)."""
    name = properties.get("name")
    if isinstance(name, str) and name.strip():
        return name.strip()
    classification = properties.get("classification")
    if isinstance(classification, dict):
        classification = classification.get("name") or classification.get("names")
    if isinstance(classification, list):
        classification = ": ".join(map(str, classification))
    return classification.strip() if isinstance(classification, str) else ""


def _ring_vertices(ring):
    """A closed GeoJSON ring of ``[x, y]`` as ``(row, col)`` vertices, the closing point dropped."""
    vertices = vertices_or_none(ring)
    if vertices is None:
        return None
    vertices = vertices[:, ::-1]
    if len(vertices) > 3 and (vertices[0] == vertices[-1]).all():
        vertices = vertices[:-1]
    return vertices if len(vertices) >= 3 else None
