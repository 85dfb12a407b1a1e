"""Run a trained classifier on the cells of a region or a slide, and score it against the
IF-derived truth."""

from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path

import numpy as np
import pandas as pd

from napari_ifcell.core.classes import CLASS_OF_PHENOTYPE
from napari_ifcell.core.classify.model import ClassifierConfig
from napari_ifcell.core.steps import run_to_end
from napari_ifcell.notes import note
from napari_ifcell.pipeline.dataset import cell_patch_reader, classifier_targets, learnt_cells, read_gated_table

CHUNK = 4096  # cells whose patches are held in memory at once


def load_prediction_inputs(table_path, model_dir, *, device: str = "cpu", need_truth: bool = True, store=None):
    """``(cell table, model, config)`` for predicting. ``need_truth``: the table must carry the
    gates' phenotypes (the IF truth the predictions are shown against). Without ``table_path``
    the cells are those of the label store at ``store`` (an H&E slide's own nuclei)."""
    from napari_ifcell.core.classify.model import load_classifier
    from napari_ifcell.io.cell_table import read_cell_table

    if table_path:  # a table given wins over the store
        table = read_gated_table(table_path) if need_truth else read_cell_table(table_path)
        from napari_ifcell.io.label_store import require_store_cells

        require_store_cells(store, table, table_path)  # overlays and exports use its outlines
    elif store is not None:
        table = store_cells(store)
    else:
        raise ValueError("no cells to classify: give a cell table or segment the slide first")
    model, config = load_classifier(model_dir, device=device)
    return table, model, config


def store_cells(store) -> pd.DataFrame:
    """The cells of a label store (a ``LabelStore`` or its folder) as a cell table (``CellID``,
    centroids, ``Area``): what a slide without IF has to classify. An empty store is refused:
    0 cells is not a result."""
    from napari_ifcell.io.label_store import LabelStore

    if not isinstance(store, LabelStore):
        store = LabelStore.open(store)
    if not len(store.index):
        raise ValueError(f"{store.folder}: the label store has no cells; segment the slide first")
    return store.index[["CellID", "Y_centroid", "X_centroid", "Area"]].reset_index(drop=True)


MODEL_COLUMN = "model"  # per predicted cell: the folder of the model that predicted it
MODEL_ID_COLUMN = "model_id"  # and the id it was saved with: a model saved over it has another


def predicted_rows(table: pd.DataFrame) -> np.ndarray:
    """Which rows of ``table`` have a prediction (every ``prob_`` column filled)."""
    return table.filter(like="prob_").notna().all(axis=1).to_numpy()


def with_model(table: pd.DataFrame, model_folder) -> pd.DataFrame:
    """The predictions marked, cell by cell, with the folder of the model that made them and its
    saved id (a region predicted later by another model keeps its own), so that each model is
    scored on the cells it did not learn from, and a model saved over it later is noticed."""
    from napari_ifcell.core.classify.model import saved_id

    folder = Path(model_folder).resolve()
    predicted = predicted_rows(table)
    return table.assign(
        **{
            MODEL_COLUMN: np.where(predicted, str(folder), None).astype(object),
            MODEL_ID_COLUMN: np.where(predicted, saved_id(folder) or "", None).astype(object),
        }
    )


def recorded_model(path) -> Path | None:
    """The folder of the model that predicted most cells of the predictions file at ``path``,
    where it still holds that model and records the cells it learnt from (None for a file that
    does not say, a model saved over since, one that does not record them, or a file that cannot
    be read)."""
    import pyarrow.parquet as pq

    from napari_ifcell.core.classify.model import LEARNT_FILE

    try:
        names = pq.read_schema(path).names
        columns = [c for c in (MODEL_COLUMN, MODEL_ID_COLUMN) if c in names]
        models = pq.read_table(path, columns=columns).to_pandas().dropna(subset=[MODEL_COLUMN])
    except (OSError, KeyError, ValueError):
        return None
    if not len(models):
        return None
    folder = models[MODEL_COLUMN].mode().iloc[0]
    if _replaced(models.loc[models[MODEL_COLUMN] == folder], folder).any():
        return None
    return Path(folder) if (Path(folder) / LEARNT_FILE).is_file() else None


def _replaced(rows: pd.DataFrame, folder) -> np.ndarray:
    """Which ``rows`` (predictions of the model in ``folder``) a model saved over it since made
    not: their recorded id is not the folder's ("" for a model saved before models had one;
    predictions that record none are taken as its)."""
    from napari_ifcell.core.classify.model import saved_id

    if MODEL_ID_COLUMN not in rows.columns:
        return np.zeros(len(rows), bool)
    recorded = rows[MODEL_ID_COLUMN]
    return (recorded.notna() & (recorded != (saved_id(folder) or ""))).to_numpy()


def save_predictions(table: pd.DataFrame, path) -> pd.DataFrame:
    """Write a slide's predictions to ``path`` (Parquet, atomic) and return what was written:
    cells this table has no prediction for keep the ones the file held (predicting one region
    after another builds up the slide's predictions instead of replacing them)."""
    from napari_ifcell.io.cell_table import read_cell_table, write_cell_table

    probs = [c for c in table.columns if c.startswith("prob_")]
    if Path(path).is_file() and probs:
        old = read_cell_table(path).set_index("CellID")
        if set(probs) <= set(old.columns):
            columns = [
                c
                for c in table.columns
                if c in (*probs, "predicted", MODEL_COLUMN, MODEL_ID_COLUMN) and c in old.columns
            ]
            table = table.set_index("CellID")
            keep = table[probs[0]].isna() & table.index.isin(old.index)
            table.loc[keep, columns] = old.loc[table.index[keep], columns].to_numpy()
            table = table.reset_index()
    write_cell_table(table, path)
    return table


def export_predictions(
    table: pd.DataFrame, path, *, store=None, image_id: str = "image", pixel_size_um: float | None = None
):
    """Write predictions to ``path``, the format from its suffix: a cell table (Parquet / CSV /
    TSV), AnnData (``.h5ad``: class probabilities as X unless the table has IF markers) or QuPath
    GeoJSON (each cell's outlines from ``store`` with its predicted class and colour)."""
    from napari_ifcell.pipeline.export import table_markers, write_table_export

    if Path(path).name.lower().endswith(".geojson") and "predicted" not in table.columns:
        raise ValueError(f"{path}: GeoJSON carries each cell's predicted class; this model predicts markers")
    markers = table_markers(table)
    return write_table_export(
        table,
        path,
        markers=markers,
        image_id=image_id,
        store=store,
        class_column="predicted",
        pixel_size_um=pixel_size_um,
    )


def predict_cells(
    source,
    table: pd.DataFrame,
    model,
    config: ClassifierConfig,
    *,
    region=None,
    progress: Callable[[str, int, int], None] | None = None,
) -> pd.DataFrame:
    """``predict_cells_steps`` run to the end."""
    return run_to_end(predict_cells_steps(source, table, model, config, region=region), progress)


def predict_cells_steps(
    source, table: pd.DataFrame, model, config: ClassifierConfig, *, region=None
) -> Generator[tuple[str, int, int], None, pd.DataFrame]:
    """``table`` with ``prob_<class>`` and ``predicted`` (multiclass) or ``prob_<marker>``
    (multitask) for the cells in ``region`` (level-0 ``y, x, h, w``; default all); others NaN.
    ``source``: an IF + H&E pair (cells on the IF grid) or an H&E slide alone (cells on its grid);
    patches are read at the resolution the model was trained at.
    Yields ``("predict", cells done, cells)`` per chunk of cells."""
    from napari_ifcell.core.classify.training import predict_proba

    table = table.copy()
    rows = np.arange(len(table))
    if region is not None:
        y, x, h, w = region
        inside = table["Y_centroid"].between(y, y + h, inclusive="left") & table["X_centroid"].between(
            x, x + w, inclusive="left"
        )
        rows = np.flatnonzero(inside.to_numpy())
    names = config.classes if config.task == "multiclass" else config.markers
    probs = np.full((len(table), len(names)), np.nan, np.float32)
    centres = table[["Y_centroid", "X_centroid"]].to_numpy()
    patches = cell_patch_reader(source, config)  # a slide the model cannot read is refused before any work
    # cells in raster order of blocks, so each chunk reads few blocks
    rows = rows[np.lexsort((centres[rows, 1] // 1024, centres[rows, 0] // 1024))]
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        probs[chunk] = predict_proba(model, patches(centres[chunk]), config)
        yield "predict", min(start + CHUNK, len(rows)), len(rows)
    for i, name in enumerate(names):
        table[f"prob_{name}"] = probs[:, i]
    if config.task == "multiclass":
        best = np.nanargmax(np.where(np.isnan(probs), -1, probs), axis=1)
        table["predicted"] = np.where(np.isnan(probs).all(axis=1), None, np.asarray(config.classes, dtype=object)[best])
    return table


def evaluate_cells(table: pd.DataFrame, config: ClassifierConfig, *, region=None) -> pd.DataFrame:
    """The papers' tables over the cells that have a prediction and an IF-derived label."""
    from napari_ifcell.core.classify.metrics import class_report, marker_report

    if region is not None:
        y, x, h, w = region
        table = table[
            table["Y_centroid"].between(y, y + h, inclusive="left")
            & table["X_centroid"].between(x, x + w, inclusive="left")
        ]
    targets = classifier_targets(table, config)
    if config.task == "multiclass":
        scored = (targets >= 0) & table["predicted"].notna().to_numpy()
    else:
        probs = table[[f"prob_{m}" for m in config.markers]].to_numpy()
        scored = ~np.isnan(probs).any(axis=1)
    if not scored.any():
        where = " in the region" if region is not None else ""
        raise ValueError(f"no cell{where} has both a prediction and an IF-derived label to score (predict them first)")
    if config.task == "multiclass":
        truth = table["phenotype"].map(CLASS_OF_PHENOTYPE).to_numpy()[scored]
        return class_report(truth, table["predicted"].to_numpy()[scored], config.classes)
    return marker_report(targets[scored], probs[scored], config.markers)


def held_out_cells(table: pd.DataFrame, folder) -> pd.DataFrame:
    """The cells of ``table`` a model did not learn from: the train and val cells of ``folder`` (the
    data set it was trained on, from this slide, or the model's folder, which records them) left out."""
    learnt = learnt_cells(table, folder)
    if learnt.all():
        raise ValueError(f"{folder}: the model was trained or validated on every cell of the table; none is held out")
    note(f"{int(learnt.sum())} of {len(table)} cells left out: the model was trained or validated on them ({folder})")
    return table[~learnt]


def unseen_cells(table: pd.DataFrame, model_folder) -> tuple[np.ndarray, str]:
    """Which rows of ``table`` the models that predicted them did not learn from, and a line
    saying which predicted cells are scored. Each cell's model is the one its ``model`` column
    names (see :func:`with_model`), else ``model_folder``. A model that records no training
    cells, or learnt from another slide's, and a folder saved over since the cells were
    predicted leave their cells in (and the line says so)."""
    predicted = predicted_rows(table)
    folders = pd.Series(str(model_folder), index=table.index, dtype=object)
    if MODEL_COLUMN in table.columns:  # the folder a cell's prediction came from, where it still is
        named = table[MODEL_COLUMN].where(table[MODEL_COLUMN].map(lambda f: isinstance(f, str) and Path(f).is_dir()))
        folders = named.fillna(folders)
    unseen, lines = np.ones(len(table), bool), []
    for folder in pd.unique(folders[predicted]):
        rows = predicted & (folders == folder).to_numpy()
        replaced = rows.copy()
        replaced[rows] = _replaced(table[rows], folder)
        if replaced.any():  # which cells the model that predicted them learnt from is not known
            lines.append(
                f"{folder} holds another model than the one that predicted {int(replaced.sum())} of these cells:"
                " they are all scored (predict them again to leave its training cells out)"
            )
        rows &= ~replaced
        if not rows.any():
            continue
        by_folder, line = _unseen_by(table, folder)  # the whole table: its learnt cells lie anywhere
        unseen[rows] = by_folder[rows]
        if line:
            lines.append(line)
    left_out = int((predicted & ~unseen).sum())
    if not left_out and not lines:
        lines.append(f"none of the {int(predicted.sum())} predicted cells was trained or validated on")
    if left_out:
        said = (
            f"{left_out} of {int(predicted.sum())} predicted cells left out: the model was trained or validated on them"
        )
        lines.insert(0, said)
    return unseen, "; ".join(lines)


def _unseen_by(table: pd.DataFrame, folder) -> tuple[np.ndarray, str]:
    from napari_ifcell.core.classify.model import LEARNT_FILE
    from napari_ifcell.pipeline.dataset import learnt_here

    every = np.ones(len(table), bool)
    if not (Path(folder) / LEARNT_FILE).is_file():
        return every, f"{folder} does not record which cells it learnt from: its cells are all scored"
    learnt = learnt_here(table, folder)
    if learnt is None:
        return every, f"{folder} learnt from another slide's cells: its cells are all scored"
    return ~learnt, ""


def dataset_config(dataset) -> ClassifierConfig:
    """The classifier config an exported data set was cut for."""
    from napari_ifcell.core.classify.model import read_config

    return read_config(dataset)


def train_on_dataset_steps(dataset, out, *, config: ClassifierConfig | None = None):
    """Train on an exported data set's train split (early stopping on its val split), save the
    model in ``out`` and score its test split. Yields ``("train", epoch, epochs)``; returns
    ``(model, config, history, test_report)`` (the report is None without a test split).

    ``config``: the training settings; default the data set's own config.
    """
    from napari_ifcell.core.classify.metrics import class_report, marker_report
    from napari_ifcell.core.classify.model import save_classifier
    from napari_ifcell.core.classify.training import predict_proba, train_steps
    from napari_ifcell.pipeline.dataset import load_dataset

    config = config or dataset_config(dataset)
    patches, index = load_dataset(dataset, config.patch_size)
    columns = ["target"] if config.task == "multiclass" else [f"{m}_target" for m in config.markers]
    targets = index[columns].to_numpy()
    targets = targets[:, 0] if config.task == "multiclass" else targets
    split = index["split"].to_numpy()
    model, history = yield from train_steps(
        patches[split == "train"],
        targets[split == "train"],
        config,
        val_patches=patches[split == "val"],
        val_targets=targets[split == "val"],
    )
    learnt = index.loc[np.isin(split, ["train", "val"])]
    learnt = learnt[[c for c in ("CellID", "X_centroid", "Y_centroid") if c in learnt.columns]]
    save_classifier(model, config, out, history=history, learnt=learnt, dataset=dataset)
    test = split == "test"
    report = None
    if test.any():
        probs = predict_proba(model, patches[test], config)
        if config.task == "multiclass":
            names = np.asarray(config.classes)
            report = class_report(names[targets[test]], names[probs.argmax(1)], config.classes)
        else:
            report = marker_report(targets[test], probs, config.markers)
    return model, config, history, report
