"""Compare models region by region: IF truth from a gated (and reviewed) cell table, our
classifier's predictions, and other models' detection files, on the slide's grid."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from napari_ifcell.core.compare.report import comparison_counts, comparison_report
from napari_ifcell.core.compare.type_maps import DEFAULT_TRUTH_MAP
from napari_ifcell.core.review.state import NOT_A_CELL
from napari_ifcell.notes import note
from napari_ifcell.pipeline.detection_source import DetectionSource, check_on_slide

MATCHES = ("centroid", "iou")
REVIEWED_CLASS = "reviewed_class"  # written by the review state (issue 5) when a person labelled a cell


@dataclass(frozen=True)
class CompareSettings:
    """How a model's cells are matched to the truth (shared by the CLI and the Compare widget)."""

    radius_um: float = 3.0  # centroid matching radius (OCELOT's 3 µm)
    match: str = "centroid"  # or "iou": mask IoU > 0.5 for models that outline every cell


def truth_cells(table: pd.DataFrame, *, class_map: dict | None = None) -> pd.DataFrame:
    """``CellID, y, x, class`` from a gated cell table: the IF-derived class (the reviewed one
    when a person gave it; cells a reviewer rejected are :data:`NOT_A_CELL`) folded into
    comparison classes.
    A review with no IF behind it (an H&E slide alone) is truth only where a person decided:
    its approved and corrected cells; a cell left unreviewed stays in with no class, so a call
    on it is ignored (as one on a cell without IF label), not a false positive, and so is a call
    at none of its cells (``attrs["complete"]`` is False: see ``score_cells``)."""
    from napari_ifcell.core.classes import CLASS_OF_PHENOTYPE

    class_map = DEFAULT_TRUTH_MAP if class_map is None else class_map
    if "phenotype" not in table.columns and REVIEWED_CLASS not in table.columns:
        raise ValueError("the truth table has no 'phenotype' column; gate it first")
    cls = (
        table["phenotype"].map(CLASS_OF_PHENOTYPE)
        if "phenotype" in table.columns
        else pd.Series(None, index=table.index)
    )
    rejected = np.zeros(len(table), bool)
    if REVIEWED_CLASS in table.columns:
        reviewed = table[REVIEWED_CLASS]
        cls = reviewed.where(reviewed.notna(), cls)
        if "phenotype" not in table.columns and not reviewed.notna().any():
            raise ValueError("no reviewed cells: without IF, the truth is the cells a person approved or corrected")
        if "review_status" in table.columns:
            rejected = (table["review_status"] == "rejected").to_numpy()
    out = pd.DataFrame(
        {
            "CellID": table["CellID"].to_numpy(),
            "y": table["Y_centroid"].to_numpy(float),
            "x": table["X_centroid"].to_numpy(float),
            "class": cls.map(class_map).to_numpy(object),
        }
    )
    out.loc[out["class"].isna(), "class"] = None
    out.loc[rejected, "class"] = NOT_A_CELL
    out.attrs["complete"] = "phenotype" in table.columns
    return out


def classifier_cells(table: pd.DataFrame, *, class_map: dict | None = None) -> pd.DataFrame:
    """Our classifier's cells (a table with ``predicted``) in comparison classes."""
    if "predicted" not in table.columns:
        raise ValueError("the prediction table has no 'predicted' column; run 'napari-ifcell predict' first")
    class_map = DEFAULT_TRUTH_MAP if class_map is None else class_map
    done = table[table["predicted"].notna()]
    return pd.DataFrame(
        {
            "CellID": done["CellID"].to_numpy(),
            "y": done["Y_centroid"].to_numpy(float),
            "x": done["X_centroid"].to_numpy(float),
            "class": done["predicted"].map(class_map).to_numpy(object),
        }
    )


def read_truth(source: str | Path) -> pd.DataFrame:
    """The truth from a gated cell table file, or from a project folder: the review's current
    state there (people's labels where given; cells rejected or deleted by a person are not
    cells; on an H&E slide alone, only the cells people decided)."""
    if Path(source).is_dir():
        from napari_ifcell.pipeline.review.session import ReviewSession

        review = ReviewSession.open(Path(source), reviewer="compare", read_only=True)
        truth = truth_cells(review.table(["Y_centroid", "X_centroid", "phenotype"]))
        deleted = review.deleted_by_person()  # a person's "no cell here", as a rejected cell is
        if not len(deleted):
            return truth
        gone = pd.DataFrame(
            {"CellID": deleted["CellID"], "y": deleted["Y_centroid"], "x": deleted["X_centroid"], "class": NOT_A_CELL}
        )
        both = pd.concat([truth, gone.astype({"class": object})], ignore_index=True)
        both.attrs = dict(truth.attrs)
        return both
    from napari_ifcell.io.cell_table import read_cell_table

    return truth_cells(read_cell_table(source))


def held_out_truth(truth: pd.DataFrame, folder) -> pd.DataFrame:
    """The truth without the cells a classifier learnt from (those its model folder records, or the
    train and val cells of its data set; ``folder``: either): they keep their place but lose their
    class, so every model's calls on them are ignored, not scored, and ours is not scored on the
    cells it was trained on."""
    from napari_ifcell.pipeline.dataset import learnt_here

    learnt = learnt_here(truth.rename(columns={"y": "Y_centroid", "x": "X_centroid"}), folder)
    if learnt is None:
        note(f"every truth cell scored: our classifier ({folder}) learnt from another slide's cells")
        return truth
    if not (truth["class"].notna().to_numpy() & ~learnt).any():
        raise ValueError(f"{folder}: the model learnt from every labelled cell of the truth; none is held out")
    note(
        f"{int(learnt.sum())} of {len(truth)} truth cells left out, the cells our classifier was trained or "
        f"validated on ({folder}): calls on them are not scored"
    )
    out = truth.copy()
    out.loc[learnt, "class"] = None
    return out


def read_models(
    sources: dict[str, DetectionSource | str | Path], um_per_px: float, slide_shape: tuple[int, int] | None = None
) -> dict[str, pd.DataFrame]:
    """Each model's cells in comparison classes: a :class:`DetectionSource` (another model's
    detections) or the path of our classifier's prediction table. ``slide_shape`` (level-0 px)
    refuses a model whose cells all lie off the slide and notes one with many off it."""
    from napari_ifcell.io.cell_table import read_cell_table

    models = {}
    for name, src in sources.items():
        if isinstance(src, DetectionSource):
            models[name] = src.read(um_per_px, slide_shape)
            continue
        models[name] = classifier_cells(read_cell_table(src))
        models[name].attrs["read_as"] = f"{src} (our classifier's predictions table)"
        if slide_shape is not None:
            check_on_slide(
                models[name], slide_shape, Path(src).name, "read as this slide's cells",
                "give the prediction table made on this slide",
            )  # fmt: skip
    return models


def comparison_about(
    truth: pd.DataFrame,
    models: dict[str, pd.DataFrame],
    *,
    truth_name: str,
    settings: CompareSettings,
    um_per_px: float,
) -> list[str]:
    """How a comparison was made, one line each, for its saved report: the truth, the matching,
    and how each model's file was read (see ``DetectionSource.read``) and matched."""
    complete = truth.attrs.get("complete", True)
    lines = [
        f"Truth: {truth_name} ("
        + ("every cell labelled" if complete else "the cells people reviewed; calls at no reviewed cell not scored")
        + ")",
        f"Slide: {um_per_px:g} µm/px; cells matched within {settings.radius_um:g} µm"
        + (" (or by mask IoU > 0.5 where outlined)" if settings.match == "iou" else ""),
    ]
    for name, cells in models.items():
        read_as = cells.attrs.get("read_as", "cells given directly")
        lines.append(f"{name}: {read_as}; matched by {matching_method(cells, settings.match)}")
    return lines


def mask_matchers(
    regions, truth: pd.DataFrame, models: dict[str, pd.DataFrame], labels, truth_name: str = "the truth table"
) -> dict:
    """IoU matchers for the (region, model) pairs where the model has contours and the truth a
    label image (``labels``: a label TIFF or store folder, a ``read(y, x, h, w)``, or a 2-D
    array-like)."""
    from skimage.draw import polygon as fill_polygon

    from napari_ifcell.core.segment.metrics import iou_pairs
    from napari_ifcell.pipeline.dataset import label_reader

    read = label_reader(labels)
    outlined = {name: cells for name, cells in models.items() if matching_method(cells, "iou") == "mask IoU"}
    matchers = {}
    own = [0, 0]  # truth cells whose centre lies in their own label, truth cells
    for region in regions:
        y, x, h, w = region.bounds
        truth_img = read(y, x, h, w)
        inside_region = region.contains(truth["y"], truth["x"])
        t_ids = truth["CellID"].to_numpy()[inside_region]
        own[0] += _centres_in_own_label(truth[inside_region], truth_img, (y, x))
        own[1] += len(t_ids)
        for name, cells in outlined.items():  # every cell outlined, or none matched by mask
            inside = cells[region.contains(cells["y"], cells["x"])]
            if not len(inside):
                continue
            pred_img = np.zeros(truth_img.shape, np.int64)
            for i, contour in enumerate(inside["contour"]):
                rr, cc = fill_polygon(contour[:, 0] - y, contour[:, 1] - x, shape=pred_img.shape)
                pred_img[rr, cc] = i + 1

            def match(t_rows, p_rows, truth_img=truth_img, pred_img=pred_img, t_ids=t_ids):
                t_keep = np.where(np.isin(truth_img, t_ids[t_rows]), truth_img, 0)
                p_keep = np.where(np.isin(pred_img, p_rows + 1), pred_img, 0)
                p_hit, t_hit = iou_pairs(p_keep, t_keep)
                t_pos = {cid: i for i, cid in enumerate(t_ids[t_rows])}
                p_pos = {row: i for i, row in enumerate(p_rows)}
                return np.array([[t_pos[t], p_pos[p - 1]] for t, p in zip(t_hit, p_hit)], np.int64).reshape(-1, 2)

            matchers[(region.name, name)] = match
    if outlined and own[1] and own[0] < 0.5 * own[1]:
        raise ValueError(
            f"{labels if isinstance(labels, str | Path) else 'the truth label image'}: not the labels of the "
            f"cells of {truth_name}: {own[0]} of {own[1]} cells have their centre in the label of their "
            "CellID; give the label image or store the table was quantified from"
        )
    return matchers


def _centres_in_own_label(cells: pd.DataFrame, img: np.ndarray, origin: tuple[int, int]) -> int:
    """How many of ``cells`` (CellID, y, x in slide px) have the label of their CellID at their
    centre in ``img`` (read at ``origin``); a concave cell's centre can lie outside it."""
    yy = np.clip(np.round(cells["y"].to_numpy(float)).astype(int) - origin[0], 0, img.shape[0] - 1)
    xx = np.clip(np.round(cells["x"].to_numpy(float)).astype(int) - origin[1], 0, img.shape[1] - 1)
    return int((np.asarray(img)[yy, xx] == cells["CellID"].to_numpy()).sum())


SAME_CELLS_SHARE = 0.9  # of the ids a model shares with the truth, this many at the same place


def ids_checked(truth: pd.DataFrame, models: dict, *, um_per_px: float, radius_um: float) -> dict:
    """The models, each of whose ``CellID`` names the truth's own cells (our classifier on the
    truth's segmentation), keeping them; a model whose cells of the truth's ids lie elsewhere
    (predictions made on another segmentation) loses its ids, so it is matched by centroid
    distance, with a note. Pairing such cells by id would score other cells' classes."""
    checked = {}
    for name, cells in models.items():
        if "CellID" in cells and "CellID" in truth:
            both = cells[["CellID", "y", "x"]].merge(truth[["CellID", "y", "x"]], on="CellID", suffixes=("", "_t"))
            apart = np.hypot(both["y"] - both["y_t"], both["x"] - both["x_t"]).to_numpy(float) * um_per_px
            if not len(both) or (apart <= radius_um).mean() < SAME_CELLS_SHARE:
                said = f"a median {np.median(apart):.1f} µm apart" if len(both) else "no id in common"
                note(
                    f"{name}: its cell ids are not the truth's cells (cells of the same id {said}; "
                    "predictions made on another segmentation): matched by centroid distance instead"
                )
                cells = cells.drop(columns="CellID")
        checked[name] = cells
    return checked


def matching_method(cells: pd.DataFrame, match: str) -> str:
    """How a model's cells are paired with the truth's: by cell id when it classified the
    truth's own cells (our classifier), by mask IoU when asked for and it gives contours,
    else by centroid distance."""
    if "CellID" in cells:
        return "cell id"
    if match == "iou" and "contour" in cells and len(cells) and cells["contour"].notna().all():
        return "mask IoU"
    return "centroid"


def matching_summary(models: dict[str, pd.DataFrame], match: str) -> str:
    """``matched by <model>: <method>, ...`` (:func:`matching_method`), as the outputs say it."""
    return "matched by " + ", ".join(f"{m}: {matching_method(cells, match)}" for m, cells in models.items())


def compare_models(
    regions,
    truth: pd.DataFrame,
    models: dict[str, pd.DataFrame],
    *,
    um_per_px: float,
    radius_um: float = CompareSettings.radius_um,
    match: str = CompareSettings.match,
    labels=None,
    truth_name: str = "the truth table",
):
    """``(report, counts, outcomes)`` for ``models`` (name -> cells with ``y, x, class``;
    give them through :func:`ids_checked` first to say how each was matched).
    Mask matching finds the truth's masks by CellID in ``labels``: a label store refuses a
    truth table of other cells (named ``truth_name``), which would match nothing."""
    if not regions:
        raise ValueError("no regions to compare in; draw or load at least one")
    if match not in MATCHES:
        raise ValueError(f"match must be 'centroid' or 'iou', got {match!r}")
    models = ids_checked(truth, models, um_per_px=um_per_px, radius_um=radius_um)
    matchers = None
    if match == "iou":
        if labels is None:
            raise ValueError("mask IoU matching needs the truth label image (labels)")
        from napari_ifcell.io.label_store import require_store_cells

        require_store_cells(labels, truth["CellID"], truth_name, what="the truth table")
        matchers = mask_matchers(regions, truth, models, labels, truth_name)
    counts, outcomes = comparison_counts(
        regions,
        truth,
        models,
        um_per_px=um_per_px,
        radius_um=radius_um,
        iou_matchers=matchers,
        truth_complete=truth.attrs.get("complete", True),
    )
    return comparison_report(counts), counts, outcomes
