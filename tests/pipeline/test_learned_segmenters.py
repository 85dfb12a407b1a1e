"""Segmenters that come as models, through our tiles, halos, ownership and label store: a
function the user brings (from a file or a module), InstanSeg and Cellpose. No weights can be
downloaded here, so InstanSeg runs a model the test builds and Cellpose its real network with a
small random encoder; both go through the libraries' own code (resampling, normalisation,
flow dynamics)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from napari_ifcell.core.segment.learned import CellposeTiles, InstanSegTiles, ModelError, load_segmenter
from napari_ifcell.core.segment.metrics import match_at_iou
from napari_ifcell.io import open_pair, open_slide
from napari_ifcell.io.label_store import LabelStore
from napari_ifcell.pipeline import SegmentSettings, run_to_end, segment_region, segment_slide

from ..conftest import HE_OFFSET_PX
from ..sam_fixtures import tiny_sam

# What a user brings: the 20-line Otsu + distance-transform watershed of the field (the
# benchmarks' reference), in a file of their own that also records the tiles it is given.
REFERENCE = Path(__file__).resolve().parents[2] / "benchmarks" / "otsu_watershed.py"
USER_MODEL = textwrap.dedent(
    f"""
    import runpy

    import numpy as np

    reference = runpy.run_path({str(REFERENCE)!r})["nuclei"]
    SEEN = []

    def nuclei(image, pixel_size_um):
        SEEN.append((image.shape, str(image.dtype), pixel_size_um))
        return reference(image, pixel_size_um)

    def he_nuclei(image):
        SEEN.append((image.shape, str(image.dtype), None))
        return reference(image, 0.325)

    def wrong_shape(image):
        return np.zeros((5, 5), np.int32)

    def probabilities(image):
        return np.random.default_rng(0).random(image.shape)

    def mask(image):
        return image > image.mean()

    def broken(image):
        raise RuntimeError("CUDA out of memory")
    """
)


@pytest.fixture(scope="module")
def user_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("user") / "my_model.py"
    path.write_text(USER_MODEL)
    return path


@pytest.fixture
def pair(realistic_pair):
    pair = open_pair(realistic_pair.if_path, realistic_pair.he_path, offset_um=tuple(v * 0.325 for v in HE_OFFSET_PX))
    yield pair
    pair.close()


def _segment(pair, tmp_path, settings):
    store = LabelStore.create(tmp_path / "store", pair.if_slide.shape, pixel_size_um=0.325)
    result = run_to_end(segment_slide(pair.if_slide, store, pair=pair, settings=settings))
    return store, result


def test_a_function_from_a_file_segments_the_slide_tile_by_tile(pair, realistic_pair, user_model, tmp_path):
    settings = SegmentSettings(backend="custom", model=f"{user_model}:nuclei", tile=512, halo=48)
    store, result = _segment(pair, tmp_path, settings)
    labels = np.asarray(store.levels[0][:])
    score = match_at_iou(labels, tifffile.imread(realistic_pair.labels_path))
    print(f"user Otsu watershed through our tiles: F1@0.5 {score.f1:.3f}, {result.cells} cells")
    assert result.completed and result.cells == len(store.index) == len(np.unique(labels)) - 1
    assert 0.5 < score.f1 < 0.9  # a real segmentation, and weaker than the adaptive default
    seen = sys.modules["napari_ifcell_user_model_my_model"].SEEN
    assert len(seen) == result.tiles == 9  # 1100 x 1400 in 512 px tiles
    # The nuclear channel with its halo, and the pixel size; at the slide's corner only what is on the slide.
    assert seen[0] == ((560, 560), "uint16", 0.325)
    assert seen[4] == ((608, 608), "uint16", 0.325)
    assert (
        store.meta["runs"][-1]["settings"]["settings"]["model"] == f"{user_model}:nuclei"
    )  # the run records which model


def test_a_function_can_read_the_registered_he(pair, user_model, tmp_path):
    settings = SegmentSettings(backend="custom", model=f"{user_model}:he_nuclei", model_input="he", tile=512)
    store, result = _segment(pair, tmp_path, settings)
    assert result.cells > 300
    assert ((608, 608, 3), "uint8", None) in sys.modules["napari_ifcell_user_model_my_model"].SEEN


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{dir}/nothing.py:nuclei", r"nothing\.py: no such Python file"),
        ("{dir}/my_model.py:missing", r"has no function 'missing'"),
        ("{dir}/my_model.py", r"expected 'package\.module:function'"),
        ("not_a_module_at_all:f", r"importing not_a_module_at_all failed: ModuleNotFoundError"),
        ("{dir}/my_model.py:wrong_shape", r"returned an array of shape \(5, 5\); expected labels of shape"),
        ("{dir}/my_model.py:probabilities", r"returned float64 values; expected integer labels"),
        ("{dir}/my_model.py:mask", r"returned a boolean mask; return one label per nucleus"),
        (
            "{dir}/my_model.py:broken",
            r"my_model\.py:broken failed on a \(560, 560\) uint16 tile: RuntimeError: CUDA",
        ),  # the corner tile: its halo stops at the slide's edge
    ],
)
def test_a_bad_model_is_named(pair, user_model, tmp_path, spec, message):
    spec = spec.format(dir=user_model.parent)
    settings = SegmentSettings(backend="custom", model=spec)
    with pytest.raises(ModelError, match=message):
        _segment(pair, tmp_path, settings)
    assert len(LabelStore.open(tmp_path / "store").index) == 0  # nothing half-written


def test_the_cli_runs_a_users_function_and_says_what_is_wrong(realistic_pair, user_model, tmp_path):
    def cli(*args):
        command = [sys.executable, "-m", "napari_ifcell.cli", "segment", realistic_pair.if_path, *args]
        return subprocess.run(command, capture_output=True, text=True)

    done = cli("--backend", "custom", "--model", f"{user_model}:nuclei", "--store", tmp_path / "s")
    assert done.returncode == 0, done.stderr
    assert "cells in" in done.stdout and "with custom" in done.stdout
    wrong = cli("--backend", "custom", "--model", f"{user_model}:wrong_shape", "--store", tmp_path / "t")
    assert wrong.returncode == 2
    last = wrong.stderr.splitlines()[-1]  # after the progress line, the error on a line of its own
    assert last.startswith("napari-ifcell segment: error: model ") and last.endswith(
        "expected labels of shape (560, 560)"  # the corner tile, on the slide only
    )
    rgb = cli(
        "--backend", "custom", "--model", f"{user_model}:nuclei", "--model-input", "he", "--store", tmp_path / "u"
    )
    assert rgb.returncode == 2 and "registered H&E (--he)" in rgb.stderr


class ThresholdInstanSeg(torch.nn.Module):
    """An InstanSeg-shaped TorchScript model (InstanSeg's carry their pixel size and outline
    nuclei and cells): connected bright regions of the normalised image, labelled by growing
    each pixel's index over its region. It records the last input's shape and target."""

    def __init__(self):
        super().__init__()
        self.pixel_size = 0.5
        self.cells_and_nuclei = True
        self.register_buffer("last_shape", torch.zeros(4))
        self.register_buffer("last_target", torch.zeros(2))

    def forward(self, x: torch.Tensor, target_segmentation: torch.Tensor | None = None) -> torch.Tensor:
        self.last_shape.copy_(torch.tensor(x.shape))
        if target_segmentation is not None:
            self.last_target.copy_(target_segmentation)
        foreground = (x[:, :1] > 0.35).float()
        h, w = x.shape[-2], x.shape[-1]
        ids = torch.arange(1, h * w + 1, dtype=torch.float32, device=x.device).reshape(1, 1, h, w) * foreground
        grown = torch.nn.functional.max_pool2d(ids, 3, 1, 1) * foreground
        while not torch.equal(grown, ids):
            ids = grown
            grown = torch.nn.functional.max_pool2d(ids, 3, 1, 1) * foreground
        return ids


@pytest.fixture(scope="module")
def instanseg_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("instanseg") / "threshold_nuclei.pt"
    torch.jit.save(torch.jit.script(ThresholdInstanSeg()), str(path))
    return path


def test_instanseg_runs_at_its_own_pixel_size_and_labels_come_back_on_the_slide_grid(
    pair, realistic_pair, instanseg_file, tmp_path
):
    segmenter = load_segmenter("instanseg", str(instanseg_file), device="cpu")
    assert isinstance(segmenter.fn, InstanSegTiles)
    settings = SegmentSettings(backend="instanseg", tile=512)
    store = LabelStore.create(tmp_path / "store", pair.if_slide.shape, pixel_size_um=0.325)
    result = run_to_end(segment_region(pair.if_slide, store, pair=pair, settings=settings, model=segmenter))
    model = segmenter.fn.instanseg.instanseg
    assert model.last_target.tolist() == [1, 0]  # nuclei only
    assert result.cells > 100 and result.cells == len(store.index)
    # the first tile (608 px at 0.325 µm) reached the model at its 0.5 µm/px: 395 px; labels came back
    segmenter(pair.if_slide.read_region(0, 0, 608, 608, channels=[0])[0], 0.325)
    assert model.last_shape.tolist() == [1, 1, 395, 395]
    truth = tifffile.imread(realistic_pair.labels_path)
    ours, true = np.bincount(np.asarray(store.levels[0][:]).ravel())[1:], np.bincount(truth.ravel())[1:]
    assert 0.3 < np.median(ours[ours > 0]) / np.median(true[true > 0]) < 3  # sizes on the slide's grid


def test_model_files_that_are_not_there_or_not_models_are_named(tmp_path):
    with pytest.raises(ModelError, match=r"nuclei\.pt: no such InstanSeg model file"):
        load_segmenter("instanseg", str(tmp_path / "nuclei.pt"))
    (tmp_path / "notes.pt").write_text("not a model")
    with pytest.raises(ModelError, match=r"notes\.pt: not an InstanSeg TorchScript model"):
        load_segmenter("instanseg", str(tmp_path / "notes.pt"))
    with pytest.raises(ModelError, match=r"cyto9: not a Cellpose model name"):
        load_segmenter("cellpose", "cyto9")
    with pytest.raises(ModelError, match=r"cp\.pt: no such Cellpose model file"):
        load_segmenter("cellpose", str(tmp_path / "cp.pt"))


def test_a_cellpose_model_name_with_no_network_says_where_its_weights_go(tmp_path, monkeypatch):
    """Offline, Cellpose's first fetch of a named model raised urllib's URLError, shown raw."""
    from urllib.error import URLError

    from cellpose import models, utils

    def offline(url, *args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(models, "MODEL_DIR", tmp_path / "models")  # no weights cached here
    monkeypatch.setattr(utils, "urlopen", offline)
    with pytest.raises(ModelError) as raised:
        load_segmenter("cellpose", "cpsam", device="cpu")
    said = str(raised.value)
    assert said.startswith("cpsam: Cellpose could not download this model's weights ([Errno -3]")
    assert f"copy them to {tmp_path / 'models' / 'cpsam'} or give the model file" in said


@pytest.fixture
def tiny_cellpose_file(tmp_path, monkeypatch):
    """A Cellpose-SAM model file whose ViT encoder is the small random SAM's."""
    import segment_anything
    from cellpose import vit

    monkeypatch.setitem(segment_anything.sam_model_registry, "vit_l", lambda checkpoint=None: tiny_sam(seed=3))
    path = tmp_path / "tiny_cpsam"
    torch.save(vit.CPSAM(dtype=torch.float32).state_dict(), path)
    return path


def test_cellpose_loads_a_model_file_and_runs_its_network_on_each_tile(pair, tiny_cellpose_file, tmp_path):
    segmenter = load_segmenter("cellpose", str(tiny_cellpose_file), device="cpu")
    assert isinstance(segmenter.fn, CellposeTiles)
    with open_slide(pair.he_slide.path, pixel_size_um=0.325) as he:
        rgb = he.read_region(100, 100, 300, 280)
    for image in (rgb, rgb[..., 0].astype(np.uint16) * 40):  # an H&E and one fluorescence channel
        labels = segmenter(image, 0.325)
        assert labels.shape == (300, 280) and labels.dtype == np.int32
    # random weights outline nothing: through the pipeline that is said, and the store keeps its cells
    settings = SegmentSettings(backend="cellpose", model=str(tiny_cellpose_file), tile=512)
    store = LabelStore.create(tmp_path / "store", pair.if_slide.shape, pixel_size_um=0.325)
    result = run_to_end(segment_slide(pair.if_slide, store, pair=pair, region=(0, 0, 512, 512), settings=settings))
    assert result.cells == 0 and "0 cells found in 512 x 512 px with the cellpose backend" in result.found_nothing


def test_a_headless_run_segments_with_the_users_function(realistic_pair, user_model, tmp_path, monkeypatch):
    from napari_ifcell.pipeline.run import SlideJob, run_slide
    from napari_ifcell.pipeline.run_settings import load_run_settings

    # the model file named relative to the settings file, the run started from another folder
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "my_model.py").write_text(user_model.read_text())
    settings_file = tmp_path / "run.yaml"
    settings_file.write_text(
        "segmentation: {backend: custom, model: 'models/my_model.py:nuclei', tile: 256}\n"
        "quantification: {statistics: [mean]}\n"
    )
    monkeypatch.chdir(user_model.parent.parent)
    job = SlideJob(
        str(realistic_pair.if_path), None, (0.0, 0.0), load_run_settings(settings_file), str(tmp_path / "out")
    )
    run_slide(job, region=(0, 0, 512, 512))
    import pandas as pd

    table = pd.read_parquet(tmp_path / "out" / "cells.parquet")
    # the same cells as segmenting that region in process with the same settings
    with open_slide(realistic_pair.if_path) as slide:
        store = LabelStore.create(tmp_path / "store", slide.shape, pixel_size_um=0.325)
        settings = job.settings.segmentation
        result = run_to_end(segment_slide(slide, store, region=(0, 0, 512, 512), settings=settings))
    assert len(table) == result.cells > 10 and table["Hoechst"].gt(0).all()


@pytest.mark.parametrize(
    ("segmentation", "problem"),
    [
        (
            "{backend: custom, model: 'missing.py:nuclei'}",
            r"no such Python file .*missing\.py \(from 'missing\.py:nuclei'\)",
        ),
        ("{backend: custom, model: 'nuclei'}", "expected 'package.module:function' or 'file.py:function'"),
        ("{backend: cellpose, model: 'weights/cp.pt'}", r"no such cellpose model file .*weights/cp\.pt"),
    ],
)
def test_a_learned_model_the_run_settings_cannot_find_stops_the_run_before_work(tmp_path, segmentation, problem):
    from napari_ifcell.pipeline.run_settings import RunSettingsError, load_run_settings

    settings_file = tmp_path / "run.yaml"
    settings_file.write_text(f"segmentation: {segmentation}\n")
    with pytest.raises(RunSettingsError, match=problem):
        load_run_settings(settings_file)


def test_a_model_name_in_the_run_settings_is_kept_for_the_library_to_fetch(tmp_path):
    from napari_ifcell.pipeline.run_settings import load_run_settings

    settings_file = tmp_path / "run.yaml"
    settings_file.write_text("segmentation: {backend: cellpose, model: cpsam}\n")
    assert load_run_settings(settings_file).segmentation.model == "cpsam"
    (tmp_path / "cpsam").write_bytes(b"weights")  # a file of that name beside the settings wins
    assert load_run_settings(settings_file).segmentation.model == str(tmp_path / "cpsam")


def test_a_model_given_to_a_backend_that_takes_none_is_refused(pair, tmp_path):
    settings = SegmentSettings(backend="hoechst", model="cpsam")
    with pytest.raises(ValueError, match="model and model_input are for the custom, cellpose and instanseg backends"):
        _segment(pair, tmp_path, settings)


def test_label_arrays_are_scored_with_plain_names(realistic_pair):
    from napari_ifcell.pipeline.evaluate_segmentation import evaluate_segmentation

    truth = tifffile.imread(realistic_pair.labels_path)
    table = evaluate_segmentation(truth, truth, ious=(0.5,)).set_index("iou")
    assert table.loc[0.5, "f1"] == 1.0
    with pytest.raises(ValueError, match=r"predicted labels is 10 x 10 px but truth labels is"):
        evaluate_segmentation(np.zeros((10, 10), np.int32), truth)
