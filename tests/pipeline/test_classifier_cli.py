"""export-dataset -> train -> predict -> evaluate from the command line, and the overlay outcomes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from napari_ifcell.core.classify.outcomes import OUTCOMES, outcome_counts, outcomes

from ..conftest import HE_OFFSET_PX


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "napari_ifcell.cli", *map(str, args)], capture_output=True, text=True)


def test_outcomes_on_a_hand_built_case():
    truth = np.array([1, 1, 0, 0, -1, np.nan])
    prob = np.array([0.9, 0.2, 0.7, 0.1, 0.9, 0.9])
    codes = outcomes(truth, prob, threshold=0.5)
    assert [OUTCOMES[c] for c in codes] == ["TP", "FN", "FP", "TN", "no truth", "no truth"]
    assert outcome_counts(outcomes(truth, prob, threshold=0.8))["FP"] == 0  # a stricter threshold


def test_classifier_commands_end_to_end(small_pair, small_table, tmp_path):
    from napari_ifcell.core.gating.apply import gated_table
    from napari_ifcell.core.gating.auto import suggested_gateset

    gates, _ = suggested_gateset(small_table)
    gated = tmp_path / "gated.parquet"
    gated_table(small_table, gates).to_parquet(gated, index=False)
    pair = [
        "--if",
        small_pair.if_path,
        "--he",
        small_pair.he_path,
        "--he-offset-um",
        *(v * 0.325 for v in HE_OFFSET_PX),
    ]
    done = run_cli(
        "export-dataset",
        gated,
        *pair,
        "--labels",
        small_pair.labels_path,
        "--out",
        tmp_path / "ds",
        "--sampling",
        "natural",
        "-n",
        100000,
    )
    assert done.returncode == 0, done.stderr
    assert "train" in done.stdout
    done = run_cli("train", tmp_path / "ds", "--out", tmp_path / "model", "--epochs", 6)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "model" / "weights.pt").is_file() and "lymphocytes" in done.stdout
    done = run_cli(
        "predict",
        gated,
        *pair,
        "--model",
        tmp_path / "model",
        "--out",
        tmp_path / "pred.parquet",
        "--region",
        0,
        0,
        600,
        1400,
    )
    assert done.returncode == 0, done.stderr
    predicted = pd.read_parquet(tmp_path / "pred.parquet")
    inside = predicted.Y_centroid < 600
    assert predicted.loc[inside, "predicted"].notna().all() and predicted.loc[~inside, "predicted"].isna().all()
    np.testing.assert_allclose(predicted.loc[inside].filter(like="prob_").sum(axis=1), 1.0, rtol=1e-5)
    done = run_cli(
        "evaluate",
        tmp_path / "pred.parquet",
        "--model",
        tmp_path / "model",
        "--out",
        tmp_path / "metrics.csv",
        "--figures",
        tmp_path / "figures",
        "--all-cells",
    )
    assert done.returncode == 0, done.stderr
    metrics = pd.read_csv(tmp_path / "metrics.csv").set_index("class")
    assert {"CD4 T", "T cells", "lymphocytes"} <= set(metrics.index)
    assert (
        metrics.loc["lymphocytes", "support"]
        == (predicted.loc[inside, "phenotype"].isin(["CD4 T", "CD8 T", "regulatory T", "B cell"])).sum()
    )
    assert (tmp_path / "figures" / "confusion.png").stat().st_size > 1000
    # the walk: evaluate scored the cells the model learnt from too; now the model records them and
    # they are left out by default (or those of a data set given with --held-out)
    done = run_cli("predict", gated, *pair, "--model", tmp_path / "model", "--out", tmp_path / "all.parquet")
    assert done.returncode == 0, done.stderr
    index = pd.read_parquet(tmp_path / "ds" / "index.parquet")
    learnt = predicted["CellID"].isin(index.loc[index["split"].isin(["train", "val"]), "CellID"])
    held_out = predicted.loc[~learnt, "phenotype"].isin(["CD4 T", "CD8 T", "regulatory T", "B cell"]).sum()
    assert 0 < held_out < predicted["phenotype"].isin(["CD4 T", "CD8 T", "regulatory T", "B cell"]).sum()
    given = ["evaluate", tmp_path / "all.parquet", "--model", tmp_path / "model"]
    for name, extra in (("default", []), ("given", ["--held-out", tmp_path / "ds"])):
        done = run_cli(*given, "--out", tmp_path / f"{name}.csv", *extra)
        assert done.returncode == 0, done.stderr
        assert f"{learnt.sum()} of {len(predicted)} " in done.stderr  # predicted cells, all of them here
        assert "cells left out: the model was trained or validated on" in done.stderr
        assert pd.read_csv(tmp_path / f"{name}.csv").set_index("class").loc["lymphocytes", "support"] == held_out
    # compare --ours scored the training cells too: --held-out leaves them out of the truth, for every model
    compare = ["compare", gated, "--ours", tmp_path / "all.parquet", "--pixel-size", 0.325, "--region", "all"]
    runs = (("every", ["--all-cells"]), ("held", ["--held-out", tmp_path / "ds"]), ("default", []))
    for name, extra in runs:
        done = run_cli(*compare, 0, 0, 2000, 2000, *extra, "--out", tmp_path / name)
        assert done.returncode == 0, done.stderr
    every, held, default = (
        pd.read_csv(tmp_path / n / "comparison_counts.csv").query("region == 'all'").set_index("class") for n, _ in runs
    )
    pd.testing.assert_frame_equal(default, held)  # by default: the model folder the predictions name
    scored = predicted.loc[~learnt, "phenotype"].isin(["CD4 T", "CD8 T", "regulatory T", "B cell"]).sum()
    assert held.loc["lymphocyte", "n_true"] == scored < every.loc["lymphocyte", "n_true"]
    assert held["ignored"].sum() >= learnt.sum() * 0.9 and every["ignored"].sum() < held["ignored"].sum()
    assert (
        "truth cells left out, the cells our classifier was trained or validated on"
        in (tmp_path / "held" / "comparison.md").read_text()
    )
    # predictions that name no model recording its cells: every truth cell scored, and said so
    pd.read_parquet(tmp_path / "all.parquet").drop(columns=["model", "model_id"]).to_parquet(tmp_path / "bare.parquet")
    done = run_cli(*compare[:3], tmp_path / "bare.parquet", *compare[4:], 0, 0, 2000, 2000, "--out", tmp_path / "bare")
    assert done.returncode == 0 and "every truth cell scored; give --held-out" in done.stderr
    bare = pd.read_csv(tmp_path / "bare" / "comparison_counts.csv").query("region == 'all'").set_index("class")
    pd.testing.assert_frame_equal(bare, every)
    # a data set cut from another segmentation (its cell ids at other places) is refused, not used
    moved = tmp_path / "moved"
    moved.mkdir()
    index.assign(X_centroid=index["X_centroid"] + 40).to_parquet(moved / "index.parquet")
    done = run_cli(*compare, 0, 0, 2000, 2000, "--held-out", moved)
    assert done.returncode == 2 and "they were cut from another slide" in done.stderr


def test_export_needs_a_gated_table(small_pair, small_table, tmp_path):
    plain = tmp_path / "cells.parquet"
    small_table.to_parquet(plain, index=False)
    done = run_cli(
        "export-dataset",
        plain,
        "--if",
        small_pair.if_path,
        "--he",
        small_pair.he_path,
        "--labels",
        small_pair.labels_path,
        "--out",
        tmp_path / "ds",
    )
    assert done.returncode == 2 and "no phenotype column" in done.stderr


def test_nothing_to_score_is_said_not_left_to_scikit_learn(small_table, tmp_path):
    """A region or held-out set without predicted cells ended in scikit-learn's "Found empty input
    array"; a data set of every cell holds none out."""
    import pytest

    from napari_ifcell.core.classify.model import ClassifierConfig
    from napari_ifcell.core.gating.apply import gated_table
    from napari_ifcell.core.gating.auto import suggested_gateset
    from napari_ifcell.pipeline.classify import evaluate_cells, held_out_cells

    gates, _ = suggested_gateset(small_table)
    table = gated_table(small_table, gates).assign(predicted=None)
    with pytest.raises(ValueError, match="no cell in the region has both a prediction and an IF-derived label"):
        evaluate_cells(table, ClassifierConfig(), region=(0, 0, 100, 100))
    (tmp_path / "ds").mkdir()
    pd.DataFrame({"CellID": table["CellID"], "split": "train"}).to_parquet(tmp_path / "ds" / "index.parquet")
    with pytest.raises(ValueError, match="trained or validated on every cell of the table; none is held out"):
        held_out_cells(table, tmp_path / "ds")
    with pytest.raises(FileNotFoundError, match="no data set there"):
        held_out_cells(table, tmp_path)


def test_a_data_set_of_these_cells_is_told_from_one_of_another_segmentation(small_table, tmp_path):
    """A reviewer's split or merge moves a few learnt cells (the data set still holds out the
    rest); the slide segmented again gives the same nuclei new ids (they are found at their
    places); another slide's ids sit elsewhere (refused); a data set with nothing learnt holds
    nothing out (refused)."""
    import pytest

    from napari_ifcell.notes import recording_notes
    from napari_ifcell.pipeline.dataset import learnt_cells

    index = small_table[["CellID", "X_centroid", "Y_centroid"]].assign(split="test")
    index.loc[index.index[: len(index) // 2], "split"] = "train"
    (tmp_path / "ds").mkdir()
    index.to_parquet(tmp_path / "ds" / "index.parquet")
    edited = small_table.copy()
    edited.loc[edited.index[:10], "X_centroid"] += 3  # ten cells split or merged by a reviewer
    learnt = learnt_cells(edited, tmp_path / "ds")
    assert learnt.sum() == len(index) // 2 and learnt[: len(index) // 2].all()
    with pytest.raises(ValueError, match="cut from another slide"):
        learnt_cells(small_table.assign(X_centroid=small_table["X_centroid"] + 40), tmp_path / "ds")
    # the slide segmented again: the same nuclei under new ids, their centroids a pixel or two off
    rng = np.random.default_rng(0)
    again = small_table.assign(
        CellID=rng.permutation(len(small_table)) + 1,
        X_centroid=small_table["X_centroid"] + rng.uniform(-1.5, 1.5, len(small_table)),
        Y_centroid=small_table["Y_centroid"] + rng.uniform(-1.5, 1.5, len(small_table)),
    )
    with recording_notes() as notes:
        learnt = learnt_cells(again, tmp_path / "ds")
    assert learnt[: len(index) // 2].all() and learnt[len(index) // 2 :].mean() < 0.05
    assert any("segmented again" in n for n in notes)
    index.assign(split="test").to_parquet(tmp_path / "ds" / "index.parquet")
    with pytest.raises(ValueError, match="no train or val cells"):
        learnt_cells(small_table, tmp_path / "ds")


def test_a_model_records_the_cells_it_learnt_from(small_table, tmp_path):
    """Evaluate and the Classifier tab scored a model on its own training cells unless the user
    named its data set: the model folder now keeps them, and they are left out by default."""
    from napari_ifcell.core.classify.model import (
        LEARNT_FILE,
        ClassifierConfig,
        build_model,
        save_classifier,
    )
    from napari_ifcell.pipeline.classify import held_out_cells, unseen_cells

    config = ClassifierConfig()
    model, folder = build_model(config), tmp_path / "model"
    save_classifier(model, config, folder)  # as models saved before they kept their cells
    small_table = small_table.assign(prob_other=0.5)  # every cell predicted
    unseen, line = unseen_cells(small_table, folder)
    assert unseen.all() and "does not record which cells it learnt from" in line
    learnt = small_table.iloc[::3][["CellID", "X_centroid", "Y_centroid"]]
    save_classifier(model, config, folder, learnt=learnt, dataset=tmp_path / "ds")
    unseen, line = unseen_cells(small_table, folder)
    assert (~unseen).sum() == len(learnt) and not unseen[::3].any() and unseen[1::3].all()
    assert f"{len(learnt)} of {len(small_table)} predicted cells left out: the model was trained or validated" in line
    recorded = json.loads((folder / "config.json").read_text())["dataset"]  # where they came from
    assert recorded == str((tmp_path / "ds").resolve())
    assert len(held_out_cells(small_table, folder)) == len(small_table) - len(learnt)  # --held-out MODEL too
    # another slide's cells (the ids at other places): nothing of this table was learnt, every cell is scored
    unseen, line = unseen_cells(small_table.assign(X_centroid=small_table["X_centroid"] + 40), folder)
    assert unseen.all() and "learnt from another slide's cells" in line
    # another model saved into the folder without a record: the first one's cells are not taken for its
    save_classifier(model, config, folder)
    assert not (folder / LEARNT_FILE).exists() and unseen_cells(small_table, folder)[0].all()


def test_compare_leaves_out_what_the_model_records_and_scores_all_of_another_slide(small_table, tmp_path):
    """Compare's held-out field comes filled with the model folder: a model trained on another
    slide has nothing of this one to leave out (said, not refused); a data set is still refused."""
    import pytest

    from napari_ifcell.core.classify.model import ClassifierConfig, build_model, save_classifier
    from napari_ifcell.notes import recording_notes
    from napari_ifcell.pipeline.compare import held_out_truth, truth_cells

    config = ClassifierConfig()
    learnt = small_table.iloc[::2][["CellID", "X_centroid", "Y_centroid"]]
    save_classifier(build_model(config), config, tmp_path / "model", learnt=learnt)
    truth = truth_cells(small_table.assign(phenotype="CD8 T"))
    held = held_out_truth(truth, tmp_path / "model")
    assert held["class"].isna().sum() == len(learnt) and held["class"].iloc[1::2].notna().all()
    elsewhere = truth.assign(x=truth["x"] + 40)  # another slide's cells under the same ids
    with recording_notes() as notes:
        assert held_out_truth(elsewhere, tmp_path / "model")["class"].notna().all()
    assert any("every truth cell scored" in n and "another slide's cells" in n for n in notes)
    (tmp_path / "ds").mkdir()
    learnt.assign(split="train").to_parquet(tmp_path / "ds" / "index.parquet")
    with pytest.raises(ValueError, match="cut from another slide"):
        held_out_truth(elsewhere, tmp_path / "ds")


def test_each_predicted_cell_is_scored_against_the_model_that_predicted_it(small_table, tmp_path):
    """A region predicted by a second model keeps the first model's predictions elsewhere: each
    cell is left out when the model that predicted it learnt from it, not by one model's record."""
    from napari_ifcell.core.classify.model import ClassifierConfig, build_model, save_classifier
    from napari_ifcell.pipeline.classify import recorded_model, save_predictions, unseen_cells, with_model

    config, n = ClassifierConfig(), len(small_table)
    table = small_table.reset_index(drop=True).assign(prob_other=0.5)
    places = ["CellID", "X_centroid", "Y_centroid"]
    save_classifier(build_model(config), config, tmp_path / "a", learnt=table.iloc[::2][places])
    save_classifier(build_model(config), config, tmp_path / "b", learnt=table.iloc[1::2][places])
    path = tmp_path / "predictions.parquet"
    save_predictions(with_model(table, tmp_path / "a"), path)
    in_region = np.arange(n) < 100
    region = table.assign(prob_other=np.where(in_region, 0.5, np.nan))
    merged = save_predictions(with_model(region, tmp_path / "b"), path)
    folder_a, folder_b = str((tmp_path / "a").resolve()), str((tmp_path / "b").resolve())
    assert (merged["model"][in_region] == folder_b).all() and (merged["model"][~in_region] == folder_a).all()
    unseen, line = unseen_cells(merged, tmp_path / "b")
    odd = np.arange(n) % 2 == 1
    np.testing.assert_array_equal(unseen, np.where(in_region, ~odd, odd))  # b learnt the odd rows, a the even
    assert f"{n - unseen.sum()} of {n} predicted cells left out" in line
    assert recorded_model(path) == Path(folder_a)  # the model of most cells (Compare's held-out field)
    assert recorded_model(tmp_path / "nothing.parquet") is None


def test_a_model_saved_over_the_one_that_predicted_is_noticed(small_table, tmp_path):
    """Retrained into the same folder after predicting, the folder's learnt cells are the new
    model's: the old predictions are not scored against them (all scored, said), and Compare's
    held-out field is not filled with that folder."""
    import anndata

    from napari_ifcell.core.classify.model import ClassifierConfig, build_model, save_classifier, saved_id
    from napari_ifcell.pipeline.classify import (
        export_predictions,
        recorded_model,
        save_predictions,
        unseen_cells,
        with_model,
    )

    config, places = ClassifierConfig(), ["CellID", "X_centroid", "Y_centroid"]
    table = small_table.reset_index(drop=True).assign(prob_other=0.5)
    folder, path = tmp_path / "model", tmp_path / "predictions.parquet"
    save_classifier(build_model(config), config, folder, learnt=table.iloc[::2][places])
    first = saved_id(folder)
    save_predictions(with_model(table, folder), path)
    unseen, line = unseen_cells(pd.read_parquet(path), folder)
    assert (~unseen).sum() == len(table.iloc[::2]) and recorded_model(path) == folder.resolve()
    save_classifier(build_model(config), config, folder, learnt=table.iloc[1::2][places])  # retrained
    assert saved_id(folder) not in (None, first)
    unseen, line = unseen_cells(pd.read_parquet(path), folder)
    assert unseen.all() and f"holds another model than the one that predicted {len(table)} of these cells" in line
    assert recorded_model(path) is None
    # predicted again by the new model: its own training cells are left out
    unseen, line = unseen_cells(save_predictions(with_model(table, folder), path), folder)
    assert not unseen[1::2].any() and unseen[::2].all()
    # predictions written before models had an id are taken as the folder's model's, as before
    legacy = pd.read_parquet(path).drop(columns="model_id")
    assert not unseen_cells(legacy, folder)[0][1::2].any()
    # a model saved before models had an id: its predictions record "" (h5ad writes it; None it did not)
    doc = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({k: v for k, v in doc.items() if k != "id"}))
    old_model = with_model(table, folder)
    assert (old_model["model_id"] == "").all() and not unseen_cells(old_model, folder)[0][1::2].any()
    export_predictions(old_model, tmp_path / "old.h5ad")
    assert anndata.read_h5ad(tmp_path / "old.h5ad").n_obs == len(table)
    save_classifier(build_model(config), config, folder, learnt=table.iloc[1::2][places])  # now with an id
    assert unseen_cells(old_model, folder)[0].all()  # saved over: all scored


def test_a_per_marker_model_is_scored_on_the_cells_it_did_not_learn_from(small_table, tmp_path):
    """The multitask (per-marker) model goes through the same held-out path: its AUROC table
    counts only the cells it did not train or validate on."""
    from napari_ifcell.core.classify.model import ClassifierConfig, build_model, save_classifier
    from napari_ifcell.core.gating.apply import gated_table
    from napari_ifcell.core.gating.auto import suggested_gateset
    from napari_ifcell.pipeline.classify import evaluate_cells, unseen_cells, with_model
    from napari_ifcell.pipeline.dataset import classifier_targets

    config = ClassifierConfig(task="multitask")
    table = gated_table(small_table, suggested_gateset(small_table)[0]).reset_index(drop=True)
    rng = np.random.default_rng(0)
    table = table.assign(**{f"prob_{m}": rng.random(len(table)) for m in config.markers})
    learnt = table.iloc[::4][["CellID", "X_centroid", "Y_centroid"]]
    save_classifier(build_model(config), config, tmp_path / "model", learnt=learnt)
    unseen, line = unseen_cells(with_model(table, tmp_path / "model"), tmp_path / "model")
    assert (~unseen).sum() == len(learnt) and f"{len(learnt)} of {len(table)} predicted cells left out" in line
    report = evaluate_cells(table[unseen], config).set_index("marker")
    known = classifier_targets(table, config) >= 0
    for m, marker in enumerate(config.markers):
        assert report.loc[marker, ["positive", "negative"]].sum() == known[unseen, m].sum() < known[:, m].sum()
