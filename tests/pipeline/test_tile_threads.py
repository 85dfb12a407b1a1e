"""Tiles in threads of this process: the same cells, ids and tables as one tile at a time,
cancelling stops the work, and a tile's notes and errors reach the caller."""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest

from napari_ifcell.core.quantify.cells import QuantifySettings
from napari_ifcell.core.segment.watershed import WatershedSettings
from napari_ifcell.io import open_slide
from napari_ifcell.io.label_store import LabelStore
from napari_ifcell.notes import note, recording_notes
from napari_ifcell.pipeline import SegmentSettings, quantify_region, run_to_end, segment_region
from napari_ifcell.pipeline.quantify import quantify_region_steps
from napari_ifcell.pipeline.tile_threads import THREADS_VARIABLE, in_order, tile_threads


def test_results_come_in_the_tiles_order_when_later_tiles_finish_first():
    finished = []

    def slow_first(i):
        time.sleep(0.02 * (5 - i))
        finished.append(i)
        return i * i

    assert list(in_order(slow_first, range(6), 3)) == [0, 1, 4, 9, 16, 25]
    assert finished != sorted(finished)  # they did run side by side


def test_closing_early_runs_no_further_tile_and_leaves_none_running():
    started = []
    lock = threading.Lock()
    live = [0]

    def tile(i):
        with lock:
            started.append(i)
            live[0] += 1
        time.sleep(0.05)
        with lock:
            live[0] -= 1
        return i

    results = in_order(tile, range(100), 2)
    assert next(results) == 0
    results.close()
    assert live[0] == 0  # close() waited for the running tiles
    count = len(started)
    time.sleep(0.2)
    assert len(started) == count <= 6  # two running, two queued per thread at most


def test_a_tiles_error_is_raised_in_its_turn():
    def tile(i):
        if i == 3:
            raise ValueError("tile 3 is broken")
        return i

    got = []
    with pytest.raises(ValueError, match="tile 3 is broken"):
        for value in in_order(tile, range(8), 2):
            got.append(value)
    assert got == [0, 1, 2]


def test_notes_raised_in_the_pool_reach_the_callers_recording():
    def tile(i):
        if i % 2:
            note(f"tile {i} guessed something")
        return i

    with recording_notes() as notes:
        assert list(in_order(tile, range(6), 2)) == list(range(6))
    assert notes == ["tile 1 guessed something", "tile 3 guessed something", "tile 5 guessed something"]


def test_the_thread_count_can_be_set_and_a_bad_one_is_refused(monkeypatch):
    monkeypatch.setenv(THREADS_VARIABLE, "3")
    assert tile_threads() == 3
    monkeypatch.setenv(THREADS_VARIABLE, "two")
    with pytest.raises(ValueError, match=r"NAPARI_IFCELL_THREADS='two': expected a whole number of threads, 1 or more"):
        tile_threads()
    monkeypatch.delenv(THREADS_VARIABLE)
    assert 1 <= tile_threads() <= 8


@pytest.fixture(scope="module")
def slides(small_pair):
    if_slide, labels = open_slide(small_pair.if_path), open_slide(small_pair.labels_path)
    yield if_slide, labels
    if_slide.close()
    labels.close()


@pytest.mark.parametrize("statistics", [("mean", "std"), ("mean", "median")])
def test_quantifying_in_threads_gives_the_table_of_one_tile_at_a_time(slides, monkeypatch, statistics):
    if_slide, labels = slides
    settings = QuantifySettings(tile=256, statistics=statistics)
    tables = {}
    for threads in ("1", "3"):
        monkeypatch.setenv(THREADS_VARIABLE, threads)
        tables[threads] = quantify_region(if_slide, labels, region=(100, 150, 700, 900), settings=settings)
    assert len(tables["1"]) > 100
    pd.testing.assert_frame_equal(tables["1"], tables["3"])


def test_cancelling_a_quantify_in_threads_stops_its_tiles(slides, monkeypatch):
    if_slide, labels = slides
    monkeypatch.setenv(THREADS_VARIABLE, "2")
    steps = quantify_region_steps(if_slide, labels, settings=QuantifySettings(tile=256))
    assert next(steps) == ("quantify", 0, 30)
    assert next(steps)[1] == 1
    steps.close()  # what the GUI's Cancel does
    names = {t.name for t in threading.enumerate()}
    assert not any(name.startswith("ifcell-tile") for name in names)


def test_segmenting_in_threads_paints_the_same_cells_with_the_same_ids(small_pair, monkeypatch, tmp_path):
    if_slide = open_slide(small_pair.if_path)
    settings = SegmentSettings(backend="hoechst", tile=256, watershed=WatershedSettings(method="adaptive"))
    labels = {}
    for threads in ("1", "3"):
        monkeypatch.setenv(THREADS_VARIABLE, threads)
        store = LabelStore.create(tmp_path / f"store{threads}", if_slide.shape, pixel_size_um=0.325)
        result = run_to_end(segment_region(if_slide, store, settings=settings))
        assert result.completed and result.tiles == 30
        labels[threads] = np.asarray(store.levels[0][:])
    if_slide.close()
    assert len(np.unique(labels["1"])) > 200
    np.testing.assert_array_equal(labels["1"], labels["3"])


def test_the_cli_refuses_a_bad_thread_count_in_one_line_with_exit_2(small_pair, tmp_path, monkeypatch, capsys):
    from napari_ifcell.cli import main

    monkeypatch.setenv(THREADS_VARIABLE, "0")
    out = tmp_path / "cells.parquet"
    assert main(["quantify", str(small_pair.if_path), str(small_pair.labels_path), "--out", str(out)]) == 2
    error = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert error == [
        "napari-ifcell quantify: error: NAPARI_IFCELL_THREADS='0': expected a whole number of threads, 1 or more"
    ]
    assert not out.exists()
