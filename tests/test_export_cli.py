"""``napari-ifcell export``: every format from one command, each loaded by the library that owns it."""

import json

import numpy as np
import pytest

from napari_ifcell.cli import main


@pytest.fixture(scope="module")
def gated(small_table, tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "gated.parquet"
    table = small_table.assign(phenotype=np.where(small_table["CD3e"] > small_table["CD3e"].median(), "CD4 T", "other"))
    table.to_parquet(path)
    return path, table


def test_one_command_writes_every_format(gated, small_pair, truth_store, tmp_path, capsys):
    import anndata
    import geojson

    path, table = gated
    outs = [tmp_path / n for n in ("cells.h5ad", "cells.geojson", "slide.ome.zarr", "cells.csv")]
    code = main(
        [
            "export",
            str(path),
            "--if",
            str(small_pair.if_path),
            "--store",
            str(truth_store.folder),
            "--out",
            *map(str, outs),
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert f"{len(table)} cells of synthetic_if.ome.tif" in capsys.readouterr().out
    adata = anndata.read_h5ad(outs[0])
    assert adata.n_obs == len(table) and "CD3e" in adata.var_names and "Hoechst" in adata.var_names
    doc = geojson.loads(outs[1].read_text())
    assert doc.is_valid and len(doc["features"]) == len(table)
    names = {f["properties"]["classification"]["name"] for f in doc["features"]}
    assert names == {"CD4 T", "other"}
    labels = json.loads((outs[2] / "labels" / "nuclei" / ".zattrs").read_text())["image-label"]
    assert {p.get("class") for p in labels["properties"]} == {"CD4 T", "other"}
    assert outs[3].read_text().splitlines()[0].startswith("CellID")


def test_spatialdata_of_a_pair(gated, small_pair, truth_store, tmp_path, capsys):
    spatialdata = pytest.importorskip("spatialdata", reason="needs the [spatialdata] extra")
    path, table = gated
    out = tmp_path / "pair.zarr"
    code = main(
        [
            "export", str(path), "--if", str(small_pair.if_path), "--he", str(small_pair.he_path),
            "--he-pixel-size", "0.325", "--store", str(truth_store.folder), "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    sdata = spatialdata.read_zarr(out)
    assert set(sdata.images) == {"synthetic_if", "he"} and set(sdata.labels) == {"nuclei"}
    assert sdata.tables["table"].n_obs == len(table)


def test_bad_requests_are_one_line_and_exit_2(gated, small_pair, tmp_path, capsys):
    path, _ = gated
    assert main(["export", str(path), "--if", str(small_pair.if_path), "--out", str(tmp_path / "x.docx")]) == 2
    err = capsys.readouterr().err.strip()
    assert "x.docx: unknown export format" in err and ".ome.zarr (OME-Zarr)" in err and len(err.splitlines()) == 1
    # a slide with no project folder and no table: nothing to export, said so
    lonely = tmp_path / "lonely.ome.tif"
    lonely.write_bytes(small_pair.if_path.read_bytes())
    assert main(["export", "--if", str(lonely), "--out", str(tmp_path / "a.geojson")]) == 2
    assert "nothing to export" in capsys.readouterr().err
    # GeoJSON without a table
    assert main(["export", "--if", str(lonely), "--store", str(tmp_path), "--out", str(tmp_path / "a.geojson")]) == 2
    assert "no label store" in capsys.readouterr().err
