"""Cells as QuPath writes them in GeoJSON (QuPath 0.4+, *File > Export objects as GeoJSON*).

One Feature per cell, as QuPath's own object adapter writes a cell object: ``id`` a UUID,
``geometry`` the cell outline (the nucleus grown by the quantification's expansion),
``nucleusGeometry`` (beside ``geometry``, not in ``properties``) the nucleus outline, and
``properties`` with ``objectType: "cell"``, ``classification: {name, color}``,
``measurements`` as a ``{name: value}`` object (QuPath's naming: ``"Nucleus: CD3e mean"``,
``"Cytoplasm: ..."`` for the ring, ``"Nucleus: Area µm^2"``) and ``metadata.CellID``.
Coordinates are level-0 pixel x / y of the slide (or of the registered H&E, when exported onto
it) in QuPath's convention: pixel (row r, column c) covers [c, c + 1] x [r, r + 1], so a point is
half a pixel on from our pixel-centre indices.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from napari_ifcell.core.classes import class_rgb
from napari_ifcell.io.atomic import atomic_write
from napari_ifcell.orion import ORION_CHANNELS

BLOCK = 1024
# our compartments -> QuPath's (its "Cytoplasm" is the cell minus the nucleus: our ring)
COMPARTMENT_NAMES = {"nucleus": "Nucleus", "cell": "Cell", "ring": "Cytoplasm"}
STATISTIC_NAMES = {"mean": "mean", "std": "std dev", "median": "median"}
# morphology column -> (QuPath-style name, power of the pixel size that turns it into µm units)
MORPHOLOGY_NAMES = {
    "Area": ("Nucleus: Area µm^2", 2),
    "MajorAxisLength": ("Nucleus: Major axis length µm", 1),
    "MinorAxisLength": ("Nucleus: Minor axis length µm", 1),
    "Eccentricity": ("Nucleus: Eccentricity", 0),
    "Solidity": ("Nucleus: Solidity", 0),
    "Extent": ("Nucleus: Extent", 0),
    "Orientation": ("Nucleus: Orientation rad", 0),
}


def cell_id_uuid(cell_id: int, image_id: str = "") -> str:
    """The stable UUID a cell gets in GeoJSON: the same cell of the same slide, the same id in
    every export; CellIDs start at 1 on every slide, so the slide (``image_id``) is part of it."""
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"napari-ifcell/{image_id}/{int(cell_id)}"))


def cell_outlines(read, cells: pd.DataFrame, *, expand_px: int = 0, shape=None) -> tuple[dict, dict]:
    """``(nuclei, grown)``: ``{CellID: (K, 2) x/y closed ring}`` (QuPath's pixel-corner
    coordinates) of the nuclei and, with ``expand_px`` > 0, of the cells grown by that many
    pixels (neighbours never overlap, as in quantification; empty otherwise), from a label reader
    ``read(y, x, h, w)`` and the cells' bounding boxes (``y0, x0, y1, x1``). Each block of the
    slide is read once; ``shape`` (the slide's height, width) keeps grown outlines on the slide."""
    from skimage.segmentation import expand_labels

    nuclei: dict[int, np.ndarray] = {}
    grown: dict[int, np.ndarray] = {}
    margin = 1 + expand_px
    block = (cells["y0"].to_numpy() // BLOCK) * 1_000_000 + cells["x0"].to_numpy() // BLOCK
    for _, group in cells.groupby(block):
        # read a margin twice the growth: the growth of a cell depends on neighbours beyond it
        y0, x0 = int(group.y0.min()) - 2 * margin, int(group.x0.min()) - 2 * margin
        y1, x1 = int(group.y1.max()) + 2 * margin, int(group.x1.max()) + 2 * margin
        labels = read(y0, x0, y1 - y0, x1 - x0)
        images = [(labels, nuclei)] + (
            [(_on_slide(expand_labels(labels, expand_px), y0, x0, shape), grown)] if expand_px else []
        )
        boxes = group[["y0", "x0", "y1", "x1"]].to_numpy()
        for cell_id, (cy0, cx0, cy1, cx1) in zip(group["CellID"].to_numpy(), boxes):
            top, left = int(cy0) - margin, int(cx0) - margin
            window = (slice(top - y0, int(cy1) + margin - y0), slice(left - x0, int(cx1) + margin - x0))
            for image, out in images:
                ring = _outline(image[window] == cell_id, top, left, shape)
                if ring is not None:
                    out[int(cell_id)] = ring
    return nuclei, grown


def _on_slide(image: np.ndarray, top: int, left: int, shape) -> np.ndarray:
    """``image`` (whose pixel (0, 0) is the slide's ``(top, left)``) with what lies off the slide
    zeroed: a cell grown past the slide's edge, clipped to it afterwards, folded its outline
    back on itself (a self-intersecting ring, invalid to QuPath and shapely)."""
    if shape is None:
        return image
    h, w = shape
    image[: max(0, -top)] = 0
    image[max(0, h - top) :] = 0
    image[:, : max(0, -left)] = 0
    image[:, max(0, w - left) :] = 0
    return image


def _outline(mask: np.ndarray, top: int, left: int, shape) -> np.ndarray | None:
    """The longest contour of ``mask`` (whose pixel (0, 0) is the slide's ``(top, left)``) as a
    closed x/y ring on pixel corners, clipped to the slide."""
    from skimage.measure import find_contours

    contours = find_contours(mask.astype(float), 0.5)
    if not contours:
        return None
    ring = max(contours, key=len)  # (row, col) between pixel centres
    xy = np.column_stack([ring[:, 1] + left, ring[:, 0] + top]) + 0.5  # -> pixel corners
    if shape is not None:
        xy = np.clip(xy, 0, [shape[1], shape[0]])
    if not np.array_equal(xy[0], xy[-1]):
        xy = np.vstack([xy, xy[:1]])
    return np.round(xy, 2)


def store_outlines(store, cell_ids, *, expand_px: int = 0) -> tuple[dict, dict]:
    """:func:`cell_outlines` of the cells ``cell_ids`` of a label store (boxes from its index)."""
    index = store.index
    return cell_outlines(store.read, index[index["CellID"].isin(cell_ids)], expand_px=expand_px, shape=store.shape)


def qupath_measurements(table: pd.DataFrame, pixel_size_um: float | None) -> dict[str, tuple[str, float]]:
    """``{column: (QuPath measurement name, factor)}`` for the table's marker statistics per
    compartment, morphology (in µm when the pixel size is known) and class probabilities."""
    names: dict[str, tuple[str, float]] = {}
    for column in table.columns:
        parts = str(column).rsplit("_", 2)
        if len(parts) == 3 and parts[1] in COMPARTMENT_NAMES and parts[2] in STATISTIC_NAMES:
            names[column] = (f"{COMPARTMENT_NAMES[parts[1]]}: {parts[0]} {STATISTIC_NAMES[parts[2]]}", 1.0)
        elif column in MORPHOLOGY_NAMES:
            name, power = MORPHOLOGY_NAMES[column]
            factor = 1.0
            if power and pixel_size_um is None:
                name = name.replace("µm^2", "px^2").replace("µm", "px")
            elif power and pixel_size_um is not None:
                factor = float(pixel_size_um) ** power
            names[column] = (name, factor)
        elif str(column).startswith("prob_"):
            names[column] = (f"Probability: {column[5:]}", 1.0)
        elif column in ORION_CHANNELS and f"{column}_cell_mean" not in table.columns:
            names[column] = (f"Cell: {column} mean", 1.0)  # a table with MCMICRO's columns only
    return names


def cells_geojson(
    table: pd.DataFrame,
    nuclei: dict[int, np.ndarray],
    cells: dict[int, np.ndarray] | None = None,
    *,
    class_column: str | None,
    measurements: dict[str, tuple[str, float]] | None = None,
    image_id: str = "",
    onto: Callable[[np.ndarray], np.ndarray] | None = None,
) -> dict:
    """A FeatureCollection of QuPath cell objects (see the module docstring). ``nuclei`` and
    ``cells``: outlines by CellID (a cell without a cell outline takes its nucleus's; one with
    neither becomes a detection Point at its centroid). ``measurements``: from
    :func:`qupath_measurements`. ``image_id``: what tells the slide apart, part of each cell's UUID.
    ``onto``: maps ``(K, 2)`` x/y pixel-corner coordinates onto another image's (the registered
    H&E's, :func:`pair_onto_he`); default: the slide's own."""
    place = (lambda xy: np.round(onto(np.asarray(xy, float)), 2)) if onto is not None else np.asarray
    names = table[class_column].to_numpy(object) if class_column else np.full(len(table), None, object)
    colours = class_rgb(names)
    measured = {name: table[column].to_numpy(float) * factor for column, (name, factor) in (measurements or {}).items()}
    xs, ys = table["X_centroid"].to_numpy(float), table["Y_centroid"].to_numpy(float)
    features = []
    for i, cell in enumerate(table["CellID"].to_numpy(np.int64).tolist()):
        nucleus = nuclei.get(cell)
        outline = (cells or {}).get(cell, nucleus)
        feature: dict = {"type": "Feature", "id": cell_id_uuid(cell, image_id)}
        props: dict = {"objectType": "cell" if nucleus is not None else "detection"}
        if nucleus is not None and outline is not None:
            feature["geometry"] = _polygon(place(outline))
            feature["nucleusGeometry"] = _polygon(place(nucleus))
        else:
            point = place(np.array([[xs[i] + 0.5, ys[i] + 0.5]]))[0]
            feature["geometry"] = {"type": "Point", "coordinates": [float(point[0]), float(point[1])]}
        if isinstance(names[i], str):
            props["classification"] = {"name": names[i], "color": list(colours[names[i]])}
        values = {name: float(v[i]) for name, v in measured.items() if np.isfinite(v[i])}
        if values:
            props["measurements"] = values
        props["metadata"] = {"CellID": str(cell)}
        feature["properties"] = props
        features.append(feature)
    return {"type": "FeatureCollection", "features": features}


def pair_onto_he(pair) -> Callable[[np.ndarray], np.ndarray]:
    """x/y pixel-corner coordinates of a pair's IF level 0 -> those of its H&E's level 0, by
    the registration (``he_um = if_um * scale + offset_um``, µm 0 at pixel 0's centre, as the
    viewer places the layers) and each slide's pixel size: :meth:`SlidePair.if_to_he_px`."""

    def onto(xy: np.ndarray) -> np.ndarray:
        y, x = pair.if_to_he_px(xy[:, 1] - 0.5, xy[:, 0] - 0.5)  # pixel corners -> centres and back
        return np.stack([x, y], axis=1) + 0.5

    return onto


def _polygon(ring: np.ndarray) -> dict:
    return {"type": "Polygon", "coordinates": [np.asarray(ring, float).tolist()]}


def write_geojson(doc: dict, path: str | Path) -> Path:
    return atomic_write(Path(path), lambda p: p.write_text(json.dumps(doc), encoding="utf-8"))


def write_cells_geojson(
    table: pd.DataFrame,
    path: str | Path,
    *,
    store=None,
    class_column: str | None,
    pixel_size_um: float | None = None,
    expand_um: float | None = None,
    image_id: str = "",
    onto: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Path:
    """QuPath GeoJSON of the table's cells: outlines from ``store`` (a label store; none: points),
    the cell outline grown by ``expand_um`` (default: quantification's), every measurement;
    ``pixel_size_um`` defaults to the store's. Ids are seeded by the slide's fingerprint the store
    records (the same whatever the export's route or the file's name), else by ``image_id``.
    ``onto``: the coordinates on another image (see :func:`cells_geojson`)."""
    from napari_ifcell.core.quantify.cells import QuantifySettings

    if pixel_size_um is None and store is not None:
        pixel_size_um = store.meta.get("pixel_size_um")
    nuclei: dict[int, np.ndarray] = {}
    cells = None
    if store is not None:
        settings = QuantifySettings() if expand_um is None else QuantifySettings(expand_um=expand_um)
        grow = settings.expand_px(pixel_size_um) if pixel_size_um else 0
        nuclei, cells = store_outlines(store, table["CellID"], expand_px=grow)
    recorded_slide = (store.meta.get("slide") or {}) if store is not None else {}
    doc = cells_geojson(
        table,
        nuclei,
        cells,
        class_column=class_column,
        measurements=qupath_measurements(table, pixel_size_um),
        image_id=recorded_slide.get("fingerprint") or image_id,
        onto=onto,
    )
    return write_geojson(doc, path)
