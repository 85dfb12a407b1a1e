import json

import numpy as np
import pytest

from napari_ifcell.io.regions import Region, RegionFileError, load_regions, save_regions


def test_regions_round_trip_in_the_project_folder(tmp_path):
    regions = [
        Region.rectangle("sparse", 10, 20, 100, 200),
        Region("nest", "polygon", np.array([[0, 0], [0, 50], [40, 25]], float)),
    ]
    path = save_regions(regions, tmp_path / "slide.ifcell", pixel_size_um=0.325)
    assert path.name == "regions.json" and not list(path.parent.glob(".*partial*"))
    back = load_regions(tmp_path / "slide.ifcell")
    assert [r.name for r in back] == ["sparse", "nest"] and back[1].kind == "polygon"
    np.testing.assert_array_equal(back[0].vertices, regions[0].vertices)
    assert back[0].bounds == (10, 20, 100, 200)


def test_no_regions_yet_says_what_to_do(tmp_path):
    """The README's compare with --regions PROJECT on a project with none saved said
    "[Errno 2] No such file or directory: '.../regions.json'"."""
    (tmp_path / "slide.ifcell").mkdir()
    with pytest.raises(RegionFileError, match="no regions saved in this project yet.*--region NAME Y X H W"):
        load_regions(tmp_path / "slide.ifcell")
    with pytest.raises(RegionFileError, match="regions.json: no such file; expected a regions.json or a GeoJSON"):
        load_regions(tmp_path / "regions.json")


def test_duplicate_names_and_bad_fields_are_refused(tmp_path):
    with pytest.raises(RegionFileError, match="unique"):
        save_regions([Region.rectangle("a", 0, 0, 1, 1)] * 2, tmp_path)
    square = [[0, 0], [0, 5], [5, 5], [5, 0]]
    bad = [
        {"name": "a", "kind": "circle", "vertices_rc": []},
        {"name": "b", "kind": "polygon", "vertices_rc": [[0, 0], [0, "abc"], [5, 5]]},
        {"name": "c", "kind": "polygon", "vertices_rc": [[0, 0], [0, float("nan")], [5, 5]]},
        {"name": "d", "kind": "polygon", "vertices_rc": [[0, 0], [5, 5]]},
        {"name": "e", "kind": "rectangle", "vertices_rc": square},
        {"name": "e", "kind": "rectangle", "vertices_rc": square},
    ]
    (tmp_path / "r.json").write_text(json.dumps({"regions": bad}))
    with pytest.raises(RegionFileError) as error:
        load_regions(tmp_path / "r.json")
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'r.json'}: 5 problem(s) in the regions")
    assert "regions[0].kind: expected one of ('rectangle', 'polygon'), got 'circle'" in message
    for i in (1, 2, 3):  # text, NaN, two points: never a region nobody can see
        assert f"regions[{i}].vertices_rc: expected at least 3 [row, col] pairs of finite numbers" in message
    assert "region name(s) 'e' used twice" in message  # the Total would count its cells twice


def _feature(geometry_type, coordinates, **properties) -> dict:
    """A feature as QuPath writes it (File > Export objects as GeoJSON)."""
    properties = {"objectType": "annotation", **properties}
    return {
        "type": "Feature",
        "id": "a1b2",
        "geometry": {"type": geometry_type, "coordinates": coordinates},
        "properties": properties,
    }


def _ring(x, y, w, h) -> list:
    return [[x, y], [x + w, y], [x + w, y + h], [x, y + h], [x, y]]


def test_qupath_annotations_are_regions_named_by_name_or_class(tmp_path):
    """x, y become row, col; a MultiPolygon gives one region per part; a name used twice is told
    apart; detections and point annotations are left out with a note."""
    features = [
        _feature(
            "Polygon", [_ring(20, 10, 200, 100)], name="Tumor", classification={"name": "Tumor", "color": [200, 0, 0]}
        ),
        _feature("MultiPolygon", [[_ring(0, 0, 10, 10)], [_ring(50, 50, 10, 10)]], classification={"name": "Stroma"}),
        _feature("Polygon", [_ring(300, 300, 40, 40)], classification={"name": "Tumor"}),
        _feature("Polygon", [_ring(1, 1, 5, 5)], objectType="detection", classification={"name": "Tumor"}),
        _feature("Point", [5, 5], name="seed"),
    ]
    path = tmp_path / "annotations.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    with pytest.warns(UserWarning) as noted:
        regions = load_regions(path)
    assert [r.name for r in regions] == ["Tumor", "Stroma (1)", "Stroma (2)", "Tumor (2)"]
    assert all(r.kind == "polygon" and len(r.vertices) == 4 for r in regions)
    assert regions[0].bounds == (10, 20, 100, 200)  # y, x, h, w: the ring's x is the column
    assert regions[0].contains([50, 50, 5], [100, 230, 100]).tolist() == [True, False, False]
    said = " ".join(str(w.message) for w in noted)
    assert "region 4 'Tumor' -> 'Tumor (2)'" in said  # counted as the user counts, from 1
    assert "left out 1 detections, 1 Point annotations" in said
    # QuPath before 0.4 wrote a bare list of features, and "object_type"
    older = [{**f, "properties": {"object_type": f["properties"]["objectType"], "name": "Tumor"}} for f in features]
    path.write_text(json.dumps(older[:1] + older[3:4]))
    with pytest.warns(UserWarning, match="left out 1 detections"):
        assert [r.name for r in load_regions(path)] == ["Tumor"]


def test_annotations_that_cannot_be_regions_are_refused_with_what_to_do(tmp_path):
    path = tmp_path / "annotations.geojson"
    holed = _feature("Polygon", [_ring(0, 0, 100, 100), _ring(10, 10, 5, 5)], name="Tumor")
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [holed]}))
    with pytest.raises(RegionFileError, match="'Tumor': a polygon with 1 hole\\(s\\); a region is one outline"):
        load_regions(path)
    cells = [_feature("Polygon", [_ring(0, 0, 9, 9)], objectType="cell")] * 3
    path.write_text(json.dumps({"type": "FeatureCollection", "features": cells}))
    with pytest.raises(RegionFileError, match="the file holds 3 cells.*File > Export objects as GeoJSON, Annotations"):
        load_regions(path)


def test_the_recorded_pixel_size_is_checked_and_regions_stay_on_their_pixels(tmp_path):
    """A slide whose pixel size was corrected since (0.325 assumed, 0.5 given) is the same image:
    its regions stay on its pixels, with a note."""
    save_regions([Region.rectangle("nest", 100, 200, 50, 60)], tmp_path, pixel_size_um=0.325)
    with pytest.warns(
        UserWarning, match="taken as 0.325 µm/px and it is now 0.5 µm/px; they are kept on the same pixels"
    ):
        (nest,) = load_regions(tmp_path, pixel_size_um=0.5)
    assert nest.bounds == (100, 200, 50, 60)
    for wrong in ("0.325", -1, 0, float("nan"), True, 10**400):
        doc = json.loads((tmp_path / "regions.json").read_text())
        (tmp_path / "regions.json").write_text(json.dumps({**doc, "pixel_size_um": wrong}))
        with pytest.raises(RegionFileError, match="pixel_size_um: expected a positive number of µm per pixel or null"):
            load_regions(tmp_path)
