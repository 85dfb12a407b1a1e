"""H&E slides with no IF, end to end: the synthetic pair's H&E written alone (at Orion's 0.325 and
at a 20x scanner's 0.5 µm/px, as OME-TIFF and as an Aperio SVS with JPEG tiles) is segmented,
classified by a model trained on the pair, reviewed and compared, through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tifffile

from napari_ifcell.core.classes import CLASS_OF_PHENOTYPE, CLASSES
from napari_ifcell.core.compare.matching import match_points
from napari_ifcell.core.segment.metrics import match_at_iou
from napari_ifcell.io import open_slide
from napari_ifcell.io.label_store import LabelStore
from napari_ifcell.io.project import project_folder
from napari_ifcell.synth.he_alone import write_he_alone

from .test_cli import run_cli
from .test_real_slides import one_line_error


@pytest.fixture(scope="module")
def he_slides(small_pair, tmp_path_factory):
    base = tmp_path_factory.mktemp("he-alone")
    return {
        "0.325": write_he_alone(small_pair, base / "a", pixel_size_um=0.325),
        "0.5": write_he_alone(small_pair, base / "b", pixel_size_um=0.5),
        "svs": write_he_alone(small_pair, base / "c", pixel_size_um=0.5, fmt="svs"),
    }


@pytest.mark.parametrize("which, f1_min", [("0.325", 0.93), ("0.5", 0.88), ("svs", 0.88)])
def test_nuclei_of_an_he_slide_alone_match_the_truth(he_slides, which, f1_min):
    he = he_slides[which]
    done = run_cli("segment", he.he_path)
    assert done.returncode == 0, done.stderr
    assert "with he" in done.stdout
    store = LabelStore.open(project_folder(he.he_path))
    truth = tifffile.imread(he.labels_path)
    assert store.shape == truth.shape  # results on the slide's own grid
    score = match_at_iou(np.asarray(store.levels[0][:]), truth)
    n_true = len(pd.read_csv(he.cells_path))
    print(f"H&E alone {which}: {len(store.index)} cells for {n_true} true; F1@0.5 {score.f1:.3f}")
    assert score.f1 >= f1_min
    assert 0.85 * n_true <= len(store.index) <= 1.2 * n_true  # a plausible count


def test_the_svs_reads_as_a_pyramid_at_half_a_micron(he_slides):
    info = json.loads(run_cli("info", he_slides["svs"].he_path, "--json").stdout)
    assert info["kind"] == "rgb" and info["pixel_size_um"] == pytest.approx(0.5)
    assert [lv["downsample"] for lv in info["levels"]] == [1.0]  # thumbnail, label and macro are not levels


def test_sam_reads_at_its_resolution_and_writes_on_the_slide_grid(he_slides, tmp_path, monkeypatch):
    from skimage.draw import disk

    from napari_ifcell.core.segment import sam_masks
    from napari_ifcell.core.segment.sam_masks import SamSettings
    from napari_ifcell.pipeline import SegmentSettings, run_to_end, segment_region
    from napari_ifcell.pipeline.slide_store import slide_store

    seen = []

    def one_disc(model, he_rgb, *, pixel_size_um, **kwargs):  # SAM's stand-in: a 10 px disc at the tile centre
        seen.append((he_rgb.shape, pixel_size_um))
        labels = np.zeros(he_rgb.shape[:2], np.int32)
        labels[disk((he_rgb.shape[0] // 2, he_rgb.shape[1] // 2), 10, shape=labels.shape)] = 1
        return labels

    monkeypatch.setattr(sam_masks, "sam_nuclei", one_disc)
    with open_slide(he_slides["0.5"].he_path) as slide:
        store = slide_store(slide, tmp_path / "store")
        settings = SegmentSettings(backend="sam", tile=256, halo=32, sam=SamSettings(um_per_px=0.325))
        result = run_to_end(
            segment_region(slide, store, region=(100, 100, 256, 256), settings=settings, model=object())
        )
    side = round((256 + 2 * 32) * 0.5 / 0.325)  # the window with its halo, in SAM's pixels
    assert seen == [((side, side, 3), 0.325)]
    assert result.cells == 1 and store.shape == slide.shape
    cell = store.index.iloc[0]
    assert abs(cell.Y_centroid - 228) < 1.5 and abs(cell.X_centroid - 228) < 1.5  # the tile centre, slide grid
    assert cell.Area == pytest.approx(np.pi * (10 * 0.325 / 0.5) ** 2, rel=0.2)


def test_predictions_on_an_he_slide_alone_score_as_on_the_pair(he_slides, pair_classifier, predicted_table):
    from napari_ifcell.core.classify.model import load_classifier
    from napari_ifcell.pipeline.classify import evaluate_cells, predict_cells

    model_dir, table, _ = pair_classifier
    model, config = load_classifier(model_dir)
    assert config.um_per_px == pytest.approx(0.325)  # recorded from the slide the data set came from
    on_pair = evaluate_cells(predicted_table, config).set_index("class")["f1"]
    pair_classes = predicted_table.set_index("CellID")["predicted"]
    scores = {}
    for which in ("0.325", "0.5"):
        he = he_slides[which]
        cells = pd.read_csv(he.cells_path)[["CellID", "Y_centroid", "X_centroid"]]
        cells = cells.merge(table[["CellID", "phenotype"]], on="CellID")  # the same true cells, on the H&E grid
        with open_slide(he.he_path) as slide:
            out = predict_cells(slide, cells, model, config)
        agree = float((out.set_index("CellID")["predicted"] == pair_classes.reindex(out["CellID"])).mean())
        f1 = evaluate_cells(out, config).set_index("class")["f1"]
        scores[which] = (agree, f1)
        print(
            f"H&E alone {which}: same class as on the pair for {agree:.1%} of cells; lymphocyte F1 "
            f"{f1['lymphocytes']:.3f} (pair {on_pair['lymphocytes']:.3f}), macro F1 {f1[list(CLASSES)].mean():.3f} "
            f"(pair {on_pair[list(CLASSES)].mean():.3f})"
        )
    agree, f1 = scores["0.325"]
    assert agree >= 0.99 and np.allclose(f1, on_pair, atol=0.01)  # the same patches as on the pair
    agree, f1 = scores["0.5"]
    assert agree >= 0.6 and f1["lymphocytes"] >= on_pair["lymphocytes"] - 0.05  # resampled patches


def test_a_slide_too_coarse_for_the_model_is_one_line(small_pair, pair_classifier, tmp_path):
    model_dir, _, _ = pair_classifier
    he = write_he_alone(small_pair, tmp_path, pixel_size_um=1.0, name="coarse")
    done = run_cli("predict", he.cells_path, "--he", he.he_path, "--model", model_dir, "--out", tmp_path / "p.csv")
    one_line_error(done, "coarse.ome.tif", "1 µm per pixel", "trained at 0.325")
    assert not (tmp_path / "p.csv").exists()
    done = run_cli("predict", "--he", he.he_path, "--model", model_dir)
    one_line_error(done, "no label store", f"segment it first (napari-ifcell segment {he.he_path}) or")
    # the size given here is the one the segment command needs too (the hint left it out)
    done = run_cli("predict", "--he", he.he_path, "--he-pixel-size", "0.9", "--model", model_dir)
    one_line_error(done, f"(napari-ifcell segment {he.he_path} --pixel-size 0.9) or give a cell table")


def test_predict_refuses_the_cells_of_another_slide(he_slides, pair_classifier, tmp_path):
    """The same H&E as SVS beside its OME-TIFF (a converted scan): both name one project
    folder. Predicting the SVS on the OME-TIFF's cells read every cell at the wrong place and
    said nothing (exit 0); a store of a slide of another size was taken as well."""
    model_dir, _, _ = pair_classifier
    store = tmp_path / "cells.ifcell"
    assert run_cli("segment", he_slides["0.5"].he_path, "--store", store).returncode == 0
    out = tmp_path / "p.parquet"
    done = run_cli("predict", "--he", he_slides["svs"].he_path, "--store", store, "--model", model_dir, "--out", out)
    one_line_error(done, "cells.ifcell", "holds the cells of")
    done = run_cli("predict", "--he", he_slides["0.325"].he_path, "--store", store, "--model", model_dir, "--out", out)
    one_line_error(done, "cells.ifcell", "the label store is")
    assert not out.exists()
    done = run_cli("predict", "--he", he_slides["0.5"].he_path, "--store", store, "--model", model_dir, "--out", out)
    assert done.returncode == 0 and out.is_file(), done.stderr


def _truth_class(cells: pd.DataFrame, he, table: pd.DataFrame, um: float) -> np.ndarray:
    """What a pathologist would call each segmented cell: the class of the true cell it sits on."""
    truth = pd.read_csv(he.cells_path).merge(table[["CellID", "phenotype"]], on="CellID")
    pairs = match_points(
        cells[["Y_centroid", "X_centroid"]].to_numpy() * um, truth[["Y_centroid", "X_centroid"]].to_numpy() * um
    )
    out = np.full(len(cells), None, dtype=object)
    classes = truth["phenotype"].map(CLASS_OF_PHENOTYPE)
    out[pairs[:, 0]] = classes.where(classes.notna(), None).to_numpy(object)[pairs[:, 1]]
    return out


def _hovernet_json(he, table: pd.DataFrame, path) -> None:
    """A HoVer-Net output for the slide (run at 0.5 µm/px): lymphocytes (Lizard type 3) and
    epithelial nuclei (2) at the true cells, one in ten missed."""
    truth = pd.read_csv(he.cells_path).merge(table[["CellID", "phenotype"]], on="CellID")
    nuc = {}
    for i, row in enumerate(truth.itertuples()):
        if i % 10 == 9:
            continue
        x, y = float(row.X_centroid), float(row.Y_centroid)
        lymph = CLASS_OF_PHENOTYPE.get(row.phenotype) in ("CD4 T", "CD8 T", "B cell")
        contour = [[x - 3, y - 3], [x + 3, y - 3], [x + 3, y + 3], [x - 3, y + 3]]
        nuc[str(i + 1)] = {"centroid": [x, y], "contour": contour, "type": 3 if lymph else 2, "type_prob": 0.9}
    path.write_text(json.dumps({"mag": 20, "nuc": nuc}))


def test_cli_walks_an_he_slide_alone_segment_predict_review_compare(small_pair, pair_classifier, tmp_path):
    import anndata

    from napari_ifcell.pipeline.review.work import gallery_crops, open_review, session_queue

    model_dir, table, _ = pair_classifier
    he = write_he_alone(small_pair, tmp_path, pixel_size_um=0.5, name="routine")
    project = project_folder(he.he_path)
    assert run_cli("segment", he.he_path).returncode == 0

    # predict: cells from the slide's own store; every export loads with the library that owns it
    outs = [tmp_path / "cells.geojson", tmp_path / "cells.h5ad", tmp_path / "cells.csv"]
    done = run_cli("predict", "--he", he.he_path, "--model", model_dir, "--out", project / "predictions.parquet", *outs)
    assert done.returncode == 0, done.stderr
    n = len(LabelStore.open(project).index)
    predicted = pd.read_parquet(project / "predictions.parquet")
    assert len(predicted) == n and predicted["predicted"].isin(CLASSES).all()
    assert np.allclose(predicted.filter(like="prob_").sum(axis=1), 1, atol=1e-4)
    features = json.loads(outs[0].read_text())["features"]
    assert len(features) == n
    assert {f["properties"]["classification"]["name"] for f in features} <= set(CLASSES)
    assert sum(f["geometry"]["type"] == "Polygon" for f in features) >= 0.95 * n  # nucleus outlines
    adata = anndata.read_h5ad(outs[1])
    assert adata.n_obs == n and list(adata.var_names) == [f"prob_{c}" for c in CLASSES]
    assert (adata.obs["predicted"].to_numpy() == predicted["predicted"].to_numpy()).all()

    # review (a person's decisions, as the Review widget records them): the most uncertain first
    region = (0, 0, 715, 455)  # the left half of the slide
    with open_slide(he.he_path) as slide:
        session = open_review(
            project,
            reviewer="pathologist",
            table_path=project / "predictions.parquet",
            auto_from="model",
            if_slide=slide,
        )
        queue = session_queue(session, region=region)
        top = predicted.set_index("CellID").loc[queue].filter(like="prob_").max(axis=1).to_numpy()
        assert len(queue) > 50 and (np.diff(top) >= -1e-6).all()  # least confident first
        cells = session.table(["Y_centroid", "X_centroid", "predicted"]).set_index("CellID").loc[queue]
        centre = tuple(cells.iloc[0][["Y_centroid", "X_centroid"]].astype(float))
        crops = gallery_crops(session, int(queue[0]), centre, None, he_slide=slide)
        assert [title for title, _ in crops] == ["H&E"] and crops[0][1].shape == (64, 64, 3)
        true_class = _truth_class(cells.reset_index(), he, table, 0.5)
        for cell, predicted_class, truth_class in zip(queue, cells["predicted"], true_class):
            if truth_class is None:
                session.reject(cell)
            elif truth_class == predicted_class:
                session.approve(cell)
            else:
                session.set_class(cell, truth_class)
        corrected = session.status_counts()["corrected"]
        session.close()
    assert corrected > 0

    # compare in the reviewed region: ours and HoVer-Net against the reviewed cells
    hovernet = tmp_path / "hovernet.json"
    _hovernet_json(he, table, hovernet)
    region_args = ["--region", "reviewed", *map(str, region)]
    done = run_cli(
        "compare", project, "--slide", he.he_path, *region_args,
        "--ours", project / "predictions.parquet", "--model", f"hovernet={hovernet}", "--out", tmp_path / "report",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = pd.read_csv(tmp_path / "report" / "comparison.csv").set_index("region")
    print(report.loc["Total"].to_string())
    decided = session.table()
    decided = decided[decided["review_status"] != "unreviewed"]  # every cell of the region
    reviewed = decided["review_status"].isin(["approved", "corrected"])
    lymph = reviewed & decided["reviewed_class"].isin(["CD4 T", "CD8 T", "B cell"])
    assert report.loc["Total", "n lymphocyte"] == lymph.sum()
    ours_lymph = decided["predicted"].isin(["CD4 T", "CD8 T", "B cell"])  # on a rejected cell: a false positive
    tp, fp, fn = (lymph & ours_lymph).sum(), (~lymph & ours_lymph).sum(), (lymph & ~ours_lymph).sum()
    assert report.loc["Total", "ours lymphocyte F1"] == pytest.approx(2 * tp / (2 * tp + fp + fn), abs=1e-3)
    assert report.loc["Total", "hovernet lymphocyte F1"] > 0.8

    # no truth: model-vs-model agreement
    done = run_cli(
        "compare", "--slide", he.he_path, *region_args, "--ours", project / "predictions.parquet",
        "--model", f"hovernet={hovernet}", "--out", tmp_path / "agreement",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    agreement = pd.read_csv(tmp_path / "agreement" / "agreement.csv").set_index("region").loc["Total"]
    assert agreement["matched"] >= 0.8 * min(agreement["cells_a"], agreement["cells_b"])
    assert -1 <= agreement["kappa"] <= 1

    done = run_cli("review-export", project, "--out", tmp_path / "reviewed.geojson")
    assert done.returncode == 0, done.stderr


def test_run_segments_and_classifies_an_he_slide_alone(small_pair, pair_classifier, tmp_path):
    model_dir, _, _ = pair_classifier
    he = write_he_alone(small_pair, tmp_path, pixel_size_um=0.5, name="batch")
    settings = tmp_path / "run.yaml"
    settings.write_text(f"segmentation:\n  tile: 384\nclassifier: {model_dir}\n")
    done = run_cli("run", settings, "--he", he.he_path, "--out", tmp_path / "out", "--in-process")
    assert done.returncode == 0, done.stderr
    cells = pd.read_parquet(tmp_path / "out" / "cells.parquet")
    assert len(cells) > 500 and cells["predicted"].isin(CLASSES).all()
    assert {"Area", "Eccentricity"} <= set(cells.columns)  # morphology, no markers
