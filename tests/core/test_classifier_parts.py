"""Patches, sampling, splits, the weighted BCE, saving and metrics of the H&E classifiers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from napari_ifcell.core.classify.metrics import class_report, marker_report
from napari_ifcell.core.classify.model import ClassifierConfig, build_model, load_classifier, save_classifier
from napari_ifcell.core.classify.patches import extract_patches, mask_patches
from napari_ifcell.core.classify.sampling import sample_marker_balanced, sample_per_class, spatial_split
from napari_ifcell.core.classify.training import masked_bce, positive_weights, predict_proba


def _reader(image, fill=255):
    def read(y, x, h, w):
        out = np.full((h, w, image.shape[-1]), fill, image.dtype)
        y0, x0, y1, x1 = max(y, 0), max(x, 0), min(y + h, image.shape[0]), min(x + w, image.shape[1])
        out[y0 - y : y1 - y, x0 - x : x1 - x] = image[y0:y1, x0:x1]
        return out

    return read


def test_patches_are_centred_and_edge_cells_keep_their_place():
    image = np.zeros((3000, 2500, 3), np.uint8)
    image[1500, 1200] = [1, 2, 3]
    image[0, 0] = [9, 9, 9]
    centres = np.array([[1500.4, 1199.7], [0.2, -0.3], [2999, 2499]])  # pixel 1200 spans 1199.5-1200.5
    patches = extract_patches(_reader(image), centres, 64)
    assert patches.shape == (3, 64, 64, 3)
    assert patches[0, 32, 32].tolist() == [1, 2, 3]  # the centre pixel at size // 2
    assert patches[1, 32, 32].tolist() == [9, 9, 9] and (patches[1, :32] == 255).all()  # outside: white glass
    assert (patches[2, 33:] == 255).all() and (patches[2, :, 33:] == 255).all()


def test_mask_patches_show_the_cells_own_nucleus():
    labels = np.zeros((200, 200), np.int64)
    labels[90:110, 90:110] = 7
    labels[90:110, 111:130] = 8  # a neighbour in the same patch
    masks = mask_patches(
        lambda y, x, h, w: _reader(labels[..., None], 0)(y, x, h, w)[..., 0], np.array([[100, 100]]), [7], 64
    )
    assert masks.shape == (1, 64, 64) and masks[0].sum() == 400 and masks[0, 32, 32]


def test_sample_per_class_caps_every_class():
    classes = np.array(["a"] * 100 + ["b"] * 10 + ["c"] * 50)
    rows = sample_per_class(classes, 20, seed=1)
    assert pd.Series(classes[rows]).value_counts().to_dict() == {"a": 20, "b": 10, "c": 20}
    assert np.array_equal(rows, sample_per_class(classes, 20, seed=1))


def test_marker_balanced_sampling_follows_pochet():
    rng = np.random.default_rng(0)
    n = 20000
    positive = pd.DataFrame({"CD45": rng.random(n) < 0.22, "CD3e": rng.random(n) < 0.04, "CD4": rng.random(n) < 0.006})
    rows = sample_marker_balanced(positive, 2000, seed=0)
    chosen = positive.iloc[rows]
    negative_share = (~chosen.any(axis=1)).mean()
    assert len(rows) == 2000 and abs(negative_share - 0.5) < 0.01
    other_half = chosen[chosen.any(axis=1)]
    assert (other_half["CD45"].mean() >= 0.25) and (other_half["CD3e"].mean() >= 0.25)
    assert other_half["CD4"].sum() == positive["CD4"].sum()  # rarer than a quarter: all of them


def test_spatial_split_keeps_neighbours_together():
    rng = np.random.default_rng(2)
    xy = rng.uniform(0, 2000, (5000, 2))
    split = spatial_split(xy, block_um=250, buffer_um=20, seed=0)
    assert set(split) == {"train", "val", "test", "buffer"}
    from scipy.spatial import cKDTree

    kept = split != "buffer"
    tree = cKDTree(xy[kept])
    pairs = tree.query_pairs(19.0, output_type="ndarray")  # cells closer than the buffer
    labels = split[kept]
    assert not (labels[pairs[:, 0]] != labels[pairs[:, 1]]).any()  # never across splits
    assert 0.6 < (split == "train").mean() < 0.8


def test_weighted_bce_ignores_unknown_labels_and_weights_rare_positives():
    targets = np.array([[1, 0], [0, -1], [0, 0], [0, 1]], np.float32)
    np.testing.assert_allclose(positive_weights(targets), [3.0, 2.0])
    logits = torch.tensor([[2.0, -1.0], [-1.0, 50.0], [0.5, 0.0], [-0.5, 1.0]])
    weight = torch.tensor([3.0, 2.0])
    loss = masked_bce(logits, torch.tensor(targets), weight)
    # the unknown entry (logit 50 against label -1) contributes nothing
    changed = logits.clone()
    changed[1, 1] = -50.0
    assert torch.isclose(loss, masked_bce(changed, torch.tensor(targets), weight))
    manual = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, torch.tensor(targets).clamp_min(0), pos_weight=weight, reduction="none"
    )
    known = torch.tensor(targets) >= 0
    assert torch.isclose(loss, manual[known].mean())


@pytest.mark.parametrize("task", ["multiclass", "multitask"])
def test_save_and_load_round_trip(tmp_path, task):
    config = ClassifierConfig(task=task, patch_size=32)
    torch.manual_seed(0)
    model = build_model(config).eval()
    patches = np.random.default_rng(0).integers(0, 255, (5, 32, 32, 3), dtype=np.uint8)
    before = predict_proba(model, patches, config)
    save_classifier(model, config, tmp_path / "model")
    loaded, loaded_config = load_classifier(tmp_path / "model")
    assert loaded_config == config
    np.testing.assert_allclose(predict_proba(loaded, patches, loaded_config), before, rtol=1e-5)
    assert before.shape == (5, config.n_outputs)
    (tmp_path / "model" / "weights.pt").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="weights.pt: cannot load"):
        load_classifier(tmp_path / "model")


def test_class_report_equals_scikit_learn():
    from sklearn.metrics import precision_recall_fscore_support

    classes = ("CD4 T", "CD8 T", "B cell", "macrophage", "other")
    rng = np.random.default_rng(3)
    y_true = rng.choice(classes, 500)
    y_pred = np.where(rng.random(500) < 0.7, y_true, rng.choice(classes, 500))
    report = class_report(y_true, y_pred, classes).set_index("class")
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=list(classes), zero_division=0)
    np.testing.assert_allclose(report.loc[list(classes), "f1"], f)
    lymph_true, lymph_pred = np.isin(y_true, classes[:3]), np.isin(y_pred, classes[:3])
    tp = (lymph_true & lymph_pred).sum()
    assert report.loc["lymphocytes", "precision"] == pytest.approx(tp / lymph_pred.sum())
    assert report.loc["lymphocytes", "recall"] == pytest.approx(tp / lymph_true.sum())
    assert report.loc["T cells", "support"] == np.isin(y_true, classes[:2]).sum()


def test_marker_report_equals_scikit_learn_on_known_labels():
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    rng = np.random.default_rng(4)
    targets = rng.choice([0, 1, -1], (300, 2), p=[0.7, 0.2, 0.1]).astype(np.float32)
    prob = np.clip(targets * 0.6 + rng.random((300, 2)) * 0.5, 0, 1)
    report = marker_report(targets, prob, ["CD3e", "CD8a"])
    known = targets[:, 0] >= 0
    assert report.loc[0, "auroc"] == pytest.approx(roc_auc_score(targets[known, 0], prob[known, 0]))
    assert report.loc[0, "balanced_accuracy"] == pytest.approx(
        balanced_accuracy_score(targets[known, 0], prob[known, 0] >= 0.5)
    )
    assert report.loc[1, "positive"] == (targets[:, 1] == 1).sum()


def test_patches_at_the_models_resolution_are_centred_on_the_cell(tmp_path):
    """A slide at 0.5 µm read for a model of 0.25 µm: a one-pixel nucleus became two model pixels
    that sat one pixel right of and below the patch's middle (slide px scaled as p x 2, where the
    pixel's centre lies at 2p + 0.5)."""
    import tifffile

    from napari_ifcell.core.classify.model import ClassifierConfig
    from napari_ifcell.io import open_slide
    from napari_ifcell.pipeline.dataset import cell_patch_reader

    rgb = np.full((400, 400, 3), 230, np.uint8)
    rgb[150, 250] = 30  # the nucleus, one slide pixel
    tifffile.imwrite(tmp_path / "he.tif", rgb, photometric="rgb", resolution=(2e4, 2e4), resolutionunit="CENTIMETER")
    with open_slide(tmp_path / "he.tif") as slide:
        assert slide.pixel_size_um == 0.5
        patch = cell_patch_reader(slide, ClassifierConfig(um_per_px=0.25))(np.array([[150.0, 250.0]]), 64)[0]
    darkness = 230.0 - patch[..., 0].astype(np.float64)
    yy, xx = np.indices(darkness.shape)
    centre = [(darkness * yy).sum() / darkness.sum(), (darkness * xx).sum() / darkness.sum()]
    np.testing.assert_allclose(centre, [31.5, 31.5], atol=0.05)  # the middle of an even patch
