"""``napari-ifcell export``: every format from one command, each loaded by the library that owns it."""

import json

import numpy as np
import pandas as pd
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


def test_anndata_keeps_a_marker_the_table_names_otherwise_than_the_slide(gated, small_pair, tmp_path, capsys):
    """An MCMICRO table naming the nuclear channel DNA_1 (the slide calls it Hoechst) lost it
    from X into obs without a word; a table naming none of the slide's channels was refused."""
    import anndata

    _, table = gated
    markers = [c for c in table.columns if f"{c}_cell_mean" in table.columns]  # the slide's 19 channels
    mcmicro = table[["CellID", *markers, "X_centroid", "Y_centroid", "Area", "phenotype"]]
    for renamed in ({"Hoechst": "DNA_1"}, {m: f"{m}_c1" for m in markers}):
        path = tmp_path / "mcmicro.csv"
        mcmicro.rename(columns=renamed).to_csv(path, index=False)
        out = tmp_path / f"cells{len(renamed)}.h5ad"
        code = main(["export", str(path), "--if", str(small_pair.if_path), "--out", str(out)])
        assert code == 0, capsys.readouterr().err
        adata = anndata.read_h5ad(out)
        assert len(markers) == adata.n_vars == 19 and set(renamed.values()) <= set(adata.var_names)
        assert "Y_centroid" in adata.obs and "Y_centroid" not in adata.var_names
        for old, new in renamed.items():
            np.testing.assert_allclose(adata[:, new].X.ravel(), mcmicro[old], rtol=1e-6)


def test_spatialdata_of_a_pair(gated, small_pair, truth_store, tmp_path, capsys):
    import spatialdata  # [spatialdata], in [dev]: a missing extra fails here rather than skipping

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


@pytest.mark.parametrize(("offset", "said"), [(("1", "-0.65"), True), (("0", "0"), False)])
def test_geojson_of_a_pair_says_which_image_its_outlines_are_on(gated, small_pair, tmp_path, capsys, offset, said):
    """QuPath users import the GeoJSON onto an image: onto an H&E of another grid (0.5 µm/px in
    a user's walk) every cell sat off its nucleus, without a word."""
    path, _ = gated
    out = tmp_path / "cells.geojson"
    code = main(
        [
            "export", str(path), "--if", str(small_pair.if_path), "--he", str(small_pair.he_path),
            "--he-pixel-size", "0.325", "--he-offset-um", *offset, "--out", str(out),
        ]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0 and out.is_file(), err
    assert (
        "outlines in level-0 pixels of synthetic_if.ome.tif (0.325 µm/px): import it onto that image" in err
    ) is said
    assert ("not onto synthetic_he.ome.tif (0.325 µm/px, offset 1, -0.65 µm)" in err) is said


def test_geojson_on_the_he_sits_on_the_he_nuclei(gated, small_pair, truth_store, tmp_path, capsys):
    """--geojson-on he: the outlines in the registered H&E's pixels (3 rows down, 2 columns left
    of the IF here), so imported onto the H&E in QuPath they sit on its nuclei; without an H&E
    it is refused in one line, nothing written."""
    from skimage.draw import polygon

    from napari_ifcell.io import open_slide

    from .conftest import HE_OFFSET_PX

    path, _ = gated
    pair = ["--if", str(small_pair.if_path), "--he", str(small_pair.he_path), "--store", str(truth_store.folder)]
    offset = [str(v * 0.325) for v in HE_OFFSET_PX]
    outs = {on: tmp_path / f"on_{on}.geojson" for on in ("if", "he")}
    for on, out in outs.items():
        code = main(["export", str(path), *pair, "--he-offset-um", *offset, "--geojson-on", on, "--out", str(out)])
        assert code == 0, capsys.readouterr().err
    assert "outlines in level-0 pixels of synthetic_he.ome.tif (0.325 µm/px)" in capsys.readouterr().err
    docs = {on: json.loads(out.read_text())["features"] for on, out in outs.items()}
    on_if = [np.array(f["nucleusGeometry"]["coordinates"][0]) for f in docs["if"]]
    on_he = [np.array(f["nucleusGeometry"]["coordinates"][0]) for f in docs["he"]]
    for a, b in zip(on_if, on_he):
        np.testing.assert_allclose(b, a + [HE_OFFSET_PX[1], HE_OFFSET_PX[0]], atol=0.011)
    with open_slide(small_pair.he_path, pixel_size_um=0.325) as he:
        darkness = 255.0 - he.read_region(0, 0, *he.shape).mean(axis=-1)  # hematoxylin is dark

    def under(rings, dy=0, dx=0):  # mean darkness of the H&E inside pixel-corner rings, moved
        inside = [polygon(r[:, 1] - 0.5 + dy, r[:, 0] - 0.5 + dx, darkness.shape) for r in rings]
        return float(np.mean(np.concatenate([darkness[rr, cc] for rr, cc in inside])))

    best = under(on_he)  # no outline moved by a pixel or two sits on darker H&E
    assert all(under(on_he, dy, dx) < best for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx)
    assert best > 1.1 * under(on_if), (best, under(on_if))
    lone = ["export", str(path), "--if", str(small_pair.if_path), "--geojson-on", "he"]
    assert main([*lone, "--out", str(tmp_path / "x.geojson")]) == 2
    err = capsys.readouterr().err.strip()
    assert "outlines on the H&E need the registered H&E slide (--he;" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.geojson").exists()
    assert main([*lone[:2], *pair, "--geojson-on", "he", "--out", str(tmp_path / "x.csv")]) == 2  # was ignored
    assert "--geojson-on he: no .geojson among --out (" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


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
    assert (
        "a folder without a label store (no store.json); expected a label store folder, a label image file or an "
        "OME-Zarr label image" in capsys.readouterr().err
    )
    missing = tmp_path / "nope_masks.tif"
    assert main(["export", "--if", str(lonely), "--store", str(missing), "--out", str(tmp_path / "a.geojson")]) == 2
    assert f"{missing}: no such file or folder; expected a label store folder" in capsys.readouterr().err
    # several outputs are all or none: a table with no markers cannot be AnnData, so the GeoJSON
    # before it and the CSV after it are not written either (the GeoJSON was)
    bare = tmp_path / "bare.parquet"
    pd.read_parquet(path)[["CellID", "X_centroid", "Y_centroid", "Area"]].to_parquet(bare)
    outs = [tmp_path / "b.csv", tmp_path / "b.h5ad", tmp_path / "b2.csv"]
    assert main(["export", str(bare), "--if", str(small_pair.if_path), "--out", *map(str, outs)]) == 2
    assert "b.h5ad: AnnData needs marker or probability columns" in capsys.readouterr().err
    assert not any(out.exists() for out in outs)
    # two columns that AnnData would store under one name: refused before the Parquet is written
    clash = tmp_path / "clash.parquet"
    pd.read_parquet(path).assign(**{"note/1": "a", "note_1": "b"}).to_parquet(clash)
    outs = [tmp_path / "c.parquet", tmp_path / "c.h5ad"]
    assert main(["export", str(clash), "--if", str(small_pair.if_path), "--out", *map(str, outs)]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        "c.h5ad: the table's columns 'note/1' and 'note_1' would both be 'note_1'" in err and len(err.splitlines()) == 1
    )
    assert not any(out.exists() for out in outs)


def test_exports_refuse_what_would_be_wrong_or_destructive(gated, small_pair, truth_store, tmp_path):
    from napari_ifcell.io import open_slide
    from napari_ifcell.pipeline.export import class_column, export_cells, export_inputs

    path, table = gated
    with open_slide(small_pair.if_path) as slide:
        # the slide itself, its store, a folder that is not an export: never written over
        zarr_slide = export_cells(tmp_path / "slide.ome.zarr", slide=slide, store=truth_store)
        with open_slide(zarr_slide) as again, pytest.raises(ValueError, match="the slide or its label store itself"):
            export_cells(zarr_slide, slide=again)
        keep = tmp_path / "mine.zarr"
        keep.mkdir()
        (keep / "notes.txt").write_text("mine")
        with pytest.raises(ValueError, match="not a Zarr export is in the way"):
            export_cells(keep, slide=slide, table=table, store=truth_store)
        assert (keep / "notes.txt").read_text() == "mine"
        # a table of another segmentation does not borrow this store's outlines
        other = table.assign(CellID=table["CellID"] + 10**6)
        other.to_parquet(tmp_path / "other.parquet")
        with pytest.raises(ValueError, match="not in the label store"):
            export_inputs(slide, table_path=tmp_path / "other.parquet", store_folder=truth_store.folder)
    # a reviewed table's classes are the people's (class), not the model's prediction
    reviewed = table.assign(predicted="other", review_status="corrected", **{"class": "B cell"})
    assert class_column(reviewed) == "class" and class_column(table) == "phenotype"


def test_a_store_segmented_at_another_pixel_size_is_exported_at_it_or_refused(
    gated, small_pair, truth_store, tmp_path, capsys
):
    """Cells segmented at 0.5 µm/px (the file says 0.325) were exported at 0.325: areas in µm²,
    the AnnData's and the OME-Zarr's pixel size contradicting the table. Refused, as quantify and
    predict refuse it, until the size they were segmented at is given; export-dataset too."""
    import shutil

    path, table = gated
    store = tmp_path / "half.ifcell"
    shutil.copytree(truth_store.folder, store)
    meta = json.loads((store / "store.json").read_text())
    (store / "store.json").write_text(json.dumps({**meta, "pixel_size_um": 0.5}))
    out = tmp_path / "cells.geojson"
    export = ["export", str(path), "--if", str(small_pair.if_path), "--store", str(store), "--out", str(out)]
    assert main(export) == 2
    err = capsys.readouterr().err.strip()
    assert "segmented at 0.5 µm/px but synthetic_if.ome.tif is now 0.325" in err and len(err.splitlines()) == 1
    assert not out.exists()
    assert main([*export, "--pixel-size", "0.5"]) == 0
    areas = {
        int(f["properties"]["metadata"]["CellID"]): f["properties"]["measurements"]["Nucleus: Area µm^2"]
        for f in json.loads(out.read_text())["features"]
    }
    pixels = table.set_index("CellID")["Area"]
    assert len(areas) > 50 and all(area == pytest.approx(pixels[i] * 0.25) for i, area in areas.items())
    capsys.readouterr()
    dataset = ["export-dataset", str(path), "--if", str(small_pair.if_path), "--he", str(small_pair.he_path)]
    assert main([*dataset, "--labels", str(store), "--out", str(tmp_path / "patches")]) == 2
    assert "segmented at 0.5 µm/px" in capsys.readouterr().err and not (tmp_path / "patches").exists()


def test_another_tools_label_image_gives_the_same_outlines_as_the_store(
    gated, small_pair, truth_store, tmp_path, capsys
):
    """Cell masks from another tool (Cellpose, Mesmer/MCMICRO: an int32 TIFF) in place of a
    label store: the GeoJSON outlines and the OME-Zarr labels are the store's, pixel for pixel."""
    import tifffile
    import zarr

    path, table = gated
    masks = tmp_path / "cell_masks.tif"
    level0 = np.asarray(truth_store.levels[0]).astype(np.int32)
    h, w = level0.shape
    averaged = level0.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3)).astype(np.int32)  # a writer's pyramid
    with tifffile.TiffWriter(masks) as tif:
        tif.write(level0, tile=(256, 256), subifds=1)
        tif.write(averaged, tile=(256, 256), subfiletype=1)
    outs = {}
    for name, store in (("store", truth_store.folder), ("tiff", masks)):
        out = [tmp_path / f"{name}.geojson", tmp_path / f"{name}.ome.zarr"]
        code = main(
            ["export", str(path), "--if", str(small_pair.if_path), "--store", str(store), "--out", *map(str, out)]
        )
        assert code == 0, capsys.readouterr().err
        outs[name] = out
    geometry = {
        name: {
            f["properties"]["metadata"]["CellID"]: f["nucleusGeometry"]
            for f in json.loads(out[0].read_text())["features"]
        }
        for name, out in outs.items()
    }
    assert len(geometry["tiff"]) == len(table) and geometry["tiff"] == geometry["store"]
    labels = [np.asarray(zarr.open_group(out[1] / "labels" / "nuclei", mode="r")["s0"]) for out in outs.values()]
    np.testing.assert_array_equal(labels[0], labels[1])
    # lower levels are sampled from level 0's labels, never the file's averaged ids
    lower = zarr.open_group(outs["tiff"][1] / "labels" / "nuclei", mode="r")["s1"][:]
    np.testing.assert_array_equal(lower, level0[1::2, 1::2])  # each pixel's nearest level-0 label
    # the table alone (the masks it was quantified from not given, no store beside the slide):
    # points, and a note that says so and how to get the outlines
    import shutil

    slide = shutil.copy(small_pair.if_path, tmp_path / "copied.ome.tif")
    code = main(["export", str(path), "--if", str(slide), "--out", str(tmp_path / "points.geojson")])
    err = capsys.readouterr().err
    assert code == 0, err
    kinds = {f["geometry"]["type"] for f in json.loads((tmp_path / "points.geojson").read_text())["features"]}
    assert kinds == {"Point"}
    assert "points.geojson: no label store of copied.ome.tif (copied.ifcell) and no label image given, so each " in err
    assert "give the nuclei with --store" in err
    # a table of another segmentation is refused against the image's labels as against a store's
    table.assign(CellID=table["CellID"] + 10**6).to_parquet(tmp_path / "other.parquet")
    code = main(
        ["export", str(tmp_path / "other.parquet"), "--if", str(small_pair.if_path), "--store", str(masks)]
        + ["--out", str(tmp_path / "x.geojson")]
    )
    assert code == 2 and "not in the label store" in capsys.readouterr().err


def test_no_output_takes_the_place_of_a_label_stores_own_files(gated, small_pair, truth_store, tmp_path, capsys):
    """The project folder holds the label store beside the tables: an output named like one of
    the store's files (its index, its labels, store.json) is refused, and the cells stay."""
    import shutil

    path, _ = gated
    store = tmp_path / "copy.ifcell"
    shutil.copytree(truth_store.folder, store)
    before = {p: p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file()}
    slide = ["--if", str(small_pair.if_path), "--store", str(store)]
    for args in (
        ["export", str(path), *slide, "--out", str(store / "cell_index.parquet")],
        ["export", str(path), *slide, "--out", str(store / "labels.zarr")],
        ["quantify", str(small_pair.if_path), str(store), "--out", str(store / "cell_index.parquet")],
        ["gate", str(path), "--save-gates", str(store / "store.json")],
    ):
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert "one of the label store's own files" in err and len(err.strip().splitlines()) == 1, err
    # the writers refuse them too (the Gating widget saves gates without the CLI's check)
    from napari_ifcell.core.gating.auto import suggested_gateset
    from napari_ifcell.io.atomic import atomic_write
    from napari_ifcell.io.gate_file import save_gates

    with pytest.raises(FileExistsError, match="one of the label store's own files"):
        save_gates(suggested_gateset(pd.read_parquet(path))[0], store / "store.json")
    with pytest.raises(FileExistsError, match="one of the label store's own files"):
        atomic_write(store / "labels.zarr" / "0" / "zarr.json", lambda p: p.write_text("{}"))
    assert {p: p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file()} == before
    assert main(["quantify", str(small_pair.if_path), str(store), "--out", str(store / "cells.parquet")]) == 0


def test_predictions_and_a_reviewed_table_export_to_anndata_and_spatialdata(gated, small_pair, tmp_path, capsys):
    """The workflow's own tables: a prediction's ``prob_<class>`` columns (spaces in the names)
    and a review's ``reviewed_at`` times (no date type in h5ad) used to stop the export."""
    import anndata
    import spatialdata

    path, table = gated
    when = pd.Timestamp("2026-11-23T10:00:00", tz="UTC")
    made = table.assign(
        **{"prob_CD4 T": 0.25, "prob_B cell": 0.5},
        reviewed_at=pd.Series([when] * 3 + [pd.NaT] * (len(table) - 3), index=table.index),
    )
    made.to_parquet(tmp_path / "reviewed.parquet")
    outs = [tmp_path / "reviewed.h5ad", tmp_path / "reviewed.zarr"]
    code = main(
        ["export", str(tmp_path / "reviewed.parquet"), "--if", str(small_pair.if_path), "--out", *map(str, outs)]
    )
    assert code == 0, capsys.readouterr().err
    obs = anndata.read_h5ad(outs[0]).obs
    assert list(obs["reviewed_at"][:4]) == [when.isoformat()] * 3 + [""]
    sd_table = spatialdata.read_zarr(outs[1]).tables["table"]
    assert sd_table.obs["prob_CD4_T"].tolist() == [0.25] * len(table) and (sd_table.obs["prob_B_cell"] == 0.5).all()
    assert dict(sd_table.uns["renamed_columns"]) == {"prob_CD4_T": "prob_CD4 T", "prob_B_cell": "prob_B cell"}
    assert sd_table.uns["units"]["Y_centroid_um"] == "µm" and sd_table.uns["pixel_size_um"] == pytest.approx(0.325)
    assert list(sd_table.var_names) == list(anndata.read_h5ad(outs[0]).var_names)  # the markers stay in X
    assert "Pan-CK" in sd_table.var_names and "CD3e" in sd_table.var_names


def test_our_own_geojson_read_back_as_a_model_scores_as_the_table_it_came_from(small_table, small_pair, tmp_path):
    """The GeoJSON export names each cell by its gated phenotype (regulatory T, unknown,
    inconsistent); read back as a model, regulatory T cells are lymphocytes (they counted as
    'other') and cells without a class are left out, as the truth leaves them out."""
    from napari_ifcell.core.gating.apply import gated_table
    from napari_ifcell.core.gating.auto import suggested_gateset

    from .test_cli import run_cli

    gates, _ = suggested_gateset(small_table)
    table = gated_table(small_table, gates)
    table.loc[table.index[:12], "phenotype"] = "regulatory T"
    table.loc[table.index[12:20], "phenotype"] = "unknown"
    table.to_parquet(tmp_path / "gated.parquet")
    done = run_cli("export", tmp_path / "gated.parquet", "--if", small_pair.if_path, "--out", tmp_path / "e.geojson")
    assert done.returncode == 0, done.stderr
    done = run_cli(
        "compare", tmp_path / "gated.parquet", "--region", "all", 0, 0, 1100, 1400, "--if", small_pair.if_path,
        "--model", f"ours={tmp_path / 'e.geojson'}", "--out", tmp_path / "report",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    total = pd.read_csv(tmp_path / "report" / "comparison.csv").set_index("region").loc["Total"]
    assert total["n lymphocyte"] == (table["phenotype"].isin(["CD4 T", "CD8 T", "regulatory T", "B cell"])).sum()
    assert (total[["ours lymphocyte P", "ours lymphocyte R", "ours mean F1"]] == 1.0).all(), total
