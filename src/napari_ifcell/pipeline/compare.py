"""Compare models region by region: IF truth from a gated (and reviewed) cell table, our
classifier's predictions, and other models' detection files, on the slide's grid."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from napari_ifcell.core.compare.report import comparison_counts, comparison_report
from napari_ifcell.core.compare.type_maps import DEFAULT_TRUTH_MAP, type_map
from napari_ifcell.io.detections import Frame, place_rows, read_detection_rows
from napari_ifcell.notes import note

MATCHES = ("centroid", "iou")
REVIEWED_CLASS = "reviewed_class"  # written by the review state (issue 5) when a person labelled a cell


@dataclass(frozen=True)
class CompareSettings:
    """How a model's cells are matched to the truth (shared by the CLI and the Compare widget)."""

    radius_um: float = 3.0  # centroid matching radius (OCELOT's 3 µm)
    match: str = "centroid"  # or "iou": mask IoU > 0.5 for models that outline every cell


def truth_cells(table: pd.DataFrame, *, class_map: dict | None = None) -> pd.DataFrame:
    """``CellID, y, x, class`` from a gated cell table: the IF-derived class (the reviewed one
    when a person gave it; cells a reviewer rejected are dropped) folded into comparison classes.
    A review with no IF behind it (an H&E slide alone) is truth only where a person decided:
    its approved and corrected cells; a cell left unreviewed stays in with no class, so a call
    on it is ignored (as one on a cell without IF label), not a false positive."""
    from napari_ifcell.core.classes import CLASS_OF_PHENOTYPE

    class_map = DEFAULT_TRUTH_MAP if class_map is None else class_map
    if "phenotype" not in table.columns and REVIEWED_CLASS not in table.columns:
        raise ValueError("the truth table has no 'phenotype' column; gate it first")
    cls = (
        table["phenotype"].map(CLASS_OF_PHENOTYPE)
        if "phenotype" in table.columns
        else pd.Series(None, index=table.index)
    )
    keep = np.ones(len(table), bool)
    if REVIEWED_CLASS in table.columns:
        reviewed = table[REVIEWED_CLASS]
        cls = reviewed.where(reviewed.notna(), cls)
        if "phenotype" not in table.columns and not reviewed.notna().any():
            raise ValueError("no reviewed cells: without IF, the truth is the cells a person approved or corrected")
        if "review_status" in table.columns:
            keep = (table["review_status"] != "rejected").to_numpy()
    out = pd.DataFrame(
        {
            "CellID": table["CellID"].to_numpy(),
            "y": table["Y_centroid"].to_numpy(float),
            "x": table["X_centroid"].to_numpy(float),
            "class": cls.map(class_map).to_numpy(object),
        }
    )
    out.loc[out["class"].isna(), "class"] = None
    return out[keep].reset_index(drop=True)


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


# the type map a detection format implies when none is chosen: CellViT and HistoPLUS name
# their classes, QuPath files carry class names; HoVer-Net and TIAToolbox write bare ids
# (Lizard's the most common taxonomy with a lymphocyte type of its own)
FORMAT_TYPE_MAPS = {
    "hovernet-json": "lizard",
    "tiatoolbox": "lizard",
    "tiatoolbox-dat": "lizard",
    "qupath-geojson": "names",
    "cellvit-json": "cellvit",
    "cellvit-geojson": "cellvit",
    "histoplus-json": "histoplus",
}


def type_map_spec(value: str):
    """A type map as given by name (a preset, or auto) or as the path of a JSON file holding
    a custom map; the file's map is checked here, so a wrong one is said before any reading."""
    if not value.lower().endswith(".json"):
        return value
    try:
        import json

        spec = json.loads(Path(value).read_text(encoding="utf-8"))
        type_map(spec)
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"{value}: not a readable JSON type map ({exc})") from None
    return spec


ID_FORMATS = ("hovernet-json", "tiatoolbox", "tiatoolbox-dat")  # the map is a guess for these


def _unknown_types(tmap, types) -> bool:
    """Whether none of a file's types means anything under the map: names the map does not
    list (where it lists every name), or ids under a map of names only."""
    if any(tmap.knows(t) for t in types):
        return False
    ids_only = all(str(t).lstrip("-").isdigit() for t in types)
    return tmap.lists_all or (ids_only and not tmap.names)


@dataclass
class DetectionSource:
    """Another model's detection file and how to read it. ``type_map="auto"``: the one its
    format implies (:data:`FORMAT_TYPE_MAPS`)."""

    path: str | Path
    type_map: str | dict = "auto"
    model_um_per_px: float | None = None  # default: the type map's training resolution
    format: str = "auto"
    origin_px: tuple[float, float] = (0.0, 0.0)
    offset_um: tuple[float, float] = (0.0, 0.0)
    trust: bool = False

    def read(self, slide_um_per_px: float) -> pd.DataFrame:
        """The model's cells on the slide's grid with their comparison class; notes for what was
        assumed (the type map, the resolution the model ran at) and for types the map does not
        name (those cells count as its default class)."""
        rows, fmt, recorded_um = read_detection_rows(self.path, format=self.format, trust=self.trust)
        name = Path(self.path).name
        auto = isinstance(self.type_map, str) and self.type_map.lower() == "auto"
        spec = FORMAT_TYPE_MAPS[fmt] if auto else self.type_map
        if auto and fmt in ID_FORMATS:
            note(
                f"{name}: type map {spec!r} assumed ({fmt} files carry type ids without names); "
                "give the model's own (pannuke, consep, monusac, ...) if it was trained on another taxonomy"
            )
        tmap = type_map(spec)
        spec_name = repr(spec) if isinstance(spec, str) else "(a custom one)"
        model_um = self.model_um_per_px or recorded_um or tmap.um_per_px or slide_um_per_px
        if not self.model_um_per_px and abs(model_um / slide_um_per_px - 1) > 0.01:
            source = (
                "the file's wsi_metadata.base_mpp" if recorded_um else f"the type map {spec_name}'s training resolution"
            )
            note(
                f"{name}: its coordinates read at {model_um:g} µm/px ({source}), scaled by "
                f"{model_um / slide_um_per_px:.3g} onto the slide's {slide_um_per_px:g} µm/px; give the "
                "resolution the model ran at (--model-um-per-px; the Compare tab's 'Model ran at') if it differs"
            )
        cells = place_rows(rows, Frame(model_um, slide_um_per_px, tuple(self.origin_px), tuple(self.offset_um)))
        if not len(cells):
            note(f"{name}: no cells in the file ({fmt}); the model scores 0")
        elif _unknown_types(tmap, kinds := pd.unique(cells["type"])):
            note(
                f"{name}: none of its cell types ({', '.join(repr(str(t)) for t in kinds[:4])}) is in the type map "
                f"{spec_name}; every cell counts as {tmap.default!r} (choose the type map of the model's taxonomy)"
            )
        elif tmap.lists_all and (unknown := [t for t in kinds if not tmap.knows(t)]):
            counts = cells["type"].value_counts(dropna=False)
            listed = ", ".join(f"{str(t)!r} ({counts.get(t, 0)})" for t in unknown[:5])
            note(
                f"{name}: cells of type(s) {listed} are not in the type map {spec_name} and count as "
                f"{tmap.default!r}; a custom type map names them (--type-map map.json, "
                '{"classes": {"<type>": "lymphocyte"}}; the Compare tab\'s Type map file)'
            )
        cells["class"] = [tmap.class_of(t) for t in cells["type"]]
        return cells[cells["class"].notna()].reset_index(drop=True)


def read_truth(source: str | Path) -> pd.DataFrame:
    """The truth from a gated cell table file, or from a project folder: the review's current
    state there (people's labels where given, rejected cells dropped; on an H&E slide alone,
    only the cells people decided)."""
    if Path(source).is_dir():
        from napari_ifcell.pipeline.review.session import ReviewSession

        review = ReviewSession.open(Path(source), reviewer="compare", read_only=True)
        return truth_cells(review.table(["Y_centroid", "X_centroid", "phenotype"]))
    from napari_ifcell.io.cell_table import read_cell_table

    return truth_cells(read_cell_table(source))


def read_models(sources: dict[str, DetectionSource | str | Path], um_per_px: float) -> dict[str, pd.DataFrame]:
    """Each model's cells in comparison classes: a :class:`DetectionSource` (another model's
    detections) or the path of our classifier's prediction table."""
    from napari_ifcell.io.cell_table import read_cell_table

    return {
        name: src.read(um_per_px) if isinstance(src, DetectionSource) else classifier_cells(read_cell_table(src))
        for name, src in sources.items()
    }


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
        regions, truth, models, um_per_px=um_per_px, radius_um=radius_um, iou_matchers=matchers
    )
    return comparison_report(counts), counts, outcomes
