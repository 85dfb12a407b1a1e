import json

import joblib
import numpy as np
import pytest
import zarr

from napari_ifcell.core.compare.type_maps import PRESETS, type_map
from napari_ifcell.io.detections import (
    DetectionFileError,
    Frame,
    UntrustedFileError,
    read_detections,
    tiatoolbox_output,
)

SLIDE_UM = 0.325
SAME = Frame(SLIDE_UM, SLIDE_UM)


def hovernet_doc():
    # ids from 1 with gaps; bbox is [[rmin, cmin], [rmax, cmax]], centroid and contour are [x, y]
    return {
        "mag": 20,
        "nuc": {
            "1": {
                "bbox": [[35, 95], [45, 105]],
                "centroid": [100.0, 40.0],
                "contour": [[95, 35], [105, 35], [105, 45], [95, 45]],
                "type": 3,
                "type_prob": 0.9,
            },
            "7": {
                "bbox": [[5, 195], [15, 205]],
                "centroid": [200.0, 10.0],
                "contour": [[195, 5], [205, 5], [205, 15], [195, 15]],
                "type": 2,
                "type_prob": 0.6,
            },
        },
    }


def test_hovernet_json_centroid_is_x_y(tmp_path):
    path = tmp_path / "hovernet.json"
    path.write_text(json.dumps(hovernet_doc()))
    cells = read_detections(path, SAME)
    assert cells[["y", "x"]].to_numpy().tolist() == [[40.0, 100.0], [10.0, 200.0]]  # row = centroid[1]
    assert cells["type"].tolist() == [3, 2] and cells["prob"].tolist() == [0.9, 0.6]
    assert cells["contour"][0][:, 0].min() == 35 and cells["contour"][0][:, 1].min() == 95  # contour rows are y


def test_resolution_origin_and_registration_offset(tmp_path):
    path = tmp_path / "hovernet.json"
    path.write_text(json.dumps(hovernet_doc()))
    # HoVer-Net ran at 0.5 µm/px on a crop starting at row 1000, col 2000 of the slide
    cells = read_detections(path, Frame(0.5, SLIDE_UM, origin_px=(1000, 2000)))
    assert cells.loc[0, "y"] == pytest.approx(1000 + 40 * 0.5 / SLIDE_UM)
    assert cells.loc[0, "x"] == pytest.approx(2000 + 100 * 0.5 / SLIDE_UM)
    # the H&E sits 0.65 µm below / 0.325 µm left of the IF: 2 px up, 1 px right on the IF grid
    shifted = read_detections(path, Frame(SLIDE_UM, SLIDE_UM, offset_um=(0.65, -0.325)))
    assert shifted[["y", "x"]].to_numpy()[0].tolist() == pytest.approx([38.0, 101.0])


def tia_instances():
    return {
        0: {
            "box": (95, 35, 105, 45),
            "centroid": (100.0, 40.0),
            "contour": [[95, 35], [105, 35], [105, 45]],
            "type": 3,
            "prob": 0.8,
        }
    }


def test_tiatoolbox_dat_needs_trust(tmp_path):
    path = tmp_path / "wsi.dat"
    joblib.dump(tia_instances(), path)
    with pytest.raises(UntrustedFileError, match="pickle"):
        read_detections(path, SAME)
    cells = read_detections(path, SAME, trust=True)
    assert cells[["y", "x"]].to_numpy().tolist() == [[40.0, 100.0]]


def test_tiatoolbox_columns_dict_json_and_zarr(tmp_path):
    columns = {
        "box": [[95, 35, 105, 45], [10, 20, 14, 30]],
        "centroid": [[100.0, 40.0], [12.0, 25.0]],
        "prob": [0.8, 0.4],
        "type": [3, 6],
    }
    in_memory = tiatoolbox_output(columns, SAME)
    assert in_memory[["y", "x"]].to_numpy().tolist() == [[40.0, 100.0], [25.0, 12.0]]
    assert tiatoolbox_output(tia_instances(), SAME)[["y", "x"]].to_numpy().tolist() == [[40.0, 100.0]]
    (tmp_path / "out.json").write_text(json.dumps(columns))
    assert read_detections(tmp_path / "out.json", SAME)[["y", "x"]].to_numpy().tolist() == [[40.0, 100.0], [25.0, 12.0]]
    group = zarr.open_group(tmp_path / "out.zarr", mode="w")
    for name, values in columns.items():
        group.create_array(name, data=np.asarray(values))
    cells = read_detections(tmp_path / "out.zarr", SAME)
    assert cells[["y", "x"]].to_numpy().tolist() == [[40.0, 100.0], [25.0, 12.0]]
    assert cells["type"].tolist() == [3, 6]


def test_qupath_geojson_polygons_and_points(tmp_path):
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [[[10, 30], [20, 30], [20, 50], [10, 50], [10, 30]]]},
                "properties": {
                    "objectType": "detection",
                    "classification": {"name": "Lymphocyte", "color": [255, 0, 0]},
                },
            },
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [7, 3]},
                "properties": {"objectType": "detection", "classification": {"name": "Tumor"}},
            },
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [500, 0], [500, 500], [0, 0]]]},
                "properties": {"objectType": "annotation", "name": "ROI"},
            },
        ],
    }
    path = tmp_path / "cells.geojson"
    path.write_text(json.dumps(doc))
    cells = read_detections(path, SAME)
    assert cells[["y", "x"]].to_numpy().tolist() == [
        [39.5, 14.5],
        [2.5, 6.5],
    ]  # annotation skipped; QuPath pixel corners -> centres
    names = type_map("names")
    assert [names.class_of(t) for t in cells["type"]] == ["lymphocyte", "other"]


def test_qupath_derived_classes_take_their_base_class(tmp_path):
    """QuPath writes a derived class as ``{"names": ["Lymphocyte", "Positive"]}``: every such
    cell counted as 'other' (lymphocyte recall 0). Its base class maps it, unless the map names
    the derived class itself."""
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [5 + i, 5]},
            "properties": {"objectType": "detection", "classification": classification},
        }
        for i, classification in enumerate(
            [{"names": ["Lymphocyte", "Positive"]}, {"names": ["Tumor", "Negative"]}, {"name": "Lymphocyte"}]
        )
    ]
    path = tmp_path / "derived.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    cells = read_detections(path, SAME)
    assert cells["type"].tolist() == ["Lymphocyte: Positive", "Tumor: Negative", "Lymphocyte"]
    names = type_map("names")
    assert [names.class_of(t) for t in cells["type"]] == ["lymphocyte", "other", "lymphocyte"]
    assert names.knows("Lymphocyte: Positive") and not names.knows("Glitter: Positive")
    own = type_map({"classes": {"Lymphocyte: Positive": "other", "lymphocyte": "lymphocyte"}})
    assert [own.class_of(t) for t in cells["type"]] == ["other", "other", "lymphocyte"]


def test_bad_files_name_the_file_and_field(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"nuc": {"3": {"centroid": [1.0]}}}))
    with pytest.raises(DetectionFileError, match=r"bad.json: nuc\['3'\].centroid: expected \[x, y\]"):
        read_detections(bad, SAME)
    broken = tmp_path / "broken.json"
    broken.write_text("{nope")
    with pytest.raises(DetectionFileError, match="broken.json"):
        read_detections(broken, SAME)
    with pytest.raises(FileNotFoundError, match="missing.json"):
        read_detections(tmp_path / "missing.json", SAME)


@pytest.mark.parametrize(
    "contour",
    [[[95, 35], [105, float("nan")], [105, 45]], [[95, 35], [105, "abc"], [105, 45]], [[95, 35], [105, 35]], [1, 2, 3]],
    ids=["NaN", "text", "two points", "flat list"],
)
def test_a_contour_that_is_no_polygon_is_refused_with_its_cell(contour, tmp_path):
    doc = hovernet_doc()
    doc["nuc"]["7"]["contour"] = contour
    path = tmp_path / "hovernet.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(
        DetectionFileError, match=r"hovernet.json: nuc\['7'\].contour: expected a polygon: at least 3 \[x, y\] points"
    ):
        read_detections(path, SAME)
    geojson = {  # the same in QuPath's GeoJSON
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [contour]}, "properties": {}}],
    }
    path = tmp_path / "cells.geojson"
    path.write_text(json.dumps(geojson))
    with pytest.raises(
        DetectionFileError, match=r"cells.geojson: features\[0\].geometry.coordinates\[0\]: expected a polygon"
    ):
        read_detections(path, SAME)


def test_type_map_presets_and_custom():
    assert [PRESETS["lizard"].class_of(i) for i in range(7)] == [
        "other",
        "other",
        "other",
        "lymphocyte",
        "other",
        "other",
        "other",
    ]
    assert PRESETS["lizard"].um_per_px == 0.5 and PRESETS["pannuke"].um_per_px == 0.25
    assert PRESETS["monusac"].class_of(2) == "lymphocyte" and PRESETS["monusac"].class_of(3) == "other"
    assert PRESETS["consep"].class_of(2) == "lymphocyte" and PRESETS["pannuke"].class_of(2) == "lymphocyte"
    custom = type_map(
        {"names": {1: "immune", 2: "tumour", 9: "junk"}, "classes": {"immune": "lymphocyte", "junk": None}}
    )
    assert [custom.class_of(i) for i in (1, 2, 9, 5)] == ["lymphocyte", "other", None, "other"]
    assert type_map({"4": "lymphocyte"}).class_of(4) == "lymphocyte"
    with pytest.raises(ValueError, match="unknown type map 'hovernet'"):
        type_map("hovernet")
