"""Scoring a segmentation against annotated nuclei: tile by tile equals whole image, F1 and AP
per IoU threshold, from label images or stores, through the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tifffile

from napari_ifcell.cli import main
from napari_ifcell.core.segment.metrics import ObjectOverlaps, match_at_iou, score_table
from napari_ifcell.io.label_store import LabelStore
from napari_ifcell.pipeline.evaluate_segmentation import evaluate_segmentation


def _shifted(truth: np.ndarray, rng) -> np.ndarray:
    """A prediction: the truth moved by a pixel, a fifth of its objects dropped, blobs added."""
    pred = np.roll(truth, 1, axis=1)
    ids = np.unique(truth)[1:]
    pred[np.isin(pred, rng.choice(ids, ids.size // 5, replace=False))] = 0
    pred[5:15, 5:15] = truth.max() + 1
    return pred


def test_tiles_add_up_to_the_whole_image(small_pair):
    truth = tifffile.imread(small_pair.labels_path)
    pred = _shifted(truth, np.random.default_rng(0))
    overlaps = ObjectOverlaps()
    for y in range(0, truth.shape[0], 300):
        for x in range(0, truth.shape[1], 450):
            overlaps.add(pred[y : y + 300, x : x + 450], truth[y : y + 300, x : x + 450])
    table = score_table(overlaps).set_index("iou")
    for iou in (0.5, 0.7, 0.9):
        whole = match_at_iou(pred, truth, iou=iou)
        assert (table.loc[iou, "tp"], table.loc[iou, "fp"], table.loc[iou, "fn"]) == (whole.tp, whole.fp, whole.fn)
        assert table.loc[iou, "ap"] == pytest.approx(whole.tp / (whole.tp + whole.fp + whole.fn))
    assert table.loc[0.5, "recall"] == pytest.approx(0.8, abs=0.01)  # the fifth dropped
    assert table["tp"].is_monotonic_decreasing


def test_cli_scores_a_store_against_a_label_image(small_pair, tmp_path, capsys):
    truth = tifffile.imread(small_pair.labels_path)
    store = LabelStore.create(tmp_path / "store", truth.shape, pixel_size_um=0.325)
    store.begin("test")
    store.new_ids(int(truth.max()))
    store.paint(truth, (0, 0), run=1)
    store.commit()
    out = tmp_path / "scores.csv"
    assert main(["evaluate-segmentation", str(store.folder), str(small_pair.labels_path), "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert list(table["iou"].round(2)) == [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9]
    assert (table["f1"] == 1.0).all() and (table["tp"] == len(np.unique(truth)) - 1).all()
    assert "annotated nuclei" in capsys.readouterr().out


def test_cli_refuses_grids_that_differ_and_empty_truth(small_pair, tmp_path, capsys):
    other = tmp_path / "other.tif"
    tifffile.imwrite(other, np.zeros((100, 100), np.uint32))
    assert main(["evaluate-segmentation", str(small_pair.labels_path), str(other)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "other.tif" in err and "same pixel grid" in err
    empty = tmp_path / "empty.tif"
    tifffile.imwrite(empty, np.zeros(tifffile.imread(small_pair.labels_path).shape, np.uint32))
    assert main(["evaluate-segmentation", str(small_pair.labels_path), str(empty)]) == 2
    assert "no annotated nucleus" in capsys.readouterr().err


def test_whole_slide_evaluation_matches_direct_scoring(small_pair, tmp_path):
    truth = tifffile.imread(small_pair.labels_path)
    pred = _shifted(truth, np.random.default_rng(3))
    path = tmp_path / "pred.tif"
    tifffile.imwrite(path, pred)
    table = evaluate_segmentation(path, small_pair.labels_path, ious=(0.5,))
    assert table.loc[0, "f1"] == pytest.approx(match_at_iou(pred, truth).f1)
