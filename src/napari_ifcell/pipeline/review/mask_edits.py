"""Mask edits of a review session: repaint, delete, merge, split, add a cell (painted or from
a SAM point prompt). Each becomes one journal event with the pixels and the cell-table rows
before and after; the touched cells are re-measured from the IF slide."""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_ifcell.pipeline.review.session import HALO_PX, ReviewSession


def edit_labels(
    session: ReviewSession,
    origin: tuple[int, int],
    labels: np.ndarray,
    *,
    added_class: str | None = None,
    kind: str = "paint",
) -> int:
    """Replace the label-store window at ``origin`` by ``labels`` (what the user painted)."""
    store = _store(session)
    y, x = origin
    h, w = labels.shape
    before_small = store.read(y, x, h, w)
    changed = before_small != labels
    if not changed.any():
        raise ValueError("the edit changes no pixel")
    touched = np.unique(np.concatenate([before_small[changed], labels[changed]]).astype(np.int64))
    touched = touched[touched > 0]
    old = store.index[store.index.CellID.isin(touched)]
    by0 = min([y, *old.y0.astype(int)]) - HALO_PX
    bx0 = min([x, *old.x0.astype(int)]) - HALO_PX
    by1 = max([y + h, *old.y1.astype(int)]) + HALO_PX
    bx1 = max([x + w, *old.x1.astype(int)]) + HALO_PX
    by0, bx0 = max(by0, 0), max(bx0, 0)
    by1, bx1 = min(by1, store.shape[0]), min(bx1, store.shape[1])
    before = store.read(by0, bx0, by1 - by0, bx1 - bx0)
    after = before.copy()
    after[y - by0 : y - by0 + h, x - bx0 : x - bx0 + w] = labels
    known = np.isin(touched, session.state.ids)
    rows_before = _current_rows(session, touched[known])
    rows_after = _measure(session, after, (by0, bx0), touched, rows_before)
    present = set(rows_after["CellID"].tolist())
    event = {
        "op": "cells",
        "kind": kind,
        "added": {str(c): added_class for c in touched[~known] if c in present},
        "removed": [int(c) for c in touched[known] if c not in present],
        "changed": [int(c) for c in touched[known] if c in present],
    }
    return session.record(event, artifact=((by0, bx0), before, after, rows_before, rows_after))


def delete_cell(session: ReviewSession, cell: int) -> int:
    y, x, h, w = _bbox(session, [cell])
    window = _store(session).read(y, x, h, w)
    return edit_labels(session, (y, x), np.where(window == cell, 0, window), kind="delete")


def merge_cells(session: ReviewSession, keep: int, other: int) -> int:
    """``other``'s pixels become ``keep``'s."""
    y, x, h, w = _bbox(session, [keep, other])
    window = _store(session).read(y, x, h, w)
    return edit_labels(session, (y, x), np.where(window == other, keep, window), kind="merge")


def split_cell(session: ReviewSession, cell: int) -> int:
    """Cut a cell in two across its long axis, through its centroid; the second half gets a new id."""
    from skimage.measure import regionprops

    store = _store(session)
    y, x, h, w = _bbox(session, [cell])
    window = store.read(y, x, h, w)
    mask = window == cell
    prop = regionprops(mask.astype(np.uint8))[0]
    cy, cx = prop.centroid
    # skimage's orientation: angle between the row axis and the major axis
    dy, dx = np.cos(prop.orientation), np.sin(prop.orientation)
    rr, cc = np.nonzero(mask)
    second = (rr - cy) * dy + (cc - cx) * dx > 0
    if second.all() or not second.any():
        raise ValueError(f"cell {cell} is too small to split")
    new_id = int(store.new_ids(1)[0])
    edited = window.copy()
    edited[rr[second], cc[second]] = new_id
    current = session.state.label[session.state.positions([cell])[0]]
    name = session.state.classes[current] if current >= 0 else None
    return edit_labels(session, (y, x), edited, added_class=name, kind="split")


def add_cell(
    session: ReviewSession,
    mask: np.ndarray,
    origin: tuple[int, int],
    *,
    cell_class: str | None = None,
    kind: str = "add",
) -> int:
    """A new cell where ``mask`` is true and no cell is yet (painted, or from SAM)."""
    store = _store(session)
    window = store.read(*origin, *mask.shape)
    free = mask.astype(bool) & (window == 0)
    if not free.any():
        raise ValueError("the new cell covers no free pixel (cells are never painted over)")
    edited = window.copy()
    edited[free] = int(store.new_ids(1)[0])
    return edit_labels(session, origin, edited, added_class=cell_class, kind=kind)


def add_cell_at_point(
    session: ReviewSession,
    sam,
    image: np.ndarray,
    origin: tuple[int, int],
    point: tuple[float, float],
    *,
    cell_class: str | None = None,
) -> int:
    """Segment the object under a click with SAM (a single point prompt) and add it as a cell.

    ``image``: an RGB uint8 window (H&E, or IF rendered) whose top-left is ``origin``;
    ``point``: the click, level-0 row / column.
    """
    from segment_anything import SamPredictor

    predictor = SamPredictor(sam)
    predictor.set_image(np.ascontiguousarray(image))
    row, col = point[0] - origin[0], point[1] - origin[1]
    masks, scores, _ = predictor.predict(
        point_coords=np.array([[col, row]], float), point_labels=np.array([1]), multimask_output=True
    )
    best = masks[int(np.argmax(scores))]
    return add_cell(session, best, origin, cell_class=cell_class, kind="sam point")


# --- helpers ---------------------------------------------------------------------------------------
def _store(session: ReviewSession):
    if session.store is None:
        raise ValueError("mask edits need the label store (open the review with store=...)")
    return session.store


def _bbox(session: ReviewSession, cells) -> tuple[int, int, int, int]:
    rows = session.store.index[session.store.index.CellID.isin(cells)]
    if len(rows) != len(set(cells)):
        raise ValueError(f"cells {sorted(set(cells) - set(rows.CellID.tolist()))} are not in the label store")
    y0, x0, y1, x1 = int(rows.y0.min()), int(rows.x0.min()), int(rows.y1.max()), int(rows.x1.max())
    return y0, x0, y1 - y0, x1 - x0


def _current_rows(session: ReviewSession, cells: np.ndarray) -> pd.DataFrame:
    table = session.initial[session.initial["CellID"].isin(cells)]
    edited = [r for c, r in session.overrides.items() if c in set(cells.tolist())]
    if edited:
        table = pd.concat(
            [table[~table["CellID"].isin(list(session.overrides))], pd.DataFrame([r for r in edited if r is not None])],
            ignore_index=True,
        )
    return table.reset_index(drop=True)


def _measure(
    session: ReviewSession, labels: np.ndarray, origin: tuple[int, int], cells: np.ndarray, old: pd.DataFrame
) -> pd.DataFrame:
    """Rows of ``cells`` measured on ``labels`` (whole cells); other columns kept from ``old``."""
    from napari_ifcell.core.quantify.cells import QuantifySettings, quantify_cells

    keep = np.where(np.isin(labels, cells), labels, 0)
    if session.if_slide is not None:
        names = list(session.if_slide.channel_names)
        image = session.if_slide.read_region(*origin, *labels.shape, level=0, channels=names)
        # quantify with the neighbours present (cell compartments must not grow into them)
        rows = quantify_cells(
            labels,
            image,
            names,
            settings=session.quantify_settings or QuantifySettings(),
            pixel_size_um=session.if_slide.pixel_size_um,
            origin=origin,
        )
        rows = rows[rows["CellID"].isin(cells)]
    else:
        from skimage.measure import regionprops_table

        ids, inverse = np.unique(keep, return_inverse=True)
        props = regionprops_table(inverse.reshape(keep.shape), properties=("label", "centroid", "area"))
        rows = pd.DataFrame(
            {
                "CellID": ids[props["label"]],
                "Y_centroid": props["centroid-0"] + origin[0],
                "X_centroid": props["centroid-1"] + origin[1],
                "Area": props["area"],
            }
        )
    if session.gates is not None:
        from napari_ifcell.core.gating.apply import gated_table

        rows = gated_table(rows, session.gates)
    rows = rows.reset_index(drop=True)
    if len(old):  # keep what measurement does not produce (predictions, auto class, ...)
        carried = old.set_index("CellID").drop(columns=[c for c in rows.columns if c != "CellID"], errors="ignore")
        rows = rows.join(carried, on="CellID")
    if "auto_class" not in rows.columns:
        rows["auto_class"] = None
    rows["auto_class"] = rows["auto_class"].astype(object).where(rows["auto_class"].notna(), None)
    return rows
