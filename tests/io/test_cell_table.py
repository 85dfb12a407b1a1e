"""Cell tables: formats, atomic writes, clear errors, AnnData for scimap."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest

from napari_ifcell.io.cell_table import (
    CellTableError,
    read_cell_table,
    table_problems,
    to_anndata,
    write_anndata,
    write_cell_table,
)


@pytest.fixture
def table():
    return pd.DataFrame(
        {
            "CellID": [1, 2, 5],
            "X_centroid": [10.5, 20.0, 30.0],
            "Y_centroid": [1.0, 2.0, 3.0],
            "Area": [40, 50, 60],
            "CD3e": [100.0, 2000.0, 150.0],
            "CD20": [90.0, 95.0, 3000.0],
        }
    )


@pytest.mark.parametrize("name", ["cells.parquet", "cells.csv", "cells.tsv"])
def test_round_trip(tmp_path, table, name):
    path = write_cell_table(table, tmp_path / name)
    pd.testing.assert_frame_equal(read_cell_table(path), table, check_dtype=False)
    assert not list(tmp_path.glob(".*partial"))


@pytest.mark.parametrize("decimal", [",", "."])
def test_a_spreadsheets_semicolon_csv_reads_as_its_cells(tmp_path, table, decimal):
    """Saved by a European-locale spreadsheet (semicolons, decimal commas, a BOM) the table was
    one column, refused as missing every required one."""
    path = tmp_path / "cells.csv"
    path.write_text(table.to_csv(index=False, sep=";", decimal=decimal), encoding="utf-8-sig")
    assert ("10,5" in path.read_text()) == (decimal == ",")
    pd.testing.assert_frame_equal(read_cell_table(path), table, check_dtype=False)
    tsv = tmp_path / "cells.tsv"  # tabs in a file named .csv
    tsv.write_text(table.to_csv(index=False, sep="\t"))
    pd.testing.assert_frame_equal(read_cell_table(tsv.rename(tmp_path / "tabs.csv")), table, check_dtype=False)


def test_a_semicolon_csv_with_decimal_points_and_commas_in_its_text(tmp_path, table):
    """A text field "1,2" made every decimal-point number text; a quoted name's semicolons
    outvoted the commas of the header; a cp1252 file said only 'utf-8' codec can't decode."""
    path = tmp_path / "cells.csv"
    path.write_text(table.assign(Region=["1,2", "tumour", "1,2"]).to_csv(index=False, sep=";"))
    read = read_cell_table(path)
    assert read["X_centroid"].tolist() == [10.5, 20.0, 30.0] and read["Region"].tolist() == ["1,2", "tumour", "1,2"]
    quoted = table.rename(columns={"CD20": "CD20;clone L26;1:100;µm;lot 7;2024;ab;cd"})
    path.write_text(quoted.to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC))
    assert read_cell_table(path).columns.tolist() == quoted.columns.tolist()
    path.write_bytes(quoted.to_csv(index=False, sep=";", decimal=",").encode("cp1252"))
    with pytest.raises(CellTableError, match=r"cells\.csv: not UTF-8 text .*save it as 'CSV UTF-8'"):
        read_cell_table(path)


def test_unknown_format_and_missing_columns(tmp_path, table):
    with pytest.raises(CellTableError, match=r"cells\.xlsx: unknown table format"):
        write_cell_table(table, tmp_path / "cells.xlsx")
    table.drop(columns=["Y_centroid"]).to_csv(tmp_path / "partial.csv", index=False)
    with pytest.raises(CellTableError, match=r"partial\.csv: missing column\(s\) Y_centroid"):
        read_cell_table(tmp_path / "partial.csv")


def test_a_failed_write_keeps_the_previous_file(tmp_path, table, monkeypatch):
    path = write_cell_table(table, tmp_path / "cells.parquet")

    def crash(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", crash)
    with pytest.raises(OSError):
        write_cell_table(table.iloc[:1], path)
    monkeypatch.undo()
    assert len(read_cell_table(path)) == 3 and not list(tmp_path.glob(".*partial"))


def test_anndata_layout_for_scimap(tmp_path, table):
    adata = to_anndata(table, ["CD3e", "CD20", "CD8a"], image_id="slide1")
    assert list(adata.var_names) == ["CD3e", "CD20"]
    np.testing.assert_array_equal(adata.X[:, 0], [100, 2000, 150])
    assert list(adata.obs["imageid"].unique()) == ["slide1"] and "X_centroid" in adata.obs
    np.testing.assert_array_equal(adata.obsm["spatial"][0], [10.5, 1.0])
    import anndata

    path = write_anndata(table.assign(X_centroid_um=table["X_centroid"] * 0.325), tmp_path / "cells.h5ad", ["CD3e"])
    read = anndata.read_h5ad(path)
    assert read.shape == (3, 1)
    # what the numbers are measured in travels with them: MCMICRO's columns are in pixels
    assert read.uns["pixel_size_um"] == pytest.approx(0.325)
    assert {k: read.uns["units"][k] for k in ("X_centroid", "X_centroid_um", "Area", "spatial")} == {
        "X_centroid": "px",
        "X_centroid_um": "µm",
        "Area": "px²",
        "spatial": "px",
    }
    assert "CD20" not in read.uns["units"] and "pixel_size_um" not in to_anndata(table, ["CD3e"]).uns
    # predictions of an H&E slide alone: class probabilities as X, the slide's pixel size given
    predicted = to_anndata(table.assign(prob_other=0.7), ["prob_other"], pixel_size_um=0.5)
    assert predicted.uns["units"]["X"] == "probability of each class" and predicted.uns["pixel_size_um"] == 0.5


def test_an_anndata_file_reads_back_as_the_table_it_was_written_from(tmp_path, table):
    gated = table.assign(phenotype=["T cell", "other", "B cell"], CD3e_cell_mean=table["CD3e"])
    path = write_anndata(gated, tmp_path / "cells.h5ad", ["CD3e", "CD20"], image_id="slide1")
    read = read_cell_table(path)
    # MCMICRO's order: the markers right after CellID, so a bare table gates as one
    assert list(read.columns[:3]) == ["CellID", "CD3e", "CD20"]
    pd.testing.assert_frame_equal(read[gated.columns], gated, check_dtype=False)
    assert list(read["imageid"]) == ["slide1"] * 3 and read["phenotype"].dtype == object


def test_a_marker_named_with_a_slash_is_stored_and_read_back_by_its_name(tmp_path, table):
    """HDF5 takes ``/`` for a group: anndata warns on such obs columns (and will refuse them)."""
    import warnings

    import anndata

    slashed = table.rename(columns={"CD3e": "CD3/CD4"}).assign(**{"CD3/CD4_cell_mean": table["CD3e"]})
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        path = write_anndata(slashed, tmp_path / "slash.h5ad", ["CD3/CD4"])
    stored = anndata.read_h5ad(path)
    assert "CD3_CD4_cell_mean" in stored.obs and stored.uns["renamed_columns"] == {
        "CD3_CD4_cell_mean": "CD3/CD4_cell_mean"
    }
    read = read_cell_table(path)
    pd.testing.assert_frame_equal(read[slashed.columns], slashed, check_dtype=False)
    with pytest.raises(ValueError, match="'CD3/CD4_cell_mean' and 'CD3_CD4_cell_mean' would both be"):
        write_anndata(slashed.assign(CD3_CD4_cell_mean=1.0), tmp_path / "clash.h5ad", ["CD3/CD4"])


def test_a_scimap_anndata_gives_its_raw_intensities_and_ids_from_the_cell_names(tmp_path):
    """scimap keeps the intensities in ``raw``, their log in X, and the id in the cell names."""
    import anndata

    intensities = np.array([[100.0, 90.0], [2000.0, 95.0], [150.0, 3000.0]], dtype=np.float32)
    obs = pd.DataFrame(
        {"X_centroid": [10.5, 20.0, 30.0], "Y_centroid": [1.0, 2.0, 3.0], "imageid": ["s1"] * 3},
        index=["s1_1", "s1_2", "s1_5"],
    )
    adata = anndata.AnnData(X=np.log1p(intensities), obs=obs, var=pd.DataFrame(index=["CD3e", "CD20"]))
    adata.raw = anndata.AnnData(X=intensities, obs=obs, var=pd.DataFrame(index=["CD3e", "CD20"]))
    adata.write_h5ad(tmp_path / "scimap.h5ad")
    read = read_cell_table(tmp_path / "scimap.h5ad")
    assert list(read["CellID"]) == [1, 2, 5]
    np.testing.assert_array_equal(read[["CD3e", "CD20"]].to_numpy(), intensities)
    from napari_ifcell.pipeline.gating import read_table_to_gate

    np.testing.assert_array_equal(read_table_to_gate(tmp_path / "scimap.h5ad")["CD20_cell_mean"], [90, 95, 3000])
    del adata.raw
    adata.obs_names = ["0", "1", "2"]  # anndata's default names: row numbers, not the masks' ids
    adata.write_h5ad(tmp_path / "unnamed.h5ad")
    with pytest.raises(CellTableError, match=r"unnamed\.h5ad: obs has no CellID column and the cell names \('0'"):
        read_cell_table(tmp_path / "unnamed.h5ad")
    # squidpy's layout: the positions only in obsm["spatial"], other numbers in obs are no markers
    adata.obs = pd.DataFrame({"CellID": ["1", "2", "5"], "Area": [40, 50, 60]}, index=adata.obs_names)
    adata.obsm["spatial"] = np.array([[10.5, 1.0], [20.0, 2.0], [30.0, 3.0]])
    adata.write_h5ad(tmp_path / "squidpy.h5ad")
    read = read_table_to_gate(tmp_path / "squidpy.h5ad")
    assert list(read["CellID"]) == [1, 2, 5] and list(read["Y_centroid"]) == [1.0, 2.0, 3.0]
    assert {c for c in read.columns if c.endswith("_cell_mean")} == {"CD3e_cell_mean", "CD20_cell_mean"}


def test_a_large_table_keeps_its_word_columns_and_its_one_bad_number_is_still_found():
    """Million-cell tables are judged per column from a sample; text in a column of numbers is
    still found wherever it is, and columns of words (states, phenotypes) are left alone."""
    n = 20_000
    rng = np.random.default_rng(0)
    means = rng.random(n).astype(object)
    means[17_321] = "n/a"
    table = pd.DataFrame(
        {
            "CellID": np.arange(1, n + 1),
            "X_centroid": rng.random(n),
            "Y_centroid": rng.random(n),
            "CD3e_state": rng.choice(["negative", "positive", "uncertain"], n).astype(object),
            "phenotype": rng.choice(["B cell", "other", "3"], n).astype(object),
            "CD3e_cell_mean": means,
        }
    )
    assert table_problems(table) == [
        "CD3e_cell_mean: 1 value(s) are not numbers, the first in row 17,322 (counted from 1): 'n/a'"
    ]
