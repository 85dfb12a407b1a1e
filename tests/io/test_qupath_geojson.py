"""QuPath GeoJSON as QuPath 0.4+ writes cell objects: checked field by field against what its
object adapter reads, with the `geojson` package for the geometries, and read back by our
detection importer."""

import json
import uuid

import numpy as np
import pytest

from napari_ifcell.io.detections import DetectionFileError, Frame, read_detections
from napari_ifcell.io.qupath_geojson import write_cells_geojson

PX = 0.325


def ring_area(ring) -> float:
    x, y = np.asarray(ring, float).T
    return abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2


@pytest.fixture(scope="module")
def exported(small_table, truth_store, tmp_path_factory):
    table = small_table.assign(
        phenotype=np.where(small_table["CD20"] > small_table["CD20"].median(), "B cell", "other")
    )
    path = write_cells_geojson(
        table, tmp_path_factory.mktemp("qupath") / "cells.geojson", store=truth_store, class_column="phenotype"
    )
    return table, path, json.loads(path.read_text(encoding="utf-8"))


def test_every_cell_is_a_qupath_cell_object(exported):
    import geojson

    table, _, doc = exported
    features = doc["features"]
    assert doc["type"] == "FeatureCollection" and len(features) == len(table)
    ids = [f["id"] for f in features]
    assert len(set(ids)) == len(ids) and all(uuid.UUID(i).version == 5 for i in ids)
    for feature in features[:200]:
        props = feature["properties"]
        assert props["objectType"] == "cell"
        assert "nucleusGeometry" not in props  # beside geometry, where QuPath reads it
        for key in ("geometry", "nucleusGeometry"):
            polygon = geojson.Polygon(feature[key]["coordinates"])
            assert polygon.is_valid, polygon.errors()
        assert props["classification"]["name"] in ("B cell", "other")
        assert len(props["classification"]["color"]) == 3
        assert isinstance(props["measurements"], dict)  # QuPath 0.4+: an object, not a list


def test_outlines_and_measurements_are_the_table_s(exported):
    table, _, doc = exported
    by_id = {int(f["properties"]["metadata"]["CellID"]): f for f in doc["features"]}
    grown, areas = [], []
    for row in table.sample(150, random_state=0).itertuples():
        feature = by_id[row.CellID]
        m = feature["properties"]["measurements"]
        assert m["Nucleus: CD3e mean"] == pytest.approx(row.CD3e_nucleus_mean)
        assert m["Cytoplasm: CD3e mean"] == pytest.approx(row.CD3e_ring_mean, nan_ok=True)
        assert m["Cell: Hoechst mean"] == pytest.approx(row.Hoechst_cell_mean)
        assert m["Nucleus: Area µm^2"] == pytest.approx(row.Area * PX**2)
        nucleus = ring_area(feature["nucleusGeometry"]["coordinates"][0])
        areas.append(nucleus / row.Area)
        grown.append(ring_area(feature["geometry"]["coordinates"][0]) - nucleus)
    # a contour at half-pixel level encloses about the mask's pixel count (less its rim)
    assert 0.8 < np.median(areas) < 1.05
    # the cell outline is the nucleus grown by 1.625 µm (5 px): a band around it, not the nucleus
    assert np.median(grown) > 40


def test_read_back_by_the_detection_importer(exported):
    table, path, _ = exported
    cells = read_detections(path, Frame(PX, PX))
    assert len(cells) == len(table)
    assert (cells["type"].to_numpy() == table["phenotype"].to_numpy()).all()
    # the importer takes the nucleus outline's centroid: within a pixel of the mask's
    assert np.abs(cells["y"].to_numpy() - table["Y_centroid"].to_numpy()).max() < 1.0
    assert np.abs(cells["x"].to_numpy() - table["X_centroid"].to_numpy()).max() < 1.0


def test_points_without_a_store_and_pixel_units_without_a_size(small_table, tmp_path):
    path = write_cells_geojson(small_table.head(20), tmp_path / "p.geojson", class_column=None)
    features = json.loads(path.read_text())["features"]
    assert {f["geometry"]["type"] for f in features} == {"Point"}
    assert {f["properties"]["objectType"] for f in features} == {"detection"}
    assert "Nucleus: Area px^2" in features[0]["properties"]["measurements"]
    assert "classification" not in features[0]["properties"]


def test_ids_are_stable_per_slide_and_apart_across_slides(small_table, tmp_path):
    # CellIDs start at 1 on every slide: GeoJSON of two slides merged (QuPath, geopandas) must not
    # share ids, while the same slide exported twice keeps them
    def ids(name, image_id):
        path = write_cells_geojson(small_table.head(50), tmp_path / name, class_column=None, image_id=image_id)
        return [f["id"] for f in json.loads(path.read_text())["features"]]

    first, again, other = ids("a.geojson", "case1"), ids("b.geojson", "case1"), ids("c.geojson", "case2")
    assert first == again and len(set(first)) == 50
    assert not set(first) & set(other)


def test_ids_follow_the_slide_its_store_records_whatever_the_route(small_pair, small_table, truth_store, tmp_path):
    # export names the slide by its file, review-export by its project folder: the store's
    # record of its slide seeds the ids, so both give a cell the same id
    import shutil

    from napari_ifcell.io import open_slide
    from napari_ifcell.io.label_store import LabelStore, slide_identity

    shutil.copytree(truth_store.folder, tmp_path / "store")
    store = LabelStore.open(tmp_path / "store")
    with open_slide(small_pair.if_path) as slide:
        store.check_slide(slide_identity(slide))  # a store made before stores recorded their slide adopts it

    def ids(image_id, store):
        path = write_cells_geojson(
            small_table.head(30), tmp_path / f"{image_id}.geojson", store=store, class_column=None, image_id=image_id
        )
        return [f["id"] for f in json.loads(path.read_text())["features"]]

    assert ids("synthetic_if", store) == ids("review", store)
    assert ids("synthetic_if", store) != ids("synthetic_if", None)  # seeded by the slide, not its name


def test_qupath_03_measurement_lists_and_derived_classes_are_read(tmp_path):
    # QuPath before 0.4 wrote measurements as [{name, value}]; derived classes as "names"
    ring = [[10, 10], [20, 10], [20, 20], [10, 20], [10, 10]]
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {
                    "object_type": "cell",
                    "classification": {"names": ["Tumor", "Positive"], "color": [200, 0, 0]},
                    "measurements": [{"name": "prob", "value": 0.75}],
                },
            }
        ],
    }
    (tmp_path / "old.geojson").write_text(json.dumps(doc))
    cells = read_detections(tmp_path / "old.geojson", Frame(PX, PX))
    assert cells["type"].tolist() == ["Tumor: Positive"]
    assert cells["prob"].tolist() == [0.75]
    assert (cells["y"].iloc[0], cells["x"].iloc[0]) == pytest.approx((14.5, 14.5))  # pixel corners -> centres


def test_a_cell_in_two_parts_is_read_at_their_joint_centroid(tmp_path):
    """QuPath writes a MultiPolygon for a detection in parts: one cell, placed at the parts'
    area-weighted centroid, outlined by its largest part; a bad geometry names its type only."""
    big = [[0, 0], [20, 0], [20, 10], [0, 10], [0, 0]]  # area 200, centre (10, 5)
    small = [[30, 0], [40, 0], [40, 5], [30, 5], [30, 0]]  # area 50, centre (35, 2.5)

    def feature(geometry):
        return {"type": "Feature", "geometry": geometry, "properties": {"objectType": "detection"}}

    doc = {
        "type": "FeatureCollection",
        "features": [feature({"type": "MultiPolygon", "coordinates": [[big], [], [small]]})],
    }
    (tmp_path / "parts.geojson").write_text(json.dumps(doc))
    cells = read_detections(tmp_path / "parts.geojson", Frame(PX, PX))
    assert len(cells) == 1
    x, y = (10 * 200 + 35 * 50) / 250, (5 * 200 + 2.5 * 50) / 250
    assert (cells["y"].iloc[0], cells["x"].iloc[0]) == pytest.approx((y - 0.5, x - 0.5))
    assert cells["contour"].iloc[0][:, 1].max() == pytest.approx(19.5)  # the big part, as (row, col)
    doc["features"] = [feature({"type": "LineString", "coordinates": [[0, 0], [5, 5]] * 50})]
    (tmp_path / "line.geojson").write_text(json.dumps(doc))
    with pytest.raises(
        DetectionFileError,
        match=r"features\[0\]\.geometry: expected a Polygon, MultiPolygon or Point, got type 'LineString'$",
    ):
        read_detections(tmp_path / "line.geojson", Frame(PX, PX))


def test_cells_grown_at_the_slide_edge_have_simple_rings_on_the_slide():
    """A cell grown past the slide's edge and clipped back folded its ring onto the edge (shapely
    found 4 of 2,186 rings self-intersecting); now it is grown on the slide only."""
    import pandas as pd

    from napari_ifcell.io.qupath_geojson import cell_outlines

    h, w = 60, 80
    labels = np.zeros((h, w), np.int32)
    labels[20:30, 74:80] = 1  # against the right edge
    labels[0:6, 0:6] = 2  # in the top-left corner
    labels[52:60, 30:40] = 3  # against the bottom

    def read(y, x, rh, rw):
        out = np.zeros((rh, rw), np.int32)
        ys, xs = slice(max(y, 0), min(y + rh, h)), slice(max(x, 0), min(x + rw, w))
        out[ys.start - y : ys.stop - y, xs.start - x : xs.stop - x] = labels[ys, xs]
        return out

    boxes = pd.DataFrame(
        {"CellID": [1, 2, 3], "y0": [20, 0, 52], "x0": [74, 0, 30], "y1": [30, 6, 60], "x1": [80, 6, 40]}
    )
    nuclei, grown = cell_outlines(read, boxes, expand_px=4, shape=(h, w))
    for cell_id in (1, 2, 3):
        for ring in (nuclei[cell_id], grown[cell_id]):
            assert ring[:, 0].min() >= 0 and ring[:, 0].max() <= w and ring[:, 1].min() >= 0 and ring[:, 1].max() <= h
            corners = {tuple(p) for p in ring[:-1]}
            assert len(corners) == len(ring) - 1, f"cell {cell_id}: a vertex visited twice (a folded ring)"
        assert ring_area(grown[cell_id]) > ring_area(nuclei[cell_id])
