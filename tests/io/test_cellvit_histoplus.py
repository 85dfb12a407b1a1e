"""CellViT, CellViT++ and HistoPLUS outputs, written in the layouts their code writes (the
keys and axes read from TIO-IKIM/CellViT, CellViT-plus-plus / CellViT-Inference and
owkin/histoplus), imported as detection sources and scored against the truth."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from napari_ifcell.io.detections import DetectionFileError, Frame, detect_format, read_detections
from napari_ifcell.notes import Note
from napari_ifcell.pipeline.compare import compare_models, truth_cells
from napari_ifcell.pipeline.detection_source import DetectionSource

PX = 0.325
PANNUKE = {"Background": 0, "Neoplastic": 1, "Inflammatory": 2, "Connective": 3, "Dead": 4, "Epithelial": 5}
COLOURS = {1: [255, 0, 0], 2: [34, 221, 77], 3: [35, 92, 236]}


@pytest.fixture(scope="module")
def cells(small_table):
    """The truth's cells with a model's view of them: lymphocytes 'Inflammatory', the rest
    'Neoplastic' or 'Connective'; each with a square outline around its centroid."""
    rng = np.random.default_rng(3)
    lymph = (small_table["CD3e"] > small_table["CD3e"].quantile(0.7)).to_numpy()
    kind = np.where(lymph, 2, rng.choice([1, 3], len(small_table)))
    x, y = small_table["X_centroid"].to_numpy(), small_table["Y_centroid"].to_numpy()
    square = np.array([[-3, -3], [3, -3], [3, 3], [-3, 3], [-3, -3]], float)
    contours = [square + (xi, yi) for xi, yi in zip(x, y)]
    truth = truth_cells(small_table.assign(phenotype=np.where(lymph, "CD8 T", "other")))
    return pd.DataFrame({"x": x, "y": y, "type": kind, "contour": contours}), truth


def cellvit_cells(cells):
    return [
        {
            "bbox": [[int(r.y) - 3, int(r.x) - 3], [int(r.y) + 3, int(r.x) + 3]],  # row / col
            "centroid": [float(r.x), float(r.y)],  # x / y
            "contour": r.contour.tolist(),
            "type_prob": 0.9,
            "type": int(r.type),
            "patch_coordinates": [0, 0],
            "cell_status": 0,
            "offset_global": [0, 0],
        }
        for r in cells.itertuples()
    ]


def test_cellvit_json_both_type_map_directions_and_snappy(cells, tmp_path):
    import snappy  # python-snappy ([testing]) reads CellViT++'s --compression files

    table, _ = cells
    cellvit = {"wsi_metadata": {"base_mpp": PX}, "processed_patches": ["0_0"], "type_map": PANNUKE}
    cellvit["cells"] = cellvit_cells(table)
    (tmp_path / "cells.json").write_text(json.dumps(cellvit))
    plus = {"wsi_metadata": {}, "type_map": {"1": "Neoplastic", "2": "Inflammatory", "3": "Connective"}}
    plus["cells"] = cellvit["cells"]
    (tmp_path / "slide_cells.json.snappy").write_bytes(snappy.compress(json.dumps(plus).encode()))
    for name in ("cells.json", "slide_cells.json.snappy"):
        assert detect_format(tmp_path / name) == "cellvit-json"
        read = read_detections(tmp_path / name, Frame(PX, PX))
        assert len(read) == len(table)
        assert np.allclose(read["x"], table["x"]) and np.allclose(read["y"], table["y"])
        names = {1: "Neoplastic", 2: "Inflammatory", 3: "Connective"}
        assert read["type"].tolist() == [names[t] for t in table["type"]]
        assert np.allclose(read["contour"].iloc[0][0], [table["y"].iloc[0] - 3, table["x"].iloc[0] - 3])


def test_cellvit_geojson_groups_cells_by_class(cells, tmp_path):
    table, _ = cells
    features = []
    for kind, name in ((1, "Neoplastic"), (2, "Inflammatory"), (3, "Connective")):
        rings = [[c.tolist()] for c in table.loc[table["type"] == kind, "contour"]]
        features.append(
            {
                "type": "Feature",
                "id": "5f3c-0000",
                "geometry": {"type": "MultiPolygon", "coordinates": rings},
                "properties": {"objectType": "annotation", "classification": {"name": name, "color": COLOURS[kind]}},
            }
        )
    (tmp_path / "cells.geojson").write_text(json.dumps(features))
    points = [
        {
            "type": "Feature",
            "geometry": {"type": "MultiPoint", "coordinates": table[["x", "y"]].to_numpy().tolist()},
            "properties": {"objectType": "annotation", "classification": {"name": "Inflammatory", "color": [0, 0, 0]}},
        }
    ]
    (tmp_path / "cell_detection.geojson").write_text(json.dumps(points))
    assert detect_format(tmp_path / "cells.geojson") == "cellvit-geojson"
    read = read_detections(tmp_path / "cells.geojson", Frame(PX, PX))
    assert len(read) == len(table) and set(read["type"]) == {"Neoplastic", "Inflammatory", "Connective"}
    order = np.lexsort((read["x"], read["y"]))
    expected = np.lexsort((table["x"], table["y"]))
    assert np.allclose(read["y"].to_numpy()[order], table["y"].to_numpy()[expected], atol=1e-6)
    dots = read_detections(tmp_path / "cell_detection.geojson", Frame(PX, PX))
    assert len(dots) == len(table) and dots["contour"].isna().all()


def test_histoplus_tiles_at_its_deepzoom_level(cells, tmp_path):
    table, _ = cells
    # HistoPLUS stores cells per 224-px tile of a DeepZoom level, here at twice the slide's pixel size
    names = {1: "Cancer cell", 2: "Lymphocytes", 3: "Fibroblasts"}
    tiles = {}
    for r in table.itertuples():
        x, y = r.x / 2, r.y / 2  # the coarser level's pixels
        col, row = int(x // 224), int(y // 224)
        mask = {
            "cell_id": float(len(tiles.get((col, row), []))),
            "cell_type": names[r.type],
            "confidence": 0.8,
            "coordinates": ((r.contour / 2) - (col * 224, row * 224)).tolist(),
            "centroid": [x - col * 224, y - row * 224],
        }
        tiles.setdefault((col, row), []).append(mask)
    doc = {
        "model_name": "histoplus_v1",
        "inference_mpp": 0.25,
        "cell_masks": [
            {"level": 15.0, "x": float(c), "y": float(r), "width": 224.0, "height": 224.0, "masks": m}
            for (c, r), m in tiles.items()
        ],
    }
    (tmp_path / "cell_masks.json").write_text(json.dumps(doc))
    assert detect_format(tmp_path / "cell_masks.json") == "histoplus-json"
    read = read_detections(tmp_path / "cell_masks.json", Frame(2 * PX, PX))  # coordinates at 0.65 µm/px
    assert len(read) == len(table)
    order = np.lexsort((read["x"], read["y"]))
    expected = np.lexsort((table["x"], table["y"]))
    assert np.allclose(read["x"].to_numpy()[order], table["x"].to_numpy()[expected])


def test_cellvit_scored_against_the_truth(cells, tmp_path):
    from napari_ifcell.io.regions import Region

    table, truth = cells
    doc = {"wsi_metadata": {}, "type_map": PANNUKE, "cells": cellvit_cells(table)}
    (tmp_path / "cells.json").write_text(json.dumps(doc))
    model = DetectionSource(tmp_path / "cells.json").read(PX)  # auto: the map CellViT's format implies
    report, _, _ = compare_models([Region.rectangle("all", 0, 0, 1100, 1400)], truth, {"CellViT": model}, um_per_px=PX)
    total = report.set_index("region").loc["Total"]
    assert total["CellViT lymphocyte F1"] == pytest.approx(1.0)
    # a map of another taxonomy knows none of its names: every cell would be 'other', and a note says so
    with pytest.warns(
        Note, match=r"cells.json: none of its cell types \(.*'Inflammatory'.*\) is in the type map 'monusac'"
    ):
        wrong = DetectionSource(tmp_path / "cells.json", type_map="monusac").read(PX)
    assert set(wrong["class"]) == {"other"}
    # a crop without lymphocytes under its own map: no note (the map lists lymphocyte names only)
    others = [c for c in cellvit_cells(table) if c["type"] != 2]
    (tmp_path / "others.json").write_text(json.dumps({"wsi_metadata": {}, "type_map": PANNUKE, "cells": others}))
    with warnings.catch_warnings():
        warnings.simplefilter("error", Note)
        assert set(DetectionSource(tmp_path / "others.json").read(PX)["class"]) == {"other"}
    (tmp_path / "empty.json").write_text(json.dumps({"wsi_metadata": {}, "type_map": PANNUKE, "cells": []}))
    with pytest.warns(Note, match="empty.json: no cells in the file"):
        assert not len(DetectionSource(tmp_path / "empty.json").read(PX))


def test_broken_files_name_the_field(tmp_path):
    (tmp_path / "cells.json").write_text(json.dumps({"type_map": PANNUKE, "cells": [{"centroid": "here", "type": 1}]}))
    with pytest.raises(DetectionFileError, match=r"cells\[0\]\.centroid: expected \[x, y\]"):
        read_detections(tmp_path / "cells.json", Frame(PX, PX))
    (tmp_path / "cell_masks.json").write_text(json.dumps({"cell_masks": [{"x": 0, "y": 0}]}))
    with pytest.raises(DetectionFileError, match=r"cell_masks\[0\]: expected a tile"):
        read_detections(tmp_path / "cell_masks.json", Frame(PX, PX))
    (tmp_path / "x.json.snappy").write_bytes(b"not snappy")
    with pytest.raises(DetectionFileError, match="snappy"):
        read_detections(tmp_path / "x.json.snappy", Frame(PX, PX))


def test_every_detection_format_has_a_type_map_and_bare_ids_name_the_guess(tmp_path):
    from napari_ifcell.io.detections import FORMATS
    from napari_ifcell.pipeline.detection_source import FORMAT_TYPE_MAPS

    assert set(FORMAT_TYPE_MAPS) == set(FORMATS)
    doc = {"mag": 40, "nuc": {"1": {"centroid": [10.0, 20.0], "type": 3, "contour": [[9, 19], [11, 19], [11, 21]]}}}
    (tmp_path / "hovernet.json").write_text(json.dumps(doc))
    with pytest.warns(Note, match="type map 'lizard' assumed"):
        cells = DetectionSource(tmp_path / "hovernet.json").read(PX)
    assert cells["class"].tolist() == ["lymphocyte"]  # Lizard's 3
