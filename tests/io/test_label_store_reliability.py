"""The label store against a killed writer, a full disk, a second writer and a lost chunk file:
what was committed last always survives, and damage is named, never read as background."""

from __future__ import annotations

import errno
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from napari_ifcell.core.segment.watershed import WatershedSettings
from napari_ifcell.io import open_slide
from napari_ifcell.io.label_store import LabelStore, LabelStoreError
from napari_ifcell.io.store_undo import ChunkUndoLog, LabelStoreLockedError, chunk_path
from napari_ifcell.pipeline import SegmentSettings, run_to_end, segment_region


@pytest.fixture
def segmented(small_pair, tmp_path):
    """A store holding one committed segmentation of the whole small slide, and a snapshot of it."""
    folder = tmp_path / "store"
    with open_slide(small_pair.if_path) as slide:
        store = LabelStore.create(folder, slide.shape, pixel_size_um=0.325, n_levels=2)
        run_to_end(segment_region(slide, store, settings=SegmentSettings(tile=256)))
    return folder, snapshot(folder)


def snapshot(folder):
    store = LabelStore.open(folder)
    index = store.index.sort_values("CellID").reset_index(drop=True)
    return [np.asarray(level[:]) for level in store.levels], index, store.meta["next_id"]


def assert_same(folder, expected):
    levels, index, _ = snapshot(folder)
    for got, want in zip(levels, expected[0]):
        np.testing.assert_array_equal(got, want)
    assert index.equals(expected[1])
    ids = np.unique(levels[0])
    assert set(ids[ids > 0].tolist()) == set(index.CellID.tolist())  # every cell's pixels have a row, and back
    assert not (folder / "pending.json").exists() and not (folder / "undo").exists()


KILLED = textwrap.dedent("""
    import sys
    from napari_ifcell.io import open_slide
    from napari_ifcell.io.label_store import LabelStore
    from napari_ifcell.core.segment.watershed import WatershedSettings
    from napari_ifcell.pipeline import SegmentSettings, segment_region

    slide = open_slide(sys.argv[2])
    store = LabelStore.open(sys.argv[1])
    lower = SegmentSettings(tile=128, watershed=WatershedSettings(threshold=float(sys.argv[3])))
    for stage, i, n in segment_region(slide, store, settings=lower):
        print(stage, i, n, flush=True)
""")


def test_a_writer_killed_mid_segmentation_leaves_the_last_committed_cells(segmented, small_pair):
    folder, before = segmented
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED, str(folder), str(small_pair.if_path), "300"], stdout=subprocess.PIPE, text=True
    )
    for line in child.stdout:
        if int(line.split()[1]) >= 30:  # 30 of 99 tiles repainted (a different threshold)
            break
    child.kill()
    child.wait()
    assert (folder / "pending.json").exists()
    # quantify reads the cells of the last complete write, not the half-repainted ones
    done = _quantify(small_pair, folder)
    assert done.returncode == 0 and "were put back" in done.stderr, done.stderr
    assert done.stdout.startswith(f"{len(before[1])} cells ->"), done.stdout
    assert_same(folder, before)


def _quantify(small_pair, folder):
    cli = [sys.executable, "-m", "napari_ifcell.cli", "quantify", str(small_pair.if_path), str(folder)]
    return subprocess.run(cli + ["--out", str(folder.parent / "cells.parquet")], capture_output=True, text=True)


def test_a_full_disk_mid_segmentation_leaves_the_store_as_it_was(segmented, small_pair, monkeypatch):
    folder, before = segmented
    real_save, calls = ChunkUndoLog.save, []

    def fills_up(self, *args):
        calls.append(args)
        if len(calls) > 6:  # some chunks already rewritten, then no space for the next copy
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, *args)

    monkeypatch.setattr(ChunkUndoLog, "save", fills_up)
    store = LabelStore.open(folder)
    with open_slide(small_pair.if_path) as slide, pytest.raises(OSError, match="No space"):
        lower = SegmentSettings(tile=128, watershed=WatershedSettings(threshold=300.0))
        run_to_end(segment_region(slide, store, settings=lower))
    assert store.index.sort_values("CellID").reset_index(drop=True).equals(before[1])  # in memory too
    monkeypatch.undo()
    assert_same(folder, before)


def test_a_writer_killed_after_its_commit_point_is_finished_on_open(segmented, small_pair, monkeypatch):
    folder, _ = segmented
    monkeypatch.setattr(ChunkUndoLog, "finish", lambda self: (_ for _ in ()).throw(KeyboardInterrupt()))
    with open_slide(small_pair.if_path) as slide, pytest.raises(KeyboardInterrupt):
        # a region with nuclei (the slide's corner is glass: a run that finds nothing is rolled back)
        run_to_end(segment_region(slide, LabelStore.open(folder), region=(300, 300, 300, 300)))
    monkeypatch.undo()
    after = LabelStore.open(folder)  # no warning: nothing to undo
    assert after.meta["runs"][-1]["settings"]["region"] == [300, 300, 300, 300]
    assert not (folder / "pending.json").exists()
    ids = np.unique(np.asarray(after.levels[0][:]))
    assert set(ids[ids > 0].tolist()) == set(after.index.CellID.tolist())


def test_a_second_writer_is_refused_naming_the_first(segmented, small_pair):
    folder, before = segmented
    first = LabelStore.open(folder)
    first.begin("hand edits in napari")
    with open_slide(small_pair.if_path) as slide, pytest.raises(LabelStoreLockedError, match="hand edits in napari"):
        run_to_end(segment_region(slide, LabelStore.open(folder), region=(0, 0, 300, 300)))
    first.roll_back()
    assert_same(folder, before)


HOLDER = textwrap.dedent("""
    import sys, time
    from napari_ifcell.io.label_store import LabelStore
    store = LabelStore.open(sys.argv[1])
    store.begin("a long segmentation")  # held while the object lives
    print("holding", flush=True)
    time.sleep(60)
""")


def test_segment_in_a_second_process_exits_2_naming_the_holder(segmented, small_pair):
    folder, before = segmented
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "holding"
        cli = [sys.executable, "-m", "napari_ifcell.cli", "segment", str(small_pair.if_path), "--store", str(folder)]
        result = subprocess.run(cli + ["--region", "0", "0", "300", "300"], capture_output=True, text=True)
        reading = _quantify(small_pair, folder)  # half old, half new cells if it read on
    finally:
        child.kill()
        child.wait()
    assert result.returncode == 2, result.stderr
    assert "a long segmentation, user" in result.stderr and f"process {child.pid}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert reading.returncode == 2 and "being written now (a long segmentation, user" in reading.stderr
    assert not (folder.parent / "cells.parquet").exists()
    with pytest.warns(UserWarning, match="interrupted"):  # the killed holder had begun: its (empty) write undone
        assert_same(folder, before)


def test_a_lost_chunk_file_is_named_not_read_as_background(segmented):
    folder, _ = segmented
    store = LabelStore.open(folder)
    path = chunk_path(folder, 0, store.levels[0], 0, 1)
    path.unlink()
    with pytest.raises(LabelStoreError, match=r"c/0/1: this label chunk is missing .* \d+ cell"):
        LabelStore.open(folder)


def test_a_rerun_that_finds_nothing_keeps_the_cells_it_would_have_replaced(segmented, small_pair):
    folder, before = segmented
    with open_slide(small_pair.if_path) as slide:
        blind = SegmentSettings(watershed=WatershedSettings(threshold=1e9))
        result = run_to_end(segment_region(slide, LabelStore.open(folder), region=(0, 0, 600, 600), settings=blind))
    assert result.found_nothing and result.removed == 0
    assert_same(folder, before)


def test_quantify_refuses_a_label_store_of_another_slide(segmented, small_pair):
    folder, _ = segmented
    LabelStore.open(folder).check_slide({"name": "other.ome.tif", "shape": [1100, 1400], "fingerprint": "0"})
    done = _quantify(small_pair, folder)
    assert done.returncode == 2 and "this label store holds the cells of other.ome.tif" in done.stderr, done.stderr
