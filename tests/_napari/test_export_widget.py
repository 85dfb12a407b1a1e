"""The Export widget in a real viewer: the slide on screen, its project's cells, every format."""

from __future__ import annotations

import json
import shutil

import numpy as np

from napari_ifcell._napari.export_widget import CHOICES, ON_HE, ExportWidget
from napari_ifcell._napari.loader_widget import LoaderWidget
from napari_ifcell._napari.sources import given_path
from napari_ifcell._napari.state import SLIDES


def test_exports_the_slide_on_screen(make_napari_viewer, small_pair, small_table, truth_store, tmp_path):
    slide = tmp_path / "slide.ome.tif"
    shutil.copy(small_pair.if_path, slide)
    shutil.copytree(truth_store.folder, tmp_path / "slide.ifcell")  # the project's segmentation
    table = small_table.assign(
        phenotype=np.where(small_table["CD20"] > 2 * small_table["CD20"].median(), "B cell", "other")
    )
    table.to_parquet(tmp_path / "slide.ifcell" / "gated.parquet")  # what gating wrote
    viewer = make_napari_viewer()
    w = ExportWidget(viewer)
    w.export_button.changed.emit(True)
    assert w.status.value == "Cannot export: open a slide first (Loader)"
    loader = LoaderWidget(viewer)
    loader.open_pair(slide, small_pair.he_path)
    w._suggest_output()
    assert w.output.value == str(tmp_path / "slide.ifcell" / "exports" / "slide.geojson")
    w.export_button.changed.emit(True)  # the table left empty: the project's gated table
    assert w.status.value.startswith(f"Exported {len(table)} cells from gated.parquet"), w.status.value
    features = json.loads((tmp_path / "slide.ifcell" / "exports" / "slide.geojson").read_text())["features"]
    assert (
        sum(f["properties"]["classification"]["name"] == "B cell" for f in features)
        == (table.phenotype == "B cell").sum()
    )
    assert "QuPath" not in w.status.value  # the H&E on the IF's grid: either image takes the outlines
    loader.offset_y.value = 1.3  # the H&E registered 1.3 µm down: the outlines are the IF's, and it says so
    w.export_button.changed.emit(True)
    assert "outlines in level-0 pixels of slide.ome.tif (0.325 µm/px): import it onto that image" in w.status.value
    w.format.value = ON_HE  # for a QuPath project of the H&E: the same outlines, 4 px (1.3 µm) down
    assert w.output.value == str(tmp_path / "slide.ifcell" / "exports" / "slide_on_he.geojson")
    w.export_button.changed.emit(True)
    assert "outlines in level-0 pixels of synthetic_he.ome.tif (0.325 µm/px)" in w.status.value, w.status.value
    on_he, on_if = _nuclei(tmp_path / "slide.ifcell" / "exports", "slide_on_he.geojson", "slide.geojson")
    assert on_he.keys() == on_if.keys()
    for cell, ring in on_if.items():
        np.testing.assert_allclose(on_he[cell], ring + [0, 4], atol=0.011)
    # another format: the suggested name follows it
    w.format.value = "OME-Zarr image + labels (.ome.zarr)"
    assert w.output.value.endswith("slide.ome.zarr")
    w.export_button.changed.emit(True)
    assert w.status.value.startswith("Exported"), w.status.value
    attrs = json.loads((tmp_path / "slide.ifcell" / "exports" / "slide.ome.zarr" / ".zattrs").read_text())
    assert attrs["multiscales"][0]["axes"][0]["name"] == "c"
    # an output named with an unknown format is refused, nothing written
    w.output.value = str(tmp_path / "cells.xlsx")
    w.export_button.changed.emit(True)
    assert "unknown export format" in w.status.value and not (tmp_path / "cells.xlsx").exists()
    assert set(CHOICES.values()) >= {".geojson", ".ome.zarr", ".zarr", ".h5ad"}
    # another tool's cell masks as the labels: the same outlines as the project's store
    import tifffile

    masks = tmp_path / "cell_masks.tif"
    tifffile.imwrite(masks, np.asarray(truth_store.levels[0]).astype(np.int32), tile=(256, 256))
    w.labels_file.value = str(masks)
    w.format.value = "QuPath GeoJSON (.geojson)"
    w.output.value = str(tmp_path / "from_masks.geojson")
    w.export_button.changed.emit(True)
    assert w.status.value.startswith(f"Exported {len(table)} cells"), w.status.value
    outlines = [
        {f["properties"]["metadata"]["CellID"]: f["nucleusGeometry"] for f in json.loads(path.read_text())["features"]}
        for path in (tmp_path / "from_masks.geojson", tmp_path / "slide.ifcell" / "exports" / "slide.geojson")
    ]
    assert len(outlines[0]) == len(table) and outlines[0] == outlines[1]
    # another slide opened: its own project's cells, not the masks given for this one
    w._on_state_changed(SLIDES)
    assert given_path(w.labels_file) is None and given_path(w.table_file) is None


def _nuclei(folder, *names):
    """``{CellID: nucleus ring}`` of each GeoJSON file."""
    docs = (json.loads((folder / name).read_text())["features"] for name in names)
    return [
        {f["properties"]["metadata"]["CellID"]: np.array(f["nucleusGeometry"]["coordinates"][0]) for f in d}
        for d in docs
    ]
