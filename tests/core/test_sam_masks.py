"""Our SAM mask generation against segment_anything's SamAutomaticMaskGenerator, on a small
randomly initialised SAM (no downloaded weights)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # a hard dependency; importorskip only names it

from segment_anything import SamAutomaticMaskGenerator  # noqa: E402

from napari_ifcell.core.segment import sam_masks  # noqa: E402
from napari_ifcell.core.segment.sam_masks import SamSettings, generate_masks, hoechst_seeds, masks_to_labels  # noqa: E402

from ..sam_fixtures import tiny_sam  # noqa: E402


@pytest.fixture(scope="module")
def model():
    sam = tiny_sam()
    with torch.no_grad():  # sharper logits, so that masks pass the stability filter
        for mlp in sam.mask_decoder.output_hypernetworks_mlps:
            mlp.layers[-1].weight.mul_(50.0)
    return sam


@pytest.fixture(scope="module")
def tile(small_pair):
    from napari_ifcell.io import open_slide

    with open_slide(small_pair.he_path, pixel_size_um=0.325) as he:
        return he.read_region(300, 300, 256, 256)


@pytest.mark.parametrize("nms", [1.0, 0.7])
def test_same_masks_as_the_stock_generator(model, tile, nms):
    params = dict(
        points_per_side=8,
        pred_iou_thresh=0.3,
        stability_score_thresh=0.7,
        stability_score_offset=0.1,
        box_nms_thresh=nms,
    )
    stock = SamAutomaticMaskGenerator(model, points_per_batch=64, **params).generate(tile)
    ours = generate_masks(model, tile, SamSettings(points_per_batch=1024, **params))
    assert len(stock) == len(ours) >= 1
    if nms == 1.0:
        assert len(ours) > 5  # a real comparison, not an empty one
    for mask, theirs in zip(ours.masks(), stock):  # same masks, same order
        np.testing.assert_array_equal(mask, theirs["segmentation"])
    np.testing.assert_allclose(ours.iou_preds, [a["predicted_iou"] for a in stock], rtol=1e-5)
    np.testing.assert_allclose(ours.stability, [a["stability_score"] for a in stock], rtol=1e-5)
    np.testing.assert_allclose(ours.points, [a["point_coords"][0] for a in stock])
    xywh = np.array([a["bbox"] for a in stock])
    np.testing.assert_array_equal(ours.boxes[:, :2], xywh[:, :2])


def test_out_of_memory_halves_the_batch_and_gives_the_same_masks(model, tile, monkeypatch):
    settings = SamSettings(
        points_per_side=8,
        points_per_batch=64,
        pred_iou_thresh=0.3,
        stability_score_thresh=0.7,
        stability_score_offset=0.1,
        box_nms_thresh=1.0,
    )
    expected = generate_masks(model, tile, settings)
    real, sizes = sam_masks._decode_batch, []

    def small_gpu(predictor, points, *args):
        sizes.append(len(points))
        if len(points) > 16:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(predictor, points, *args)

    monkeypatch.setattr(sam_masks, "_decode_batch", small_gpu)
    got = generate_masks(model, tile, settings)
    assert sizes[:3] == [64, 32, 16] and max(sizes[3:]) == 16
    np.testing.assert_array_equal(got.masks(), expected.masks())


def test_other_errors_are_not_mistaken_for_memory(model, tile, monkeypatch):
    def broken(*args):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(sam_masks, "_decode_batch", broken)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        generate_masks(model, tile, SamSettings(points_per_side=2))


def test_area_filter_and_labels(model, tile):
    settings = SamSettings(
        points_per_side=8,
        pred_iou_thresh=0.3,
        stability_score_thresh=0.7,
        stability_score_offset=0.1,
        box_nms_thresh=1.0,
    )
    every = generate_masks(model, tile, settings)
    areas = every.masks().sum(axis=(1, 2))
    cut = float(np.median(areas))
    small = generate_masks(model, tile, settings, max_area_px=cut)
    assert 0 < len(small) < len(every) and (small.masks().sum(axis=(1, 2)) <= cut).all()
    labels = masks_to_labels(small)
    assert labels.max() <= len(small) and (labels[small.masks()[0]] == 1).all()  # the best mask keeps its pixels


def test_hoechst_seeds_hit_the_true_nuclei(small_pair):
    import tifffile

    from napari_ifcell.io import open_slide

    y, x, h, w = 200, 300, 512, 512
    with open_slide(small_pair.if_path) as if_slide:
        hoechst = if_slide.read_region(y, x, h, w, channels=["Hoechst"])[0]
    truth = tifffile.imread(small_pair.labels_path)[y : y + h, x : x + w]
    seeds = hoechst_seeds(hoechst, pixel_size_um=0.325, min_distance_um=2.0)
    hit = truth[seeds[:, 1].astype(int), seeds[:, 0].astype(int)]
    ids = np.unique(truth)[1:]
    recall = np.isin(ids, hit).mean()
    print(f"{len(seeds)} seeds for {len(ids)} nuclei, recall {recall:.3f}, seeds on background {np.mean(hit == 0):.3f}")
    assert recall >= 0.9 and np.mean(hit == 0) < 0.1
    assert len(seeds) < 2 * len(ids)  # tens of prompts, not 4,096
