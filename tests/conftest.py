"""Shared fixtures: a small synthetic Orion-like pair generated once per test session."""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

import pytest

# Under pytest-xdist (-n) every worker is a process of its own: one thread each for PyTorch,
# OpenMP and BLAS, read when they load. Left at their default (a thread per core) the workers'
# threads fight for the same cores and a training test runs 8x slower.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _threads in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_threads, "1")
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # numpy's BLAS, loaded before this file by napari's pytest plugin

from napari_ifcell._napari.torch_guard import keep_triton_out
from napari_ifcell.synth import make_synthetic_pair

# The suite renders viewers with Mesa's software OpenGL: in such a process a torch optimizer
# that loads Triton crashes it, whichever test (widget or fixture) trains first.
keep_triton_out()

# Not a multiple of the tile size, and not square, so edge tiles and x/y mix-ups show.
SMALL_SHAPE = (1100, 1400)
HE_OFFSET_PX = (3.0, -2.0)
# A tissue region of the small pair (``crops``): 91 true nuclei with their centroid inside, 100
# touching it; a segmenter's count in CROP_NUCLEI is right (cut nuclei at the edges count).
CROP_Y0, CROP_X0, CROP_SIZE = 200, 300, 512
CROP_NUCLEI = range(85, 111)


@pytest.fixture(scope="session")
def small_pair(tmp_path_factory):
    """The easy world (separate, evenly lit nuclei): for tests of what comes after segmentation."""
    return make_synthetic_pair(
        tmp_path_factory.mktemp("synthetic"),
        shape=SMALL_SHAPE,
        seed=7,
        he_offset_px=HE_OFFSET_PX,
        tile=256,
        difficulty="easy",
    )


@pytest.fixture(scope="session")
def crops(small_pair):
    """The small pair's Hoechst, CD3e and aligned H&E over one tissue region, as arrays: what
    files written by other tools are made of."""
    from napari_ifcell.io import open_pair

    pair = open_pair(small_pair.if_path, small_pair.he_path)
    try:
        region = (CROP_Y0, CROP_X0, CROP_SIZE, CROP_SIZE)
        hoechst, cd3 = pair.if_slide.read_region(*region, channels=["Hoechst", "CD3e"])
        he = pair.read_he_aligned(*region, um_per_px=0.325)
    finally:
        pair.close()
    return hoechst, cd3, he


@pytest.fixture(scope="session")
def realistic_pair(tmp_path_factory):
    """The default, realistic world (crowded, uneven, blurred nuclei): for segmentation tests."""
    return make_synthetic_pair(
        tmp_path_factory.mktemp("realistic"), shape=SMALL_SHAPE, seed=7, he_offset_px=HE_OFFSET_PX, tile=256
    )


# A module that trains, predicts or runs SAM needs PyTorch (the [sam] / [classifier] extras).
TORCH_USE = re.compile(
    r"import torch|tiny_sam|train_classifier|train_steps|predicted_table|pair_classifier|predict_cells|load_sam|train_button"
)
# Tests measured over ~10 s on a 2-core machine (pytest --durations): deselect with -m "not slow".
SLOW = {
    "test_the_readme_cli_block_runs_as_written",
    "test_classifier_commands_end_to_end",
    "test_train_predict_and_overlay",
    "test_regions_models_report_and_overlays",
    "test_opening_over_layers_of_the_same_slide_replaces_them",
    "test_close_and_open_an_if_slide_alone",
    "test_cli_walks_an_he_slide_alone_segment_predict_review_compare",
    "test_multitask_marker_heads",
    "test_if_he_workflow_segment_gate_train_predict_review_compare",
    "test_exports_the_slide_on_screen",
    "test_a_slide_too_coarse_for_the_model_is_one_line",
    "test_a_killed_run_resumes_without_redoing_tiles_or_duplicating_cells",
    "test_he_only_model_finds_lymphocytes_in_a_held_out_region",
    "test_cluster_run_equals_the_in_process_run",
    "test_gates_are_applied",
    "test_same_masks_as_the_stock_generator",
}


@functools.lru_cache
def _module_uses_torch(path: str) -> bool:
    return bool(TORCH_USE.search(Path(path).read_text(encoding="utf-8")))


def pytest_collection_modifyitems(items):
    """Markers by where a test lives and what it uses: gui, torch, slow (gpu is set by hand)."""
    for item in items:
        path = str(item.path)
        if f"{os.sep}_napari{os.sep}" in path:
            item.add_marker(pytest.mark.gui)
        if _module_uses_torch(path):
            item.add_marker(pytest.mark.torch)
        if item.originalname in SLOW:
            item.add_marker(pytest.mark.slow)


_skipped_viewer_tests: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped and "tests/_napari/" in report.nodeid.replace("\\", "/"):
        _skipped_viewer_tests.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    """Viewer tests must run (under a virtual X server in CI), never be skipped."""
    if _skipped_viewer_tests:
        print("\nViewer tests were skipped; run them under xvfb-run:\n  " + "\n  ".join(_skipped_viewer_tests))
        session.exitstatus = 1


@pytest.fixture(scope="session")
def small_table(small_pair):
    """The quantified cell table of the small pair, from its true nuclei."""
    from napari_ifcell.io import open_slide
    from napari_ifcell.pipeline import quantify_region

    with open_slide(small_pair.if_path) as if_slide, open_slide(small_pair.labels_path) as labels:
        return quantify_region(if_slide, labels)


@pytest.fixture(scope="session")
def pair_classifier(small_pair, small_table, tmp_path_factory):
    """``(model folder, gated table, pair)``: a small CNN trained briefly on the small pair's
    H&E with its IF-derived labels (its quality does not matter, its output does)."""
    from dataclasses import replace

    from napari_ifcell.core.classify.model import ClassifierConfig, save_classifier
    from napari_ifcell.core.classify.training import train_classifier
    from napari_ifcell.core.gating.apply import gated_table
    from napari_ifcell.core.gating.auto import suggested_gateset
    from napari_ifcell.io import open_pair
    from napari_ifcell.pipeline.classify import dataset_config
    from napari_ifcell.pipeline.dataset import export_dataset, load_dataset

    gates, _ = suggested_gateset(small_table)
    table = gated_table(small_table, gates)
    pair = open_pair(small_pair.if_path, small_pair.he_path, offset_um=tuple(v * 0.325 for v in HE_OFFSET_PX))
    folder = tmp_path_factory.mktemp("compare-dataset")
    config = replace(ClassifierConfig(), epochs=3)
    export_dataset(pair, table, small_pair.labels_path, folder, config=config, sampling="natural", n=10**6)
    config = dataset_config(folder)
    patches, index = load_dataset(folder, config.patch_size)
    model, _ = train_classifier(patches, index["target"].to_numpy(), config)
    model_dir = save_classifier(model, config, tmp_path_factory.mktemp("pair-model") / "model")
    return model_dir, table, pair


@pytest.fixture(scope="session")
def predicted_table(pair_classifier):
    """The gated table of the small pair with the pair classifier's predictions for every cell."""
    from napari_ifcell.core.classify.model import load_classifier
    from napari_ifcell.pipeline.classify import predict_cells

    model_dir, table, pair = pair_classifier
    model, config = load_classifier(model_dir)
    return predict_cells(pair, table, model, config)


@pytest.fixture(scope="session")
def truth_store(small_pair, tmp_path_factory):
    """A label store holding the small pair's true nuclei (ids = ``small_table``'s CellID)."""
    from napari_ifcell.io import open_slide
    from napari_ifcell.io.label_store import LabelStore
    from napari_ifcell.pipeline.tiling import read_labels

    with open_slide(small_pair.labels_path) as labels:
        truth = read_labels(labels, 0, 0, *SMALL_SHAPE)
    store = LabelStore.create(tmp_path_factory.mktemp("truth") / "truth.ifcell", SMALL_SHAPE, pixel_size_um=0.325)
    store.paint(truth, (0, 0), store.start_run({"source": "truth"}))
    store.commit()
    return store
