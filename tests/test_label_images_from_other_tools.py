"""Label images as other segmenters and scripts save them: quantified when they are instance
labels, refused in one line when they are not (a binary mask, negative or fractional ids, no
cell at all), never measured as something else."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tifffile

from napari_ifcell.io import open_slide
from napari_ifcell.pipeline.tiling import read_labels

from .conftest import CROP_SIZE, CROP_X0, CROP_Y0
from .test_cli import run_cli
from .test_real_slides import one_line_error


@pytest.fixture(scope="module")
def crop_and_labels(small_pair, crops, tmp_path_factory):
    """``(folder, IF crop path, its true nuclei)``: Hoechst and CD3e of a tissue region and the
    pair's true labels over it."""
    folder = tmp_path_factory.mktemp("other_labels")
    path = folder / "crop.tif"
    tifffile.imwrite(path, np.stack(crops[:2]), photometric="minisblack")
    with open_slide(small_pair.labels_path) as labels:
        truth = read_labels(labels, CROP_Y0, CROP_X0, CROP_SIZE, CROP_SIZE)
    return folder, path, truth


def _quantify(folder, image, labels_path, out):
    return run_cli("quantify", image, labels_path, "--pixel-size", "0.325", "--out", folder / out)


def test_instance_labels_with_gaps_and_wide_ids_keep_their_ids(crop_and_labels):
    folder, image, truth = crop_and_labels
    ids = np.unique(truth[truth > 0])
    wide = np.zeros_like(truth, np.int64)
    wide[truth > 0] = 5_000_000_000 + 7 * truth[truth > 0].astype(np.int64)  # gaps, and above 2**32
    tifffile.imwrite(folder / "wide.tif", wide)
    done = _quantify(folder, image, folder / "wide.tif", "wide.csv")
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(folder / "wide.csv")
    assert sorted(table["CellID"]) == sorted(5_000_000_000 + 7 * ids.astype(np.int64))
    # exported beside their image, the ids stay the table's: uint64 labels, not wrapped to uint32
    table.to_parquet(folder / "wide.parquet")
    outs = [folder / "wide.ome.zarr", folder / "wide_sd.zarr"]
    wide_store = ("--store", folder / "wide.tif", "--pixel-size", "0.325")
    done = run_cli("export", folder / "wide.parquet", "--if", image, *wide_store, "--out", *outs)
    assert done.returncode == 0, done.stderr
    import spatialdata
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    nodes = list(Reader(parse_url(outs[0] / "labels" / "nuclei"))())  # the labels, then their image
    ome_labels = np.asarray(next(n for n in nodes if n.data and n.data[0].ndim == 2).data[0])
    sd_labels = np.asarray(spatialdata.read_zarr(outs[1]).labels["nuclei"])
    for labels in (ome_labels, sd_labels):
        assert labels.dtype == np.uint64
        np.testing.assert_array_equal(labels, wide)


def test_fijis_float_label_image_gives_the_same_cells_as_integers(crop_and_labels):
    """Fiji and ImageJ save label images as 32-bit float: whole numbers are cell ids."""
    folder, image, truth = crop_and_labels
    tifffile.imwrite(folder / "ints.tif", truth.astype(np.uint16))
    tifffile.imwrite(folder / "fiji.tif", truth.astype(np.float32), imagej=True)
    for name in ("ints", "fiji"):
        done = _quantify(folder, image, folder / f"{name}.tif", f"{name}.csv")
        assert done.returncode == 0, done.stderr
    ints, fiji = pd.read_csv(folder / "ints.csv"), pd.read_csv(folder / "fiji.csv")
    assert len(fiji) == len(np.unique(truth[truth > 0])) > 80
    pd.testing.assert_frame_equal(fiji, ints)


def test_ome_zarr_labels_as_ome_zarr_py_writes_them_give_the_same_cells(crop_and_labels):
    """NGFF labels (``labels/<name>`` of an OME-Zarr) were taken for a label store folder:
    "labels.zarr does not exist". They are a label image; a folder that is neither says so."""
    import zarr
    from ome_zarr.writer import write_image, write_labels

    folder, image, truth = crop_and_labels
    tifffile.imwrite(folder / "ints_z.tif", truth.astype(np.uint16))
    root = zarr.open_group(folder / "crop.ome.zarr", mode="w")
    write_image(tifffile.imread(image), root, axes="cyx")
    write_labels(truth.astype(np.uint16), root, name="nuclei", axes="yx")
    for labels, out in ((folder / "ints_z.tif", "ints_z.csv"), (folder / "crop.ome.zarr/labels/nuclei", "ngff.csv")):
        done = _quantify(folder, image, labels, out)
        assert done.returncode == 0, done.stderr
    pd.testing.assert_frame_equal(pd.read_csv(folder / "ngff.csv"), pd.read_csv(folder / "ints_z.csv"))
    # export's outlines and the Gating tab's cells on screen read them too
    import json

    from napari_ifcell.pipeline.tiling import NucleiLevels

    outlines = {}
    for labels, out in ((folder / "ints_z.tif", "tif.geojson"), (folder / "crop.ome.zarr/labels/nuclei", "z.geojson")):
        argv = ["export", folder / "ngff.csv", "--if", image, "--pixel-size", "0.325", "--store", labels]
        done = run_cli(*argv, "--out", folder / out)
        assert done.returncode == 0, done.stderr
        outlines[out] = [f["nucleusGeometry"] for f in json.loads((folder / out).read_text())["features"]]
    assert len(outlines["z.geojson"]) == len(np.unique(truth)) - 1 and outlines["z.geojson"] == outlines["tif.geojson"]
    on_screen = NucleiLevels(folder / "crop.ome.zarr/labels/nuclei")
    np.testing.assert_array_equal(on_screen.levels[0][:, :], truth)
    (folder / "plain").mkdir()
    done = _quantify(folder, image, folder / "plain", "plain.csv")
    one_line_error(done, "plain: a folder without a label store (no store.json)", "OME-Zarr label image")


@pytest.mark.parametrize(
    ("name", "make", "needle"),
    [
        ("binary", lambda t: (t > 0).astype(np.uint8) * 255, "got a binary mask (every object is 255)"),
        ("boolean", lambda t: t > 0, "got a binary mask (true/false)"),
        ("negative", lambda t: -t.astype(np.int32), "got negative ids"),
        (
            "fractions",
            lambda t: t.astype(np.float32) / 3,
            "got float32 values that are not whole numbers (e.g. 22.3333)",
        ),
        ("nan", lambda t: np.where(t > 0, t, np.nan).astype(np.float32), "not whole numbers (e.g. nan)"),
        ("too wide", lambda t: np.where(t > 0, t + 2.0**25, 0).astype(np.float32), "ids above 16,777,216"),
        ("empty", lambda t: np.zeros_like(t, np.uint16), "no cells to quantify"),
        ("classes", lambda t: np.where(t > 0, t % 3 + 1, 0).astype(np.uint8), "got 3 values spread over"),
        ("noise", lambda t: np.random.default_rng(0).integers(1, 2**31, t.shape).astype(np.uint32), "separate pieces"),
    ],
)
def test_what_is_not_instance_labels_is_one_line_and_no_table(crop_and_labels, name, make, needle):
    """A 0/255 mask was one cell of 86,000 px; negative ids failed inside numpy naming no file;
    float ids were told the slide and labels might be swapped; no cell at all gave 0 cells, exit 0;
    fractions (a probability map) are no ids."""
    folder, image, truth = crop_and_labels
    path = folder / f"{name}.tif"
    tifffile.imwrite(path, make(truth))
    one_line_error(_quantify(folder, image, path, f"{name}.csv"), f"{name}.tif", needle)
    assert not (folder / f"{name}.csv").exists()


# --- taking another tool's cells into a label store (import-labels) ---------------------------


@pytest.fixture(scope="module")
def cellpose_like_masks(small_pair, tmp_path_factory):
    """``(path, masks)``: the small pair's true nuclei as Cellpose saves its masks (uint16, no
    metadata), ids with gaps and none equal to the store's own first ids."""
    folder = tmp_path_factory.mktemp("masks")
    with open_slide(small_pair.labels_path) as labels:
        truth = read_labels(labels, 0, 0, *labels.shape)
    masks = np.where(truth > 0, 1000 + 7 * truth.astype(np.int64), 0).astype(np.uint16)
    tifffile.imwrite(folder / "cp_masks.tif", masks)
    return folder / "cp_masks.tif", masks


def test_another_tools_cells_become_the_slides_cells_with_their_ids(small_pair, cellpose_like_masks, monkeypatch):
    """Written block by block (blocks of 256 px here, so cells span blocks), the store holds the
    masks pixel for pixel, one index row per cell as the masks' own, and its coarser levels."""
    from napari_ifcell.io.label_store import LabelStore
    from napari_ifcell.pipeline import import_labels as importing
    from napari_ifcell.pipeline import label_image, run_to_end
    from napari_ifcell.pipeline.label_image import LabelImage

    path, masks = cellpose_like_masks
    monkeypatch.setattr(label_image, "BLOCK", 256)
    store = LabelStore.create(path.parent / "blocks.ifcell", masks.shape, pixel_size_um=0.325)
    with open_slide(small_pair.if_path) as slide:
        result = run_to_end(importing.import_labels(slide, store, path))
    ids = np.unique(masks[masks > 0]).astype(np.int64)
    assert (result.cells, result.removed) == (len(ids), 0) and len(ids) == 636
    store = LabelStore.open(store.folder)
    np.testing.assert_array_equal(np.asarray(store.levels[0]), masks)
    np.testing.assert_array_equal(np.asarray(store.levels[1]), masks[::2, ::2])
    image = LabelImage(path)
    expected = image.index.drop(columns="run").reset_index(drop=True)
    image.close()
    got = store.index.sort_values("CellID").drop(columns="run").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert store.meta["next_id"] == ids.max() + 1 and store.meta["runs"][-1]["settings"]["backend"] == "imported"
    # a bad id in the last block: the blocks written before it are put back
    bad = np.where(masks > 0, masks.astype(np.int64) + 1, 0)  # other ids: written blocks would differ
    bad[-1, -1] = 2**32
    tifffile.imwrite(path.parent / "bad.tif", bad)
    before = _store_files(store.folder)
    with open_slide(small_pair.if_path) as slide, pytest.raises(ValueError, match="cell id 4294967296 in the block at"):
        run_to_end(importing.import_labels(slide, store, path.parent / "bad.tif"))
    assert _store_files(store.folder) == before


def test_fijis_float_label_image_is_imported_as_its_ids(small_pair, cellpose_like_masks, tmp_path):
    from napari_ifcell.io.label_store import LabelStore

    _, masks = cellpose_like_masks
    tifffile.imwrite(tmp_path / "fiji.tif", masks.astype(np.float32), imagej=True)
    done = run_cli("import-labels", small_pair.if_path, tmp_path / "fiji.tif", "--store", tmp_path / "cells.ifcell")
    assert done.returncode == 0, done.stderr
    assert "636 cells from fiji.tif" in done.stdout
    np.testing.assert_array_equal(np.asarray(LabelStore.open(tmp_path / "cells.ifcell").levels[0]), masks)


def test_import_labels_then_quantify_and_export_from_the_store(small_pair, cellpose_like_masks, tmp_path):
    """`import-labels`, then the store gives the table the masks give, and exports against it;
    importing again replaces the cells; a table of the masks' ids passes the store's check."""
    import json

    path, masks = cellpose_like_masks
    store = tmp_path / "cells.ifcell"
    done = run_cli("import-labels", small_pair.if_path, path, "--store", store)
    assert done.returncode == 0, done.stderr
    assert f"636 cells from cp_masks.tif (0 replaced) -> {store}" in done.stdout
    for labels, out in ((store, "store.parquet"), (path, "masks.parquet")):
        done = run_cli("quantify", small_pair.if_path, labels, "--out", tmp_path / out)
        assert done.returncode == 0, done.stderr
    from_store, from_masks = (pd.read_parquet(tmp_path / name) for name in ("store.parquet", "masks.parquet"))
    pd.testing.assert_frame_equal(from_store, from_masks)
    assert from_store["CellID"].min() == 1007
    done = run_cli(
        "export",
        tmp_path / "store.parquet",
        "--if",
        small_pair.if_path,
        "--store",
        store,
        "--out",
        tmp_path / "c.geojson",
    )
    assert done.returncode == 0, done.stderr
    assert len(json.loads((tmp_path / "c.geojson").read_text())["features"]) == 636
    half = np.where(masks % 2 == 0, masks, 0)  # ids 1000 + 7k, k odd or even: half the cells
    tifffile.imwrite(tmp_path / "half.tif", half)
    done = run_cli("import-labels", small_pair.if_path, tmp_path / "half.tif", "--store", store)
    kept = len(np.unique(half)) - 1
    assert done.returncode == 0 and f"{kept} cells from half.tif ({636 - kept} replaced)" in done.stdout, done.stderr
    from napari_ifcell.io.label_store import LabelStore

    assert sorted(LabelStore.open(store).index.CellID) == sorted(np.unique(half[half > 0]).tolist())


@pytest.mark.parametrize(
    ("name", "make", "needle"),
    [
        ("crop", lambda m: m[:512, :512], "the labels are 512 x 512 px but synthetic_if.ome.tif is 1100 x 1400 px"),
        ("wide", lambda m: np.where(m > 0, 2**32 + m.astype(np.int64), 0), "expected ids from 1 to 4294967295"),
        ("empty", lambda m: np.zeros_like(m), "no cell in the label image"),
        ("background1", lambda m: np.where(m > 0, m, 1), "got id 1 over 8"),
        ("store_is_a_file", lambda m: m, "a file, not a folder; expected a label store folder"),
    ],
)
def test_labels_a_store_cannot_take_are_one_line_and_change_nothing(
    small_pair, cellpose_like_masks, tmp_path, name, make, needle
):
    """Another shape, ids a uint32 store would wrap, or no cell: exit 2, one line, and neither
    a new store folder nor a change to an existing store."""
    path, masks = cellpose_like_masks
    tifffile.imwrite(tmp_path / f"{name}.tif", make(masks))
    new = tmp_path / ("new.ifcell" if name != "store_is_a_file" else f"{name}.tif")
    one_line_error(
        run_cli("import-labels", small_pair.if_path, tmp_path / f"{name}.tif", "--store", new), f"{name}.tif", needle
    )
    assert not (tmp_path / "new.ifcell").exists()
    if name == "store_is_a_file":
        return
    kept = tmp_path / "kept.ifcell"
    assert run_cli("import-labels", small_pair.if_path, path, "--store", kept).returncode == 0
    before = _store_files(kept)
    one_line_error(
        run_cli("import-labels", small_pair.if_path, tmp_path / f"{name}.tif", "--store", kept), f"{name}.tif"
    )
    assert _store_files(kept) == before


@pytest.mark.parametrize("dtype", [np.uint16, np.uint8])
def test_an_intensity_image_is_not_taken_for_cells(small_pair, cellpose_like_masks, tmp_path, dtype):
    """A grey image given as masks was taken for 247 cells and replaced the store's 2,399: each
    grey value is scattered over the image in many pieces, where a cell is one."""
    with open_slide(small_pair.if_path) as slide:
        hoechst = slide.read_region(0, 0, *slide.shape, channels=[0])[0]
    grey = hoechst if dtype == np.uint16 else (hoechst // max(1, int(hoechst.max()) // 255 + 1))
    tifffile.imwrite(tmp_path / "grey.tif", grey.astype(dtype))
    kept = tmp_path / "kept.ifcell"
    assert run_cli("import-labels", small_pair.if_path, cellpose_like_masks[0], "--store", kept).returncode == 0
    before = _store_files(kept)
    done = run_cli("import-labels", small_pair.if_path, tmp_path / "grey.tif", "--store", kept)
    one_line_error(done, "grey.tif", "separate pieces", "an intensity image, a class map")
    assert _store_files(kept) == before


def _store_files(folder):
    """A store's cells: its pixels, index and metadata (not its lock's note of the last writer)."""
    parts = [*(folder / "labels.zarr").rglob("*"), folder / "store.json", folder / "cell_index.parquet"]
    return {p.relative_to(folder): p.read_bytes() for p in parts if p.is_file()}


def test_a_table_of_cells_whose_ids_a_new_label_image_reuses_is_refused(small_pair, cellpose_like_masks, tmp_path):
    """StarDist numbers its cells 1..N on every run: after importing another run's labels, the old
    table's ids are all in the store, but on other cells. Exports (and predict, review, the
    data set: the same check) refuse it; the import warns that the project's table is stale."""
    path, masks = cellpose_like_masks
    ids = np.unique(masks[masks > 0])
    lut = np.zeros(int(masks.max()) + 1, np.int32)
    lut[ids] = np.arange(1, len(ids) + 1)
    tifffile.imwrite(tmp_path / "run1.tif", lut[masks])
    order = np.random.default_rng(0).permutation(len(ids))
    renumbered = int((order != np.arange(len(ids))).sum())
    lut[ids] = order + 1  # the same nuclei, numbered otherwise
    tifffile.imwrite(tmp_path / "run2.tif", lut[masks])
    project = tmp_path / "slide.ifcell"
    assert run_cli("import-labels", small_pair.if_path, tmp_path / "run1.tif", "--store", project).returncode == 0
    done = run_cli("quantify", small_pair.if_path, project, "--out", project / "cells.parquet")
    assert done.returncode == 0, done.stderr
    done = run_cli("import-labels", small_pair.if_path, tmp_path / "run1.tif", "--store", project)
    assert done.returncode == 0 and "636 cells from run1.tif (0 replaced)" in done.stdout, done.stderr
    assert "warning" not in done.stderr  # the same cells again: the table still holds
    done = run_cli("import-labels", small_pair.if_path, tmp_path / "run2.tif", "--store", project)
    assert done.returncode == 0 and f"636 cells from run2.tif ({renumbered} replaced)" in done.stdout, done.stderr
    warning = (
        f"warning: {renumbered} cells were replaced by the label image's cells, whose ids may repeat theirs; the project's "
        "cell table may name them: quantify again"
    )
    assert warning in done.stderr, done.stderr
    export = ["export", project / "cells.parquet", "--if", small_pair.if_path, "--store", project]
    one_line_error(
        run_cli(*export, "--out", tmp_path / "stale.geojson"),
        "cells.parquet: ",
        "of 636 cells checked lie elsewhere in the label store",
        "quantify again from this store",
    )
    assert not (tmp_path / "stale.geojson").exists()
    done = run_cli("quantify", small_pair.if_path, project, "--out", project / "cells.parquet")
    assert done.returncode == 0 and run_cli(*export, "--out", tmp_path / "now.geojson").returncode == 0


def test_a_few_cells_moved_by_hand_edits_are_not_another_segmentation(truth_store, small_table):
    """The check of places refuses a table when most cells lie elsewhere, not when some do."""
    table = small_table[["CellID", "X_centroid", "Y_centroid"]].copy()
    moved = table.sample(frac=0.4, random_state=1).index
    table.loc[moved, "X_centroid"] += 30
    truth_store.require_cells(table, "edited.parquet")
    shifted = small_table[["CellID", "X_centroid", "Y_centroid"]].copy()
    shifted["X_centroid"] += 4  # whole-cell centroids beside the nuclei the store holds: the same cells
    truth_store.require_cells(shifted, "cells.parquet")
    table.loc[table.sample(frac=0.3, random_state=2).index.difference(moved), "X_centroid"] += 30
    with pytest.raises(ValueError, match=r"edited.parquet: \d+ of 636 cells checked lie elsewhere"):
        truth_store.require_cells(table, "edited.parquet")


def test_cells_under_an_open_review_are_not_replaced(small_pair, cellpose_like_masks, tmp_path):
    """A review open in napari (here: held by this process) keeps its cells: `import-labels`
    and `segment` from a terminal are refused in one line, and work once it is closed."""
    from napari_ifcell.io.review_store import ReviewFiles

    path, _ = cellpose_like_masks
    project = tmp_path / "slide.ifcell"
    assert run_cli("import-labels", small_pair.if_path, path, "--store", project).returncode == 0
    review = ReviewFiles(project)
    review.lock("bob")
    try:
        before = _store_files(project)
        for argv in (("import-labels", small_pair.if_path, path), ("segment", small_pair.if_path)):
            one_line_error(
                run_cli(*argv, "--store", project), "the review of these cells is open in a session ('bob', user"
            )
        assert _store_files(project) == before
    finally:
        review.unlock()
    assert run_cli("import-labels", small_pair.if_path, path, "--store", project).returncode == 0


def test_ids_up_to_the_stores_largest_are_kept_and_new_ids_never_wrap(small_pair, cellpose_like_masks, tmp_path):
    """An id of 4294967295 fits the uint32 store; segmenting after it refuses to hand out ids
    past it (they would wrap to 0 and 1) instead of painting them."""
    from napari_ifcell.io.label_store import LabelStore, LabelStoreError

    _, masks = cellpose_like_masks
    top = masks.astype(np.int64)
    top[top == top.max()] = 2**32 - 1
    tifffile.imwrite(tmp_path / "top.tif", top)
    store = tmp_path / "top.ifcell"
    done = run_cli("import-labels", small_pair.if_path, tmp_path / "top.tif", "--store", store)
    assert done.returncode == 0, done.stderr
    opened = LabelStore.open(store)
    assert opened.index.CellID.max() == 2**32 - 1
    with pytest.raises(LabelStoreError, match="new cell ids would pass 4294967295"):
        opened.new_ids(1)
    one_line_error(
        run_cli("segment", small_pair.if_path, "--store", store, "--region", "200", "300", "512", "512"),
        "would pass 4294967295",
    )


def test_a_small_label_image_with_one_large_cell_is_not_taken_for_a_background(tmp_path):
    """A 60 px crop mostly covered by one cell is labels, not a background saved as 1."""
    from napari_ifcell.pipeline.tiling import open_nuclei

    labels = np.zeros((60, 60), np.uint16)
    labels[5:50, 5:50] = 1
    for k in range(5):
        labels[52:58, 2 + 11 * k : 8 + 11 * k] = k + 2
    tifffile.imwrite(tmp_path / "crop.tif", labels)
    open_nuclei(tmp_path / "crop.tif").close()
