"""Review sessions: decisions, mask edits that move the store, table and quantification
together, undo/redo, reopening, and durability against a killed process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from napari_ifcell.core.quantify.cells import quantify_cells
from napari_ifcell.io import open_slide
from napari_ifcell.io.label_store import LabelStore
from napari_ifcell.pipeline.review.mask_edits import add_cell, delete_cell, edit_labels, merge_cells, split_cell
from napari_ifcell.pipeline.review.session import ReviewSession

from .review_fixtures import make_project, neighbours


@pytest.fixture
def project(small_pair, small_table, tmp_path):
    table, gates = make_project(small_pair, small_table, tmp_path)
    return tmp_path, table, gates


def open_session(folder, table, gates, if_path, reviewer="ana"):
    return ReviewSession.open(
        folder,
        table,
        reviewer=reviewer,
        store=LabelStore.open(folder / "labels"),
        if_slide=open_slide(if_path),
        gates=gates,
    )


def test_decisions_survive_reopening_and_replay_equals_state(project, small_pair):
    folder, table, gates = project
    s = open_session(folder, table, gates, small_pair.if_path)
    ids = table["CellID"].to_numpy()
    s.approve(ids[:3])
    s.set_class(ids[3], "B cell")
    s.reject(ids[4])
    s.set_class(ids[5], "macrophage")
    s.undo()
    s.files.close()
    again = ReviewSession.open(folder, reviewer="ben")
    assert again.state.equals(s.state)
    t = again.table().set_index("CellID")
    assert t.loc[ids[3], ["reviewed_class", "reviewer"]].tolist() == ["B cell", "ana"]
    assert t.loc[ids[4], "review_status"] == "rejected" and t.loc[ids[5], "review_status"] == "unreviewed"
    assert len(t) == len(table)
    with pytest.raises(ValueError, match="unknown class 'T cell'"):
        again.set_class(ids[0], "T cell")


def test_mask_edits_update_store_table_and_quantification(project, small_pair):
    folder, table, gates = project
    s = open_session(folder, table, gates, small_pair.if_path)
    store = s.store
    a, b = neighbours(store)
    area_a, area_b = (int(store.index.set_index("CellID").loc[c, "Area"]) for c in (a, b))
    merge_cells(s, a, b)
    t = s.table().set_index("CellID")
    assert b not in t.index and t.loc[a, "Area"] == area_a + area_b
    assert (np.asarray(store.levels[0][:]) == b).sum() == 0
    assert store.index.set_index("CellID").loc[a, "Area"] == area_a + area_b
    # the merged cell's intensities are those of the merged mask, measured afresh
    y0, x0, y1, x1 = store.index.set_index("CellID").loc[a, ["y0", "x0", "y1", "x1"]].astype(int)
    win = (y0 - 12, x0 - 12, y1 - y0 + 24, x1 - x0 + 24)
    with open_slide(small_pair.if_path) as slide:
        image = slide.read_region(*win, level=0)
        expected = quantify_cells(
            store.read(*win), image, slide.channel_names, pixel_size_um=0.325, origin=win[:2]
        ).set_index("CellID")
    assert t.loc[a, "CD45_nucleus_mean"] == pytest.approx(expected.loc[a, "CD45_nucleus_mean"])
    assert t.loc[a, "CD45_nucleus_mean"] != pytest.approx(table.set_index("CellID").loc[a, "CD45_nucleus_mean"])
    assert "phenotype" in t.columns and isinstance(t.loc[a, "phenotype"], str)  # re-gated
    # undo puts pixels and rows back; redo merges again
    s.undo()
    assert (np.asarray(store.levels[0][:]) == b).sum() == area_b
    t = s.table().set_index("CellID")
    assert t.loc[a, "Area"] == area_a and t.loc[b, "Area"] == area_b
    s.redo()
    assert b not in s.table()["CellID"].tolist()
    # split, delete, add
    split_cell(s, a)
    new = int(store.index.CellID.max())
    t = s.table().set_index("CellID")
    assert t.loc[a, "Area"] + t.loc[new, "Area"] == area_a + area_b and t.loc[new, "review_status"] == "corrected"
    delete_cell(s, new)
    assert new not in s.table()["CellID"].tolist() and (np.asarray(store.levels[0][:]) == new).sum() == 0
    yy, xx = np.mgrid[:20, :20]
    disc = (yy - 10) ** 2 + (xx - 10) ** 2 < 49
    origin = _free_spot(store, 20)
    add_cell(s, disc, origin, cell_class="CD8 T")
    added = int(store.index.CellID.max())
    t = s.table().set_index("CellID")
    assert t.loc[added, ["reviewed_class", "label_source", "Area"]].tolist() == ["CD8 T", "person", int(disc.sum())]
    # everything is in the journal: a fresh session sees the same table and state
    s.files.close()
    again = open_session(folder, table, gates, small_pair.if_path, reviewer="ben")
    assert again.state.equals(s.state)
    assert again.table().drop(columns="reviewed_at").equals(s.table().drop(columns="reviewed_at"))
    with pytest.raises(ValueError, match="changes no pixel"):
        edit_labels(again, (0, 0), again.store.read(0, 0, 10, 10))


def _free_spot(store, size):
    labels = np.asarray(store.levels[0][:])
    for y in range(0, labels.shape[0] - size, size):
        for x in range(0, labels.shape[1] - size, size):
            if not labels[y : y + size, x : x + size].any():
                return (y, x)
    raise AssertionError("no free spot")


CHILD = textwrap.dedent("""
    import sys
    import pandas as pd
    from napari_ifcell.io.label_store import LabelStore
    from napari_ifcell.pipeline.review.mask_edits import split_cell
    from napari_ifcell.pipeline.review.session import ReviewSession

    folder = sys.argv[1]
    table = pd.read_parquet(folder + "/gated.parquet")
    s = ReviewSession.open(folder, table, reviewer="child", store=LabelStore.open(folder + "/labels"))
    classes = ["CD4 T", "CD8 T", "B cell", "macrophage", "other"]
    big = s.store.index.sort_values("Area", ascending=False).CellID.tolist()
    for i, cell in enumerate(table.CellID.tolist() * 10):
        if i % 25 == 24:
            target = big.pop(0)
            split_cell(s, target)
            print("ack split", target, flush=True)
        else:
            name = classes[i % 5]
            s.set_class(cell, name)
            print("ack class", cell, name, flush=True)
""")


def test_every_acknowledged_edit_survives_a_kill(project, small_pair):
    folder, table, gates = project
    table.to_parquet(folder / "gated.parquet", index=False)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(folder)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    acks = []
    for line in child.stdout:
        acks.append(line.split())
        if len(acks) >= 140:  # a few splits and many decisions in, then kill without warning
            break
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    acks += [line.split() for line in child.stdout.read().splitlines() if line.startswith("ack")]
    assert child.returncode == -signal.SIGKILL
    store = LabelStore.open(folder / "labels")
    s = ReviewSession.open(folder, reviewer="after", store=store)
    t = s.state.table().set_index("CellID")
    expected = {}
    for ack in acks:
        if ack[1] == "class":
            expected[int(ack[2])] = " ".join(ack[3:])
    for cell, name in expected.items():
        assert t.loc[cell, "reviewed_class"] == name
    splits = [int(a[2]) for a in acks if a[1] == "split"]
    assert len(splits) >= 5
    labels = np.asarray(store.levels[0][:])
    index = store.index.set_index("CellID")
    for cell in splits:  # the store caught up with every acknowledged split
        assert (labels == cell).sum() == index.loc[cell, "Area"] > 0
    assert set(index.index) <= set(s.state.ids.tolist())
    assert s.files.journal_path.read_bytes().endswith(b"\n")


def test_exports_table_anndata_and_qupath_geojson(project, small_pair, tmp_path):
    import json

    import anndata
    import geojson
    import pandas as pd

    from napari_ifcell.io.detections import Frame, read_detections
    from napari_ifcell.pipeline.review.export import export_agreement, export_review

    folder, table, gates = project
    s = open_session(folder, table, gates, small_pair.if_path)
    ids = table["CellID"].to_numpy()
    s.set_class(ids[0], "B cell")
    s.reject(ids[1])
    s.approve(ids[2:10])
    parquet = pd.read_parquet(export_review(s, tmp_path / "out" / "reviewed.parquet"))
    assert parquet.set_index("CellID").loc[ids[0], ["class", "review_status", "reviewer"]].tolist() == [
        "B cell",
        "corrected",
        "ana",
    ]
    assert len(parquet) == len(table)
    # a rejected cell kept its automatic class: counting CD8 T cells counted an artefact
    assert parquet.set_index("CellID").loc[ids[1], ["class", "review_status"]].tolist() == ["not a cell", "rejected"]
    csv = pd.read_csv(export_review(s, tmp_path / "reviewed.csv"))
    assert (csv["review_status"] == "approved").sum() == (parquet["review_status"] == "approved").sum()
    adata = anndata.read_h5ad(export_review(s, tmp_path / "reviewed.h5ad"))
    assert adata.n_obs == len(table) and "CD45" in adata.var_names and "reviewed_class" in adata.obs
    path = export_review(s, tmp_path / "cells.geojson")
    doc = geojson.loads(path.read_text())
    assert doc.is_valid and doc["type"] == "FeatureCollection"
    features = doc["features"]
    assert len(features) == len(table) - 1  # the rejected cell is not exported
    first = next(f for f in features if f["properties"]["metadata"]["CellID"] == str(ids[0]))
    assert first["properties"]["objectType"] == "cell"
    # QuPath draws the class in the viewer's colour (#1f77b4)
    assert first["properties"]["classification"] == {"name": "B cell", "color": [31, 119, 180]}
    assert (
        first["geometry"]["type"] == "Polygon"
        and first["geometry"]["coordinates"][0][0] == first["geometry"]["coordinates"][0][-1]
    )
    # x/y order: the outline's centre is the cell's centroid (x = column)
    ring = np.asarray(first["geometry"]["coordinates"][0])
    row = table.set_index("CellID").loc[ids[0]]
    assert abs(ring[:, 0].mean() - row.X_centroid) < 3 and abs(ring[:, 1].mean() - row.Y_centroid) < 3
    # and our QuPath importer reads it back at the cells' positions
    back = read_detections(path, Frame(0.325, 0.325))
    assert len(back) == len(features)
    assert (
        np.abs(
            np.sort(back.x.to_numpy())
            - np.sort(parquet.loc[parquet.review_status != "rejected", "X_centroid"].to_numpy())
        ).max()
        < 1.0
    )
    # one table per CSV, each read back by pandas (the confusion matrix below the kappas was not)
    kappas, confusion = export_agreement(s, tmp_path / "agreement.csv")
    assert kappas.read_text().startswith("first,second,cells,kappa,agreement\nauto,people,10,")
    assert confusion.name == "agreement_confusion.csv"
    matrix = pd.read_csv(confusion, index_col=0)
    assert matrix.index.name == "auto (rows) vs people (columns)" and matrix.to_numpy().sum() == 10
    assert list(pd.read_csv(kappas).columns) == ["first", "second", "cells", "kappa", "agreement"]
    json.loads(path.read_text())  # plain JSON too


def test_review_commands(project, small_pair, tmp_path):
    import pandas as pd

    folder, table, gates = project
    s = open_session(folder, table, gates, small_pair.if_path)
    s.set_class(table["CellID"].iloc[0], "CD8 T")
    s.approve(table["CellID"].iloc[1:4])
    s.files.close()

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "napari_ifcell.cli", *map(str, args)], capture_output=True, text=True
        )

    done = run(
        "review-export", folder, "--labels", folder / "labels", "--out", tmp_path / "r.parquet", tmp_path / "r.geojson"
    )
    assert done.returncode == 0, done.stderr
    assert "approved 3" in done.stdout and "corrected 1" in done.stdout
    assert pd.read_parquet(tmp_path / "r.parquet").set_index("CellID").loc[table["CellID"].iloc[0], "class"] == "CD8 T"
    assert (tmp_path / "r.geojson").stat().st_size > 1000
    done = run("review-agreement", folder, "--out", tmp_path / "agreement.csv")
    assert done.returncode == 0, done.stderr
    assert "auto people" in " ".join(done.stdout.split()) and (tmp_path / "agreement.csv").is_file()
    assert f"written: {tmp_path / 'agreement.csv'}, {tmp_path / 'agreement_confusion.csv'}" in done.stdout
    missing = run("review-export", tmp_path / "nothing.ifcell", "--out", tmp_path / "x.csv")
    assert (
        missing.returncode == 2
        and "nothing.ifcell" in missing.stderr
        and "no review yet; start one in napari's Review tab" in missing.stderr
    )


def test_reopening_applies_an_edit_the_store_missed(project, small_pair, monkeypatch):
    folder, table, gates = project
    s = open_session(folder, table, gates, small_pair.if_path)
    a, b = neighbours(s.store)

    def die(*args, **kwargs):
        raise RuntimeError("killed between the journal line and the label store")

    monkeypatch.setattr(LabelStore, "write_window", die)
    with pytest.raises(RuntimeError, match="killed"):
        merge_cells(s, a, b)  # acknowledged: its journal line is written
    monkeypatch.undo()
    s.files.close()
    store = LabelStore.open(folder / "labels")
    assert (np.asarray(store.levels[0][:]) == b).any()  # the store never saw the merge
    again = ReviewSession.open(folder, reviewer="ben", store=store)
    assert not (np.asarray(store.levels[0][:]) == b).any()
    assert b not in LabelStore.open(folder / "labels").index.CellID.tolist()
    assert b not in again.table()["CellID"].tolist()


def test_open_review_and_its_queue_from_files_alone(project, small_pair, tmp_path):
    from napari_ifcell.io.cell_table import write_cell_table
    from napari_ifcell.pipeline.review.work import open_review, review_agreement, session_queue

    folder, table, gates = project
    with pytest.raises(ValueError, match="give the gated cell table"):
        open_review(folder, reviewer="ana", store_folder=folder / "labels")
    with pytest.raises(ValueError, match="reviewer"):
        open_review(folder, reviewer="  ", store_folder=folder / "labels")
    other = table.assign(CellID=table["CellID"] + 100_000)  # made from other nuclei: refused, named
    with pytest.raises(
        ValueError, match=rf"other.parquet: {len(table)} of {len(table)} cells \(CellID \d+, ...\) are not in"
    ):
        open_review(
            folder,
            reviewer="ana",
            table_path=write_cell_table(other, tmp_path / "other.parquet"),
            store_folder=folder / "labels",
        )
    table_path = write_cell_table(table, tmp_path / "gated.parquet")
    s = open_review(folder, reviewer="ana", table_path=table_path, store_folder=folder / "labels")
    queue = session_queue(s, order="random")
    assert sorted(queue.tolist()) == sorted(table["CellID"].tolist())  # every cell unreviewed, once
    s.approve(queue[:4])
    assert len(session_queue(s, order="random")) == len(table) - 4
    only_b = session_queue(s, order="random", classes=["B cell"], statuses=None)
    assert set(only_b) == set(s.table().query("auto_class == 'B cell'")["CellID"])
    pairs, auto = review_agreement(s)
    assert auto.n == 4 and "people" in " ".join(pairs.astype(str).to_numpy().ravel())


def segment_again(store_folder) -> None:
    """What segmenting the whole slide again does to the store: the same nuclei, new ids."""
    store = LabelStore.open(store_folder)
    labels = np.asarray(store.levels[0][:]).astype(np.int64)
    store.begin("segment")
    store.clear_cells((0, 0, *store.shape))
    ids = np.unique(labels[labels > 0])
    new = np.zeros(int(ids.max()) + 1, np.int64)
    new[ids] = store.new_ids(len(ids))
    store.paint(new[labels], (0, 0), run=store.start_run({"source": "segmented again"}))
    store.commit()


def _new_review(folder, table, tmp_path):
    """A review started in the GUI's way: from the gated table on disk, with the project's store."""
    from napari_ifcell.io.cell_table import write_cell_table
    from napari_ifcell.pipeline.review.work import open_review

    path = write_cell_table(table, tmp_path / "g.parquet")
    return open_review(folder, reviewer="ana", table_path=path, store_folder=folder / "labels")


def test_a_review_of_cells_segmented_again_is_refused_and_kept(project, small_pair, tmp_path):
    """After the store is segmented again, reopening the review would show its decisions on
    other cells (it once said "N saved edits replayed" for cells that were gone)."""
    from napari_ifcell.pipeline.review.work import open_review

    folder, table, _ = project
    session = _new_review(folder, table, tmp_path)
    session.approve(table["CellID"].to_numpy()[:3])
    session.close()
    journal = folder / "review" / "journal.jsonl"
    before = journal.read_bytes()
    assert before.count(b"\n") == 1
    segment_again(folder / "labels")
    for _ in range(2):  # refused again the second time: the refusal left no lock behind
        with pytest.raises(ValueError, match=rf"review: {len(table)} of {len(table)} cells .* another segmentation"):
            open_review(folder, reviewer="ana", store_folder=folder / "labels")
    assert journal.read_bytes() == before  # the decisions are kept


def test_a_lagging_store_segmented_again_is_refused_before_any_catch_up(project, small_pair, tmp_path):
    """A review whose store lags behind its journal (a crash between the two) catches the store
    up on opening. Segmented again in between, the store must be refused before that: the
    catch-up would paste the review's old outlines and ids into the new segmentation."""
    import json

    from napari_ifcell.pipeline.review.work import open_review

    folder, table, _ = project
    session = _new_review(folder, table, tmp_path)
    delete_cell(session, int(table["CellID"].iloc[0]))
    session.close()
    (folder / "review" / "pixels.json").write_text(json.dumps({"applied_seq": -1}))  # as if it died before
    segment_again(folder / "labels")
    before = np.asarray(LabelStore.open(folder / "labels").levels[0][:]).copy()
    with pytest.raises(ValueError, match="another segmentation"):
        open_review(folder, reviewer="ana", store_folder=folder / "labels")
    np.testing.assert_array_equal(np.asarray(LabelStore.open(folder / "labels").levels[0][:]), before)
    # the CLI's exports open it read-only, and take the catch-up when no one holds the review
    from ..test_cli import run_cli
    from ..test_real_slides import one_line_error

    done = run_cli("review-export", folder, "--labels", folder / "labels", "--out", tmp_path / "reviewed.parquet")
    one_line_error(done, "another segmentation")
    np.testing.assert_array_equal(np.asarray(LabelStore.open(folder / "labels").levels[0][:]), before)


def test_a_cell_a_person_deleted_is_not_a_cell_in_the_compare_truth(project, small_pair):
    """A person's Delete says "no cell here", as a reject does: a model's call there is a false
    positive. Before, on a review without IF, the call was farther than the radius from every
    truth cell and was ignored. Cells merged away are not among them, nor a delete undone."""
    import pandas as pd

    from napari_ifcell.io.regions import Region
    from napari_ifcell.pipeline.compare import NOT_A_CELL, compare_models, read_truth

    folder, table, gates = project
    s = open_session(folder, table, gates, small_pair.if_path)
    a, b = neighbours(s.store)
    merge_cells(s, a, b)  # b merged away into a
    ids = table["CellID"].to_numpy()
    gone, undone = (int(c) for c in ids[[10, 20]] if c not in (a, b))
    delete_cell(s, undone)
    s.undo()
    delete_cell(s, gone)
    s.undo()  # a delete undone and done again counts
    s.redo()
    c, d = neighbours(s.store, skip={a, b, gone, undone})
    delete_cell(s, d)
    s.undo()
    merge_cells(s, c, d)  # a delete undone, then a merge: d was merged away, not deleted (review)
    s.files.close()
    truth = read_truth(folder).set_index("CellID")
    assert truth.loc[gone, "class"] == NOT_A_CELL
    assert b not in truth.index and d not in truth.index and truth.loc[undone, "class"] != NOT_A_CELL
    truth = truth.reset_index()
    truth.attrs["complete"] = False  # as on an H&E slide alone
    at = table.set_index("CellID").loc[gone, ["Y_centroid", "X_centroid"]].to_numpy(float)
    call = pd.DataFrame({"y": [at[0]], "x": [at[1]], "class": ["lymphocyte"]})
    region = Region.rectangle("all", at[0] - 50, at[1] - 50, 100, 100)
    _, counts, _ = compare_models([region], truth, {"m": call}, um_per_px=0.325)
    lymph = counts[counts.region == "Total"].set_index("class").loc["lymphocyte"]
    assert (lymph["fp"], lymph["ignored"]) == (1, 0)
