"""The synthetic Orion-like pair: files like Orion's, and ground truth the pixels agree with."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tifffile
from scipy import ndimage as ndi
from skimage.measure import regionprops_table
from skimage.segmentation import expand_labels

from napari_ifcell.orion import ORION_CHANNELS
from napari_ifcell.synth import make_synthetic_pair
from napari_ifcell.synth.markers import CELL_TYPES, LYMPHOCYTE_TYPES

from ..conftest import HE_OFFSET_PX, SMALL_SHAPE


@pytest.fixture(scope="module")
def truth(small_pair):
    return pd.read_csv(small_pair.cells_path)


@pytest.fixture(scope="module")
def labels(small_pair):
    return tifffile.imread(small_pair.labels_path)


@pytest.fixture(scope="module")
def if_image(small_pair):
    return tifffile.imread(small_pair.if_path)


def test_if_file_is_orion_like(small_pair):
    with tifffile.TiffFile(small_pair.if_path) as tif:
        series = tif.series[0]
        assert tif.is_ome and series.axes == "CYX" and series.dtype == np.uint16
        assert series.shape == (19, *SMALL_SHAPE)
        assert len(series.levels) == 4 and series.levels[1].shape == (19, 550, 700)
        page = tif.pages[0]
        assert page.subifds and page.is_tiled and page.tilewidth == 256
        assert page.compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        assert 'Name="Hoechst"' in tif.ome_metadata and 'PhysicalSizeX="0.325"' in tif.ome_metadata


def test_he_file_is_rgb_with_orions_missing_pixel_size(small_pair):
    with tifffile.TiffFile(small_pair.he_path) as tif:
        series = tif.series[0]
        assert series.shape == (*SMALL_SHAPE, 3) and series.dtype == np.uint8
        assert tif.pages[0].photometric == tifffile.PHOTOMETRIC.RGB
        assert tif.pages[0].resolutionunit == tifffile.RESUNIT.NONE
        assert "PhysicalSizeX" not in tif.ome_metadata


def test_same_seed_same_slide_other_seed_other_slide(tmp_path):
    a = make_synthetic_pair(tmp_path / "a", shape=(300, 400), seed=3, tile=128)
    b = make_synthetic_pair(tmp_path / "b", shape=(300, 400), seed=3, tile=128)
    c = make_synthetic_pair(tmp_path / "c", shape=(300, 400), seed=4, tile=128)
    for name in ("if_path", "he_path", "labels_path"):
        np.testing.assert_array_equal(tifffile.imread(getattr(a, name)), tifffile.imread(getattr(b, name)))
    assert a.cells_path.read_text() == b.cells_path.read_text()
    assert not np.array_equal(tifffile.imread(a.labels_path), tifffile.imread(c.labels_path))


def test_blocks_join_without_seams(tmp_path):
    small = make_synthetic_pair(tmp_path / "s", shape=(300, 400), seed=5, tile=128, block=128)
    large = make_synthetic_pair(tmp_path / "l", shape=(300, 400), seed=5, tile=128, block=512)
    np.testing.assert_array_equal(tifffile.imread(small.labels_path), tifffile.imread(large.labels_path))
    assert small.cells_path.read_text() == large.cells_path.read_text()


def test_every_cell_type_and_region_is_present(truth, small_pair):
    assert set(truth["type"]) == set(CELL_TYPES)
    assert set(truth["region"]) == {"stroma", "tumour", "lymphoid aggregate"}
    summary = json.loads(small_pair.truth_path.read_text())
    assert summary["n_cells"] == len(truth) and summary["he_offset_px"] == list(HE_OFFSET_PX)
    assert sum(summary["cells_per_type"].values()) == len(truth)


def test_aggregates_are_dense_in_lymphocytes_and_tumour_is_sparse(truth):
    lymph = truth.groupby("region")["is_lymphocyte"].mean()
    assert lymph["lymphoid aggregate"] > 0.8
    assert lymph["tumour"] < 0.15
    assert lymph["stroma"] > lymph["tumour"]


def test_marker_positivity_follows_the_cell_type(truth):
    t = truth["type"]
    assert (truth["CD20_positive"] == (t == "B")).all()
    assert (truth["Pan-CK_positive"] == (t == "tumour")).all()
    assert (truth["SMA_positive"] == (t == "stromal")).all()
    assert (truth["CD31_positive"] == (t == "endothelial")).all()
    assert (truth["CD3e_positive"] == t.isin(["CD4 T", "CD8 T", "regulatory T"])).all()
    assert (truth["CD45_positive"] == t.isin([*LYMPHOCYTE_TYPES, "macrophage"])).all()
    assert (truth["FOXP3_positive"] == (t == "regulatory T")).all()
    assert (truth["CD4_positive"] == t.isin(["CD4 T", "regulatory T"])).all()
    assert truth["Hoechst_positive"].all()
    assert not truth["Argo550_positive"].any() and not truth["AF1_positive"].any()


def test_true_centroids_and_areas_match_regionprops(truth, labels):
    props = pd.DataFrame(regionprops_table(labels, properties=("label", "area", "centroid")))
    assert set(props["label"]) == set(truth["CellID"])
    merged = truth.merge(props, left_on="CellID", right_on="label")
    np.testing.assert_array_equal(merged["Area"], merged["area"])
    np.testing.assert_allclose(merged["Y_centroid"], merged["centroid-0"], atol=1e-6)
    np.testing.assert_allclose(merged["X_centroid"], merged["centroid-1"], atol=1e-6)


def test_lymphocyte_nuclei_are_small_and_tumour_nuclei_large(truth):
    area = truth.groupby("type")["Area"].median()
    for lymph in LYMPHOCYTE_TYPES:
        assert area[lymph] < 0.6 * area["tumour"]
    assert (truth.loc[truth.is_lymphocyte, "Area"] * 0.325**2).between(15, 60).mean() > 0.95


def _compartment_means(image, labels, ring_px=5):
    cells = expand_labels(labels, ring_px)
    ring = np.where(labels == 0, cells, 0)
    n = labels.max() + 1

    def means(lab, channel):
        count = np.bincount(lab.ravel(), minlength=n)
        total = np.bincount(lab.ravel(), weights=image[channel].ravel().astype(float), minlength=n)
        with np.errstate(invalid="ignore"):
            return total / count

    return means, ring


@pytest.mark.parametrize(
    "marker,compartment",
    [("CD20", "ring"), ("Pan-CK", "ring"), ("CD8a", "ring"), ("FOXP3", "nucleus"), ("Ki67", "nucleus")],
)
def test_measured_marker_separates_true_positives(truth, labels, if_image, marker, compartment):
    means, ring = _compartment_means(if_image, labels)
    c = ORION_CHANNELS.index(marker)
    per_cell = means(ring if compartment == "ring" else labels, c)[truth["CellID"].to_numpy()]
    clear = ~truth["ambiguous"] & ~truth["overexposed"]
    pos = per_cell[clear & truth[f"{marker}_positive"]]
    neg = per_cell[clear & ~truth[f"{marker}_positive"]]
    assert pos.size > 3 and neg.size > 3
    # a gate exists that separates clear positives from negatives
    assert np.percentile(pos, 5) > np.percentile(neg, 99)


def test_membrane_markers_sit_in_the_ring_and_nuclear_markers_in_the_nucleus(truth, labels, if_image):
    means, ring = _compartment_means(if_image, labels)
    ids = truth.loc[truth["CD20_positive"] & ~truth["ambiguous"], "CellID"].to_numpy()
    cd20 = ORION_CHANNELS.index("CD20")
    assert np.median(means(ring, cd20)[ids]) > 2 * np.median(means(labels, cd20)[ids])
    hoechst = ORION_CHANNELS.index("Hoechst")
    assert np.median(means(labels, hoechst)[ids]) > 5 * np.median(means(ring, hoechst)[ids])


def test_blank_channel_and_overexposed_artefacts(truth, labels, if_image):
    argo = if_image[ORION_CHANNELS.index("Argo550")].astype(float)
    hoechst = if_image[ORION_CHANNELS.index("Hoechst")].astype(float)
    assert argo.std() < 0.05 * hoechst.std()
    markers = [i for i, m in enumerate(ORION_CHANNELS) if m not in ("Hoechst", "AF1", "Argo550")]
    assert (if_image[markers] == 65535).any(axis=(1, 2)).sum() >= 2
    assert truth["overexposed"].any()


def test_autofluorescence_bleeds_into_marker_channels(if_image, labels):
    outside_cells = expand_labels(labels, 8) == 0
    smooth = [
        ndi.uniform_filter(if_image[ORION_CHANNELS.index(m)].astype(float), 9) for m in ("AF1", "CD163", "Argo550")
    ]
    af, cd163, argo = (img[outside_cells][::5] for img in smooth)
    assert np.corrcoef(af, cd163)[0, 1] > 0.6
    assert abs(np.corrcoef(af, argo)[0, 1]) < 0.3  # the blank channel has no bleed-through


def test_he_shows_shifted_nuclei_by_colour_deconvolution(small_pair, labels):
    from skimage.color import rgb2hed

    he = tifffile.imread(small_pair.he_path)
    hema = rgb2hed(he)[..., 0]
    dy, dx = map(int, HE_OFFSET_PX)
    shifted = np.roll(labels, (dy, dx), axis=(0, 1)) > 0
    assert hema[shifted].mean() > 3 * hema[~shifted].mean()
    assert hema[shifted].mean() > hema[labels > 0].mean()  # the offset is real
    background = he.mean(axis=-1) > 230
    assert 0.05 < background.mean() < 0.6  # glass around the tissue


def test_realistic_world_is_harder_than_easy_and_its_truth_stays_exact():
    from skimage.segmentation import find_boundaries

    from napari_ifcell.synth.render import render_block
    from napari_ifcell.synth.slide_pair import build_scene

    found = {}
    for difficulty in ("easy", "realistic"):
        scene = build_scene((1024, 1024), 5, difficulty=difficulty)
        labels, if_img, he = render_block(scene, 0, 0, 1024, 1024)
        again, _, _ = render_block(scene, 512, 512, 512, 512)
        assert np.array_equal(labels[512:, 512:], again)  # truth the same whichever block draws it
        ids = np.unique(labels)[1:]
        # a nucleus touches another when a boundary pixel of it borders a different label
        grown = ndi.grey_dilation(labels, size=3)
        touching = np.unique(labels[(grown != labels) & (labels > 0) & find_boundaries(labels)])
        hoechst = if_img[ORION_CHANNELS.index("Hoechst")].astype(float)
        glass = ndi.grey_erosion(labels == 0, size=15)  # far from any nucleus
        found[difficulty] = (
            touching.size / ids.size,
            np.percentile(hoechst[glass], 95) - np.percentile(hoechst[glass], 5),
        )
    print(found)
    assert found["realistic"][0] > 2 * found["easy"][0]  # crowded, touching nuclei
    assert found["realistic"][1] > 5 * found["easy"][1]  # uneven background under the nuclei
