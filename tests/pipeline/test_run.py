"""Headless runs on dask.distributed: same table as in-process, resumable after a kill,
bad settings refused before any work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from napari_ifcell.io import open_slide
from napari_ifcell.io.label_store import LabelStore
from napari_ifcell.pipeline import quantify_region
from napari_ifcell.pipeline.run import SlideJob, local_client, run_slide, workers_with_trim_threshold
from napari_ifcell.pipeline.run_settings import RunSettingsError, load_run_settings

SETTINGS = "segmentation: {backend: hoechst, tile: 256}\nquantification: {statistics: [mean]}\n"


@pytest.fixture
def settings_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(SETTINGS)
    return path


def _job(small_pair, settings_file, out):
    return SlideJob(str(small_pair.if_path), None, (0.0, 0.0), load_run_settings(settings_file), str(out))


def test_cluster_run_equals_the_in_process_run(small_pair, settings_file, tmp_path):
    local = run_slide(_job(small_pair, settings_file, tmp_path / "local"))
    client = local_client(2)
    try:
        assert len(client.scheduler_info()["workers"]) == 2
        # dask's default MALLOC_TRIM_THRESHOLD_ slows tile work in a worker; ours are started without it
        assert workers_with_trim_threshold(client) == []
        distributed = run_slide(_job(small_pair, settings_file, tmp_path / "cluster"), client=client)
    finally:
        client.close()
    a = pd.read_parquet(tmp_path / "local" / "cells.parquet")
    b = pd.read_parquet(tmp_path / "cluster" / "cells.parquet")
    pd.testing.assert_frame_equal(a, b)
    assert local.cells == distributed.cells == len(a) > 100 and distributed.tiles == 30
    # and the same as quantifying the merged label store in one go
    with open_slide(small_pair.if_path) as if_slide:
        store = LabelStore.open(tmp_path / "cluster" / "labels")
        direct = quantify_region(if_slide, store.levels[0], settings=load_run_settings(settings_file).quantification)
    pd.testing.assert_frame_equal(a, direct)
    assert a["CellID"].is_unique and set(a.CellID) == set(store.index.CellID)


def test_gates_are_applied(small_pair, settings_file, small_table, tmp_path):
    from napari_ifcell.core.gating.auto import suggested_gateset
    from napari_ifcell.io.gate_file import save_gates

    gates, _ = suggested_gateset(small_table)
    save_gates(gates, tmp_path / "gates.yaml")
    settings_file.write_text(SETTINGS.replace("statistics: [mean]", "statistics: [mean]") + "gates: gates.yaml\n")
    run_slide(_job(small_pair, settings_file, tmp_path / "out"))
    table = pd.read_parquet(tmp_path / "out" / "cells.parquet")
    assert "phenotype" in table and (table.phenotype == "B cell").sum() > 10


def test_bad_settings_are_refused_before_any_work(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(
        "segmentation: {backend: stardist, tiles: 3, watershed: {sigma: 1}}\n"
        "quantification: {expand_um: -1}\nreview: {}\nclassifier: {}\ngates: missing.yaml\n"
    )
    with pytest.raises(RunSettingsError) as info:
        load_run_settings(path)
    text = str(info.value)
    for expected in (
        "unknown section(s) review",
        "classifier: expected the path of a model folder",
        "segmentation.watershed: unknown setting(s) sigma",
        "segmentation: unknown setting(s) tiles",
        "unknown backend 'stardist'",
        "expand_um must be >= 0",
        "gates: ",
    ):
        assert expected in text, expected
    assert text.startswith(f"{path}: ")


def test_cli_run_refuses_bad_settings_with_exit_2(small_pair, tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("segmentation: {backend: sam}\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "napari_ifcell.cli",
            "run",
            str(path),
            "--if",
            str(small_pair.if_path),
            "--out",
            str(tmp_path / "out"),
            "--in-process",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "checkpoint" in done.stderr and not (tmp_path / "out").exists()


DEFAULT_CLUSTER = """
import sys
from distributed import LocalCluster
with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster:  # dask's defaults
    print(cluster.scheduler_address, flush=True)
    sys.stdin.read()
"""


def test_cli_run_on_a_scheduler_names_workers_started_with_the_slow_allocator(small_pair, settings_file, tmp_path):
    # The cluster runs in a process of its own: a nanny leaves the variable in its parent's
    # environment, and neither this test process nor the CLI may have it.
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}
    cluster = subprocess.Popen(
        [sys.executable, "-c", DEFAULT_CLUSTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        address = cluster.stdout.readline().strip()
        argv = ["run", str(settings_file), "--if", str(small_pair.if_path), "--out", str(tmp_path / "out")]
        argv += ["--region", "512", "512", "256", "256", "--scheduler", address]
        done = subprocess.run(
            [sys.executable, "-m", "napari_ifcell.cli", *argv], capture_output=True, text=True, env=env
        )
    finally:
        cluster.communicate(timeout=60)
    assert done.returncode == 0, done.stderr
    assert "1 dask worker(s) run with MALLOC_TRIM_THRESHOLD_ set" in done.stderr
    assert "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_: null" in done.stderr
    assert len(pd.read_parquet(tmp_path / "out" / "cells.parquet")) > 10


def test_a_local_cluster_started_after_a_default_one_still_has_no_trim_threshold():
    """A nanny leaves MALLOC_TRIM_THRESHOLD_ in its process's environment; ours must not inherit it."""
    os.environ["MALLOC_TRIM_THRESHOLD_"] = "65536"  # as a default cluster started earlier leaves it
    try:
        client = local_client(1)
        try:
            assert workers_with_trim_threshold(client) == []
        finally:
            client.close()
        assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "65536"  # put back for whoever set it
    finally:
        del os.environ["MALLOC_TRIM_THRESHOLD_"]


def _notes_of_opening(path: str) -> list[str]:
    import warnings

    from napari_ifcell.pipeline.tiling import open_slides_cached

    open_slides_cached.cache_clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        open_slides_cached(path, None, (0.0, 0.0))
    return [str(w.message) for w in caught]


def test_workers_keep_the_slides_notes_the_command_already_said(tmp_path):
    """Each worker's opening printed the notes again as raw warning lines, source path and all."""
    import tifffile

    path = tmp_path / "plain.tif"  # no resolution tags: the pixel size unknown, a note
    tifffile.imwrite(path, np.zeros((2, 64, 64), np.uint16), photometric="minisblack")
    assert any("pixel size unknown" in n for n in _notes_of_opening(str(path)))  # the command's own opening
    client = local_client(1)
    try:
        assert client.submit(_notes_of_opening, str(path)).result() == []
    finally:
        client.close()


def test_a_killed_run_resumes_without_redoing_tiles_or_duplicating_cells(small_pair, settings_file, tmp_path):
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "napari_ifcell.cli",
        "run",
        str(settings_file),
        "--if",
        str(small_pair.if_path),
        "--out",
        str(out),
        "--workers",
        "1",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "segment_tiles").glob("*.npz"))) < 5:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the whole run, workers included, mid-way
    process.wait()
    finished = len(list((out / "segment_tiles").glob("*.npz")))
    assert 5 <= finished < 30, finished
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"({finished} already done)" in done.stdout or "already done" in done.stdout
    resumed = pd.read_parquet(out / "cells.parquet")
    clean = tmp_path / "clean"
    run_slide(_job(small_pair, settings_file, clean))
    pd.testing.assert_frame_equal(resumed, pd.read_parquet(clean / "cells.parquet"))
    labels = np.asarray(LabelStore.open(out / "labels").levels[0][:])
    assert set(np.unique(labels)) - {0} == set(resumed.CellID)


def test_an_output_folder_of_another_run_is_refused(small_pair, settings_file, tmp_path, monkeypatch):
    run_slide(_job(small_pair, settings_file, tmp_path / "out"))
    # the same slide typed another way resumes the run (it was refused: run.json kept it as typed)
    monkeypatch.chdir(small_pair.if_path.parent)
    settings = load_run_settings(settings_file)
    run_slide(SlideJob(f"./{small_pair.if_path.name}", None, (0.0, 0.0), settings, str(tmp_path / "out")))
    settings_file.write_text(SETTINGS.replace("tile: 256", "tile: 512"))
    with pytest.raises(
        ValueError, match=r"holds a run of other slides or settings \(settings differ from its run.json\)"
    ):
        run_slide(_job(small_pair, settings_file, tmp_path / "out"))


def test_run_with_a_classifier_adds_predictions(small_pair, settings_file, tmp_path):
    import torch

    from napari_ifcell.core.classify.model import ClassifierConfig, build_model, save_classifier, saved_id

    torch.manual_seed(0)
    config = ClassifierConfig()
    save_classifier(build_model(config).eval(), config, tmp_path / "model")
    settings_file.write_text(SETTINGS + "classifier: model\n")
    settings = load_run_settings(settings_file)
    job = SlideJob(str(small_pair.if_path), str(small_pair.he_path), (0.0, 0.0), settings, str(tmp_path / "out"))
    run_slide(job, region=(0, 0, 512, 512))
    table = pd.read_parquet(tmp_path / "out" / "cells.parquet")
    probs = table[[f"prob_{c}" for c in config.classes]].to_numpy()
    assert len(table) > 10 and np.allclose(probs.sum(axis=1), 1, atol=1e-5) and table["predicted"].notna().all()
    # each cell names the model that predicted it, so evaluate leaves out what that model learnt from
    assert (table["model"] == str((tmp_path / "model").resolve())).all()
    assert (table["model_id"] == saved_id(tmp_path / "model")).all() and len(saved_id(tmp_path / "model")) == 32
    without_he = SlideJob(str(small_pair.if_path), None, (0.0, 0.0), settings, str(tmp_path / "out2"))
    with pytest.raises(ValueError, match="give the H&E"):
        run_slide(without_he)


def test_peak_memory_is_the_workers_own_not_its_parents(tmp_path):
    """A worker started by a driver that had grown large must not report the driver's peak."""
    grown = np.ones(400 * 2**20, dtype=np.uint8)  # touched pages: this process's peak grows by 400 MB
    probe = "from napari_ifcell.pipeline.run import _peak_rss_mb; print(_peak_rss_mb())"
    child = float(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout)
    assert grown.sum() == grown.size
    assert 10 < child < 300
