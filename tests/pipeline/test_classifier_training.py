"""An H&E-only classifier learns the IF-derived labels of the synthetic pair."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_ifcell.core.classify.metrics import class_report, marker_report
from napari_ifcell.core.classify.model import ClassifierConfig
from napari_ifcell.core.classify.training import predict_proba, train_classifier
from napari_ifcell.core.gating.apply import gated_table
from napari_ifcell.core.gating.auto import suggested_gateset
from napari_ifcell.io import open_pair, open_slide
from napari_ifcell.pipeline.dataset import export_dataset, load_dataset
from napari_ifcell.pipeline.tiling import read_labels

from ..conftest import HE_OFFSET_PX, SMALL_SHAPE


@pytest.fixture(scope="module")
def dataset(small_pair, small_table, tmp_path_factory):
    gates, _ = suggested_gateset(small_table)
    table = gated_table(small_table, gates)
    pair = open_pair(small_pair.if_path, small_pair.he_path, offset_um=tuple(v * 0.325 for v in HE_OFFSET_PX))
    labels = open_slide(small_pair.labels_path)
    folders = {}
    for task in ("multiclass", "multitask"):
        config = ClassifierConfig(task=task)
        folder = tmp_path_factory.mktemp(task)
        export_dataset(
            pair,
            table,
            lambda y, x, h, w: read_labels(labels, y, x, h, w),
            folder,
            config=config,
            sampling="natural",
            n=10**6,
            sizes=(64, 112),
        )
        folders[task] = (folder, config)
    return folders


def _held_out(index):
    """Train on the left 60 % of the slide, test on the right 40 %: a region never seen."""
    test = (index["X_centroid"] >= 0.6 * SMALL_SHAPE[1]).to_numpy()
    return ~test, test


def test_dataset_has_every_size_and_a_target_per_cell(dataset):
    folder, config = dataset["multiclass"]
    patches, index = load_dataset(folder, 112)
    assert patches.shape[1:] == (112, 112, 3) and len(patches) == len(index) > 300
    assert set(index["class"]) <= set(config.classes) and (index["target"] >= 0).all()
    assert set(index["split"]) <= {"train", "val", "test", "buffer"}
    with pytest.raises(ValueError, match="no 256 px patches"):
        load_dataset(folder, 256)


def test_he_only_model_finds_lymphocytes_in_a_held_out_region(dataset):
    folder, config = dataset["multiclass"]
    patches, index = load_dataset(folder, 64)
    train, test = _held_out(index)
    targets = index["target"].to_numpy()
    model, history = train_classifier(
        patches[train], targets[train], config, val_patches=patches[test][::3], val_targets=targets[test][::3]
    )
    predicted = np.asarray(config.classes)[predict_proba(model, patches[test], config).argmax(1)]
    report = class_report(index["class"].to_numpy()[test], predicted, config.classes).set_index("class")
    print(report.round(3))
    assert report.loc["lymphocytes", "f1"] >= 0.9
    assert history[0]["train_loss"] > history[-1]["train_loss"]


def test_multitask_marker_heads(dataset):
    folder, config = dataset["multitask"]
    patches, index = load_dataset(folder, 64)
    train, test = _held_out(index)
    targets = index[[f"{m}_target" for m in config.markers]].to_numpy()
    model, _ = train_classifier(patches[train], targets[train], config)
    report = marker_report(targets[test], predict_proba(model, patches[test], config), config.markers).set_index(
        "marker"
    )
    print(report.round(3))
    assert report.loc["CD45", "auroc"] > 0.9 and report.loc["CD3e", "auroc"] > 0.8


def test_training_is_reproducible(dataset):
    folder, config = dataset["multiclass"]
    patches, index = load_dataset(folder, 64)
    small = ClassifierConfig(epochs=2, batch_size=32, seed=5)
    a, _ = train_classifier(patches[:100], index["target"].to_numpy()[:100], small)
    b, _ = train_classifier(patches[:100], index["target"].to_numpy()[:100], small)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert np.array_equal(x.numpy(), y.numpy()), name


def test_export_on_a_cluster_equals_in_process(small_pair, small_table, tmp_path):
    """Also with the command's overrides: the workers cut the H&E at the pixel size the user
    gave (0.33 µm, the file says 0.325), not at the file's."""
    from napari_ifcell.pipeline.run import local_client

    gates, _ = suggested_gateset(small_table)
    table = gated_table(small_table, gates)
    pair = open_pair(
        small_pair.if_path,
        small_pair.he_path,
        offset_um=tuple(v * 0.325 for v in HE_OFFSET_PX),
        he_pixel_size_um=0.33,
    )
    config = ClassifierConfig()
    import napari_ifcell.pipeline.dataset as dataset_module

    local = export_dataset(
        pair, table, small_pair.labels_path, tmp_path / "local", config=config, sampling="natural", n=10**6
    )
    client = local_client(2)
    original = dataset_module.CHUNK_CELLS
    dataset_module.CHUNK_CELLS = 100  # several chunks, spread over both workers
    try:
        remote = export_dataset(
            pair,
            table,
            small_pair.labels_path,
            tmp_path / "remote",
            config=config,
            sampling="natural",
            n=10**6,
            client=client,
        )
    finally:
        dataset_module.CHUNK_CELLS = original
        client.close()
    assert local.equals(remote)
    a, _ = load_dataset(tmp_path / "local", 64)
    b, _ = load_dataset(tmp_path / "remote", 64)
    assert np.array_equal(a, b)


def test_a_data_set_without_a_test_split_says_so(small_pair, small_table, tmp_path, capsys):
    """The walk: a small slide spans too few 250 µm blocks for three splits, and its data set
    had no test split with nothing said (training then reports on no held-out cell)."""
    from napari_ifcell.cli import main

    gates, _ = suggested_gateset(small_table)
    gated_table(small_table, gates).to_parquet(tmp_path / "gated.parquet", index=False)
    argv = ["export-dataset", str(tmp_path / "gated.parquet"), "--if", str(small_pair.if_path)]
    argv += ["--he", str(small_pair.he_path), "--labels", str(small_pair.labels_path), "-n", "8"]
    assert main([*argv, "--out", str(tmp_path / "one"), "--block-um", "5000"]) == 0
    out, err = capsys.readouterr()
    assert out.rstrip().endswith(": train 40")
    assert "note: no val or test cells: whole blocks of 5000 µm go to one split" in err
    assert main([*argv, "--out", str(tmp_path / "many"), "--block-um", "40"]) == 0
    out, err = capsys.readouterr()
    splits = set(pd.read_parquet(tmp_path / "many" / "index.parquet")["split"])
    assert {"train", "val", "test"} <= splits and "note: no" not in err
