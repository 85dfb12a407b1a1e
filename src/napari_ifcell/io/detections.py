"""Nucleus detections of other models (HoVer-Net, TIAToolbox, QuPath, CellViT / CellViT++,
HistoPLUS), on the slide's grid.

Every reader returns one table: ``y, x`` (level-0 row / column of the IF grid), ``type`` (the
model's type id or class name), ``prob`` and, when the file has them, ``contour`` (``(K, 2)``
row / column arrays). CellViT's JSON and GeoJSON (``.snappy``-compressed too) and HistoPLUS's
``cell_masks.json`` carry class names, which become ``type``. The model's pixels are turned into the slide's by a :class:`Frame`:
the resolution the model ran at (HoVer-Net is often run at 0.5 µm/px on 0.25-0.325 µm slides),
where its image started, and the H&E-to-IF registration offset.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from napari_ifcell.io.detection_errors import DetectionFileError, UntrustedFileError
from napari_ifcell.io.detection_geometry import number, outline, polygon_centroid, xy_pair, xy_points

FORMATS = (
    "hovernet-json",
    "tiatoolbox",
    "tiatoolbox-dat",
    "qupath-geojson",
    "cellvit-json",
    "cellvit-geojson",
    "histoplus-json",
)
JSON_FORMATS = ("hovernet-json", "qupath-geojson", "cellvit-json", "cellvit-geojson", "histoplus-json")
COLUMNS = ("y", "x", "type", "prob", "contour")


@dataclass(frozen=True)
class Frame:
    """Model pixels -> slide level-0 pixels: ``slide = origin + model * model_um / slide_um -
    offset_um / slide_um``. ``origin_px`` is where the model's image began on the slide
    (level-0 row, col); ``offset_um`` is the H&E-minus-IF registration (H&E = IF + offset)."""

    model_um_per_px: float
    slide_um_per_px: float
    origin_px: tuple[float, float] = (0.0, 0.0)
    offset_um: tuple[float, float] = (0.0, 0.0)

    def to_slide(self, rc: np.ndarray) -> np.ndarray:
        """``(N, 2)`` model row/col -> slide row/col."""
        scale = self.model_um_per_px / self.slide_um_per_px
        shift = np.asarray(self.origin_px, float) - np.asarray(self.offset_um, float) / self.slide_um_per_px
        return np.asarray(rc, float) * scale + shift


def detect_format(path: str | Path, doc=None) -> str:
    """The format of a detection file, from its name or (``.json``) its content; ``doc``: the
    file's JSON if already read."""
    path = Path(path)
    name = path.name.lower().removesuffix(".snappy")
    if name.endswith(".dat"):
        return "tiatoolbox-dat"
    if name.endswith(".zarr") or path.is_dir():
        return "tiatoolbox"
    if name.endswith((".geojson", ".json")):
        doc = _read_json(path) if doc is None else doc
        if _is_cellvit_geojson(doc):
            return "cellvit-geojson"
    if name.endswith(".geojson"):
        return "qupath-geojson"
    if name.endswith(".json"):
        if isinstance(doc, dict) and "nuc" in doc:
            return "hovernet-json"
        if isinstance(doc, dict) and isinstance(doc.get("cells"), list):
            return "cellvit-json"
        if isinstance(doc, dict) and isinstance(doc.get("cell_masks"), list):
            return "histoplus-json"
        if isinstance(doc, dict) and "centroid" in doc:
            return "tiatoolbox"
        if isinstance(doc, list) or (isinstance(doc, dict) and doc.get("type") in ("FeatureCollection", "Feature")):
            return "qupath-geojson"
    raise DetectionFileError(f"{path}: cannot tell the format; expected one of {', '.join(FORMATS)}")


def read_detections(path: str | Path, frame: Frame, *, format: str = "auto", trust: bool = False) -> pd.DataFrame:
    """Read a detection file into slide coordinates (see the module docstring)."""
    rows, _, _ = read_detection_rows(path, format=format, trust=trust)
    return place_rows(rows, frame)


def read_detection_rows(path: str | Path, *, format: str = "auto", trust: bool = False):
    """A detection file's rows in the model's own pixels, its format (``format`` or the one
    found) and ``(pixel size, where the file says it)`` when it records one (see
    :func:`_recorded_um_per_px`; else None): what the file says before it is placed on the slide
    (:func:`place_rows`)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such detection file")
    suffix = Path(path.name.lower().removesuffix(".snappy")).suffix
    is_json = path.is_file() and suffix in (".json", ".geojson") and format != "tiatoolbox-dat"
    doc = _read_json(path) if is_json else None  # read once: HoVer-Net files of a slide run to gigabytes
    fmt = detect_format(path, doc) if format == "auto" else format
    if doc is None and fmt in JSON_FORMATS:  # a format given for a file not named .json
        doc = _read_json(path)
    if fmt == "hovernet-json":
        rows = _hovernet_rows(path, doc)
    elif fmt == "tiatoolbox":
        rows = _tiatoolbox_columns(path, doc if is_json else _read_zarr(path))
    elif fmt == "tiatoolbox-dat":
        rows = _tiatoolbox_rows(path, _read_dat(path, trust=trust))
    elif fmt == "qupath-geojson":
        rows = _geojson_rows(path, doc)
    elif fmt == "cellvit-json":
        rows = _cellvit_rows(path, doc)
    elif fmt == "cellvit-geojson":
        rows = _cellvit_geojson_rows(path, doc)
    elif fmt == "histoplus-json":
        rows = _histoplus_rows(path, doc)
    else:
        raise DetectionFileError(f"{path}: unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return rows, fmt, _recorded_um_per_px(doc, fmt)


def _recorded_um_per_px(doc, fmt: str) -> tuple[float, str] | None:
    """``(µm per pixel, where the file says it)`` of the image a model ran on, when its file
    records it: CellViT's ``wsi_metadata.base_mpp``; HoVer-Net's ``mag``, the magnification it
    processed the slide at (10 / mag µm per pixel: 40x is 0.25, 20x 0.5; null in tile mode)."""
    if not isinstance(doc, dict):
        return None
    if fmt == "cellvit-json":
        metadata = doc.get("wsi_metadata")
        mpp = metadata.get("base_mpp") if isinstance(metadata, dict) else None
        return (float(mpp), "the file's wsi_metadata.base_mpp") if mpp is not None and _positive(mpp, 100) else None
    if fmt == "hovernet-json" and _positive(doc.get("mag"), 1000):
        return 10.0 / float(doc["mag"]), f"the file's mag {doc['mag']:g}x, nominally 10 / mag"
    return None


def _positive(value, below: float) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < below


def tiatoolbox_output(output: dict, frame: Frame) -> pd.DataFrame:
    """TIAToolbox's in-memory output: the v2 column dict or the v1 ``{id: {...}}`` dict."""
    if "centroid" in output:
        return place_rows(_tiatoolbox_columns(Path("<dict>"), output), frame)
    return place_rows(_tiatoolbox_rows(Path("<dict>"), output), frame)


# --- one reader per format; each returns (centroids_xy, types, probs, contours_xy or None) ---
def _hovernet_rows(path: Path, doc):
    if not isinstance(doc, dict) or not isinstance(doc.get("nuc"), dict):
        raise DetectionFileError(f"{path}: expected HoVer-Net JSON with a 'nuc' object of instances")
    nuc = doc["nuc"]
    centroids, types, probs, contours = [], [], [], []
    for key, inst in nuc.items():
        where = f"{path}: nuc[{key!r}]"
        centroid = xy_pair(inst.get("centroid") if isinstance(inst, dict) else None, f"{where}.centroid", "[x, y]")
        centroids.append(centroid)
        types.append(inst.get("type", 0))
        probs.append(inst.get("type_prob", np.nan))
        contours.append(xy_points(inst.get("contour"), f"{where}.contour"))
    return centroids, types, probs, contours


def _tiatoolbox_rows(path: Path, doc):
    if not isinstance(doc, dict):
        raise DetectionFileError(f"{path}: expected a dict of instances {{id: {{box, centroid, contour, type, prob}}}}")
    centroids, types, probs, contours = [], [], [], []
    for key, inst in doc.items():
        where = f"{path}: [{key!r}]"
        if not isinstance(inst, dict):
            raise DetectionFileError(f"{where}: expected a dict with box, centroid, contour, type, prob")
        centroids.append(xy_pair(inst.get("centroid"), f"{where}.centroid", "(x, y)"))
        types.append(inst.get("type", 0))
        probs.append(inst.get("prob", np.nan))
        contours.append(xy_points(inst.get("contour"), f"{where}.contour"))
    return centroids, types, probs, contours


def _tiatoolbox_columns(path: Path, doc):
    if not isinstance(doc, dict) or "centroid" not in doc:
        raise DetectionFileError(f"{path}: expected TIAToolbox columns box, centroid, contours, prob, type")
    centroids = np.asarray(doc["centroid"], float).reshape(-1, 2) if len(doc["centroid"]) else np.zeros((0, 2))
    n = len(centroids)
    for field in ("type", "prob", "contours"):
        if field in doc and doc[field] is not None and len(doc[field]) != n:
            raise DetectionFileError(f"{path}: '{field}' has {len(doc[field])} entries, 'centroid' has {n}")
    types = list(np.asarray(doc.get("type", np.zeros(n, int))))
    probs = list(np.asarray(doc.get("prob", np.full(n, np.nan)), float))
    raw = doc.get("contours")
    contours = [xy_points(c, f"{path}: contours[{i}]") for i, c in enumerate(raw)] if raw is not None else [None] * n
    return list(centroids), types, probs, contours


def _geojson_rows(path: Path, doc):
    features = (
        doc.get("features")
        if isinstance(doc, dict) and doc.get("type") == "FeatureCollection"
        else [doc]
        if isinstance(doc, dict) and doc.get("type") == "Feature"
        else doc
    )
    if not isinstance(features, list):
        raise DetectionFileError(f"{path}: expected a GeoJSON FeatureCollection, Feature or list of Features")
    centroids: list[np.ndarray] = []
    types: list[str] = []
    probs: list[float] = []
    contours: list[np.ndarray | None] = []
    for i, feature in enumerate(features):
        where = f"{path}: features[{i}]"
        if not isinstance(feature, dict):
            raise DetectionFileError(f"{where}: expected a Feature object")
        props = feature.get("properties") or {}
        object_type = props.get("objectType", props.get("object_type", "detection"))  # 0.2-0.3: object_type
        if object_type not in ("detection", "cell", "tile"):
            continue  # annotations (regions) are not cells
        geometry = feature.get("nucleusGeometry") or props.get("nucleusGeometry") or feature.get("geometry")
        if not isinstance(geometry, dict):
            geometry = {}
        kind = geometry.get("type")
        if kind not in ("Polygon", "MultiPolygon", "Point"):
            raise DetectionFileError(f"{where}.geometry: expected a Polygon, MultiPolygon or Point, got type {kind!r}")
        types.append(_class_name(props.get("classification")))
        probs.append(_measurement(props.get("measurements"), "prob"))
        # QuPath's coordinates are pixel corners; ours pixel-centre indices: half a pixel back
        if kind == "Point":
            centroids.append(xy_pair(geometry.get("coordinates"), f"{where}.geometry.coordinates", "[x, y]") - 0.5)
            contours.append(None)
            continue
        centroid, ring = outline(geometry.get("coordinates"), kind == "Polygon", f"{where}.geometry.coordinates")
        centroids.append(centroid - 0.5)
        contours.append(ring - 0.5)
    return centroids, types, probs, contours


def _cellvit_rows(path: Path, doc) -> tuple[list, list, list, list]:
    """CellViT / CellViT++ ``cells.json`` (``cell_detection.json``): ``cells`` with ``centroid``
    and ``contour`` in x / y level-0 pixels of the slide it ran on, ``type`` an id named by the
    file's ``type_map`` (name -> id in CellViT, id -> name in CellViT++)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("cells"), list):
        raise DetectionFileError(f"{path}: expected CellViT JSON with a 'cells' list")
    names = _type_names(doc.get("type_map"), path)
    centroids, types, probs, contours = [], [], [], []
    for i, cell in enumerate(doc["cells"]):
        where = f"{path}: cells[{i}]"
        if not isinstance(cell, dict):
            raise DetectionFileError(f"{where}: expected an object with centroid, contour, type")
        centroids.append(xy_pair(cell.get("centroid"), f"{where}.centroid", "[x, y]"))
        kind = cell.get("type", 0)
        types.append(names.get(str(kind), str(kind)))
        probs.append(number(cell.get("type_prob")))
        contours.append(xy_points(cell.get("contour"), f"{where}.contour"))
    return centroids, types, probs, contours


def _type_names(type_map, path: Path) -> dict[str, str]:
    """``{id as text: name}`` from either direction of a CellViT ``type_map``."""
    if type_map is None:
        return {}
    if not isinstance(type_map, dict):
        raise DetectionFileError(f"{path}: type_map: expected an object of type ids and names")
    if all(isinstance(v, int) for v in type_map.values()):
        return {str(v): str(k) for k, v in type_map.items()}  # CellViT: {"Neoplastic": 1}
    return {str(k): str(v) for k, v in type_map.items()}  # CellViT++: {"1": "Neoplastic"}


def _is_cellvit_geojson(doc) -> bool:
    """CellViT's GeoJSON: a plain list of Features, one per class, each a MultiPolygon (outlines)
    or MultiPoint (centroids) of all that class's cells."""
    return (
        isinstance(doc, list)
        and bool(doc)
        and all(
            isinstance(f, dict) and (f.get("geometry") or {}).get("type") in ("MultiPolygon", "MultiPoint") for f in doc
        )
    )


def _cellvit_geojson_rows(path: Path, doc) -> tuple[list, list, list, list]:
    if not _is_cellvit_geojson(doc):
        raise DetectionFileError(f"{path}: expected CellViT GeoJSON: a list of MultiPolygon / MultiPoint features")
    centroids: list[np.ndarray] = []
    types: list[str] = []
    probs: list[float] = []
    contours: list[np.ndarray | None] = []
    for i, feature in enumerate(doc):
        where = f"{path}: [{i}].geometry.coordinates"
        name = _class_name((feature.get("properties") or {}).get("classification"))
        geometry = feature["geometry"]
        parts = geometry.get("coordinates")
        if not isinstance(parts, list):
            raise DetectionFileError(f"{where}: expected a list")
        for j, part in enumerate(parts):
            if geometry["type"] == "MultiPoint":
                centroids.append(xy_pair(part, f"{where}[{j}]", "[x, y]"))
                contours.append(None)
            else:
                ring = xy_points(part[0] if isinstance(part, list) and part else None, f"{where}[{j}][0]")
                if ring is None:
                    raise DetectionFileError(f"{where}[{j}]: expected a polygon: a list of rings of [x, y]")
                centroids.append(polygon_centroid(ring))
                contours.append(ring)
            types.append(name)
            probs.append(np.nan)
    return centroids, types, probs, contours


def _histoplus_rows(path: Path, doc) -> tuple[list, list, list, list]:
    """HistoPLUS ``cell_masks.json``: per tile of its DeepZoom grid (``x``, ``y``: tile column and
    row; tiles of ``width`` px), cells with ``centroid`` and ``coordinates`` in x / y pixels of
    the tile, at the DeepZoom level it stored (about 0.5 µm/px: give that as the model's
    resolution), and a ``cell_type`` name."""
    tiles = doc.get("cell_masks") if isinstance(doc, dict) else None
    if not isinstance(tiles, list):
        raise DetectionFileError(f"{path}: expected HistoPLUS JSON with a 'cell_masks' list of tiles")
    sizes = [
        float(t[side])
        for t in tiles
        for side in ("width", "height")
        if isinstance(t, dict) and isinstance(t.get(side), (int, float))
    ]
    tile_size = max(sizes, default=224.0)  # edge tiles are narrower; the grid steps by the full size
    centroids, types, probs, contours = [], [], [], []
    for i, tile in enumerate(tiles):
        where = f"{path}: cell_masks[{i}]"
        if not isinstance(tile, dict) or not isinstance(tile.get("masks"), list):
            raise DetectionFileError(f"{where}: expected a tile with x, y, width, height and 'masks'")
        origin = xy_pair([tile.get("x"), tile.get("y")], f"{where}.x/y", "tile column and row numbers") * tile_size
        for j, mask in enumerate(tile["masks"]):
            cell = f"{where}.masks[{j}]"
            if not isinstance(mask, dict):
                raise DetectionFileError(f"{cell}: expected an object with centroid, coordinates, cell_type")
            centroids.append(xy_pair(mask.get("centroid"), f"{cell}.centroid", "[x, y]") + origin)
            ring = xy_points(mask.get("coordinates"), f"{cell}.coordinates")
            contours.append(None if ring is None else ring + origin)
            types.append(str(mask.get("cell_type", "")))
            probs.append(number(mask.get("confidence")))
    return centroids, types, probs, contours


def _class_name(classification) -> str:
    """QuPath's classification: ``{name}``, or ``{names: [...]}`` for a derived class (written
    ``"Tumor: Positive"`` in QuPath)."""
    if isinstance(classification, dict):
        if isinstance(classification.get("names"), list):
            return ": ".join(str(n) for n in classification["names"])
        return str(classification.get("name", ""))
    return "" if classification is None else str(classification)


def _measurement(measurements, name: str) -> float:
    """One measurement from QuPath's ``{name: value}`` (0.4+) or ``[{name, value}]`` (before)."""
    if isinstance(measurements, list):
        measurements = {m.get("name"): m.get("value") for m in measurements if isinstance(m, dict)}
    return number(measurements.get(name) if isinstance(measurements, dict) else None)


# --- helpers -------------------------------------------------------------------------------------
def place_rows(rows, frame: Frame) -> pd.DataFrame:
    """:func:`read_detection_rows`' rows (model x / y pixels) as a table on the slide's level 0."""
    centroids_xy, types, probs, contours_xy = rows
    xy = np.asarray(centroids_xy, float).reshape(-1, 2)
    rc = frame.to_slide(xy[:, ::-1])
    contour_rc = [None if c is None else frame.to_slide(c[:, ::-1]) for c in contours_xy]
    return pd.DataFrame(
        {
            "y": rc[:, 0],
            "x": rc[:, 1],
            "type": list(types),
            "prob": np.asarray(probs, float),
            "contour": pd.Series(contour_rc, dtype=object),
        }
    )


def _read_json(path: Path):
    if path.name.lower().endswith(".snappy"):
        return _read_snappy_json(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DetectionFileError(f"{path}: not a readable JSON file ({exc})") from None


def _read_snappy_json(path: Path):
    """CellViT++ ``--compression``: the whole JSON text compressed as one snappy block."""
    try:
        import snappy
    except ImportError:
        raise DetectionFileError(
            f"{path}: a snappy-compressed CellViT file; pip install python-snappy to read it "
            "(or run CellViT without --compression)"
        ) from None
    try:
        return json.loads(snappy.decompress(path.read_bytes()))
    except Exception as exc:  # noqa: BLE001 - any decoding failure is a bad file to the user
        raise DetectionFileError(f"{path}: not a readable snappy-compressed JSON file ({exc})") from None


def _read_zarr(path: Path) -> dict:
    import zarr

    try:
        group = zarr.open_group(path, mode="r")
        return {name: np.asarray(array[:]) for name, array in group.arrays()}
    except Exception as exc:  # noqa: BLE001 - any zarr failure is a bad file to the user
        raise DetectionFileError(f"{path}: not a readable TIAToolbox zarr output ({exc})") from None


def _read_dat(path: Path, *, trust: bool):
    if not trust:
        raise UntrustedFileError(
            f"{path}: a TIAToolbox .dat file is a pickle, and loading it runs code from the file; "
            "open it only if you trust where it came from (trust=True, --trust-pickle, "
            "or 'I trust this file' in the widget)"
        )
    import joblib

    try:
        return joblib.load(path)
    except Exception as exc:  # noqa: BLE001
        raise DetectionFileError(f"{path}: not a readable TIAToolbox .dat file ({exc})") from None
