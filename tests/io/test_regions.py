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
