"""What a review needs besides the session itself, composed once for the Review widget and the
CLI: opening a slide's review with its label store and gates, the review queue, agreement and
the gallery crops of a cell."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from napari_ifcell.core.review.queue import QueueSettings
from napari_ifcell.pipeline.review.session import ReviewSession


def open_review(
    project_folder: str | Path,
    *,
    reviewer: str,
    table_path: str | Path | None = None,
    store_folder: str | Path | None = None,
    gates_path: str | Path | None = None,
    auto_from: str = "phenotype",
    if_slide=None,
) -> ReviewSession:
    """The project's review (or a new one from the cell table at ``table_path``: a gated table,
    or a model's predictions with ``auto_from="model"``) with its label store (default: the
    project's own) and, for ordering by uncertainty, the gates. An H&E slide given as
    ``if_slide`` has no markers to re-measure after a mask edit: cells get their shape only."""
    from napari_ifcell.io.cell_table import read_cell_table
    from napari_ifcell.io.label_store import LabelStore
    from napari_ifcell.io.project import Project

    if not reviewer.strip():
        raise ValueError("type your name as reviewer first: every decision records who made it")
    project = Project.at(project_folder)
    store = LabelStore.open(Path(store_folder) if store_folder else project.labels)
    table = None
    if not project.has_review:
        if table_path is None:
            raise ValueError(
                f"{project.folder}: no review yet; give the gated cell table (or a model's predictions) to start one from"
            )
        table = read_cell_table(table_path)
        store.require_cells(table, table_path)
    gates = None
    if gates_path:
        from napari_ifcell.io.gate_file import load_gates

        gates = load_gates(gates_path)
    return ReviewSession.open(
        project.folder,
        table,
        reviewer=reviewer.strip(),
        auto_from=auto_from,
        store=store,
        if_slide=None if if_slide is None or if_slide.is_rgb else if_slide,
        gates=gates,
    )  # an existing review is refused there when the store is not its own any more


def session_queue(
    session: ReviewSession,
    *,
    order: str = QueueSettings.order,
    classes=None,
    statuses=("unreviewed",),
    region=None,
    n_per_class: int = QueueSettings.n_per_class,
) -> np.ndarray:
    """Cell ids of the session's current table in review order (see ``core.review.review_queue``);
    uncertainty from the model's probabilities, the marker states and the gates where present."""
    from napari_ifcell.core.review.queue import review_queue, uncertainty

    initial, gates = session.initial.columns, session.gates
    wanted = [
        "Y_centroid",
        "X_centroid",
        "auto_class",
        *[c for c in initial if c.startswith("prob_") or c.endswith("_state")],
        *([g.column for g in gates.gates.values()] if gates is not None else []),
    ]
    table = session.table(wanted)
    return review_queue(
        table,
        order=order,
        score=uncertainty(table, gates),
        classes=classes,
        statuses=statuses,
        region=region,
        n_per_class=n_per_class,
    )


def review_agreement(session: ReviewSession) -> tuple[pd.DataFrame, object]:
    """``(kappa table of auto vs people and every reviewer pair, auto-vs-people Agreement)``."""
    from napari_ifcell.core.review.agreement import agreement_table, auto_vs_people

    return agreement_table(session.state), auto_vs_people(session.state)


def gallery_crops(session: ReviewSession, cell: int, centre, label, *, pair=None, he_slide=None, limits=None):
    """The gallery of one cell: its H&E crop (from the pair, or ``he_slide`` when the slide is an
    H&E alone) and the IF channels that tell its class, outlined by its nucleus (see
    ``core.review.cell_crops``)."""
    from napari_ifcell.core.review.gallery import cell_crops, channels_for
    from napari_ifcell.io.channels import panel_channels

    slide = session.if_slide

    def he(y, x, h, w):
        if pair is not None:
            return pair.read_he_aligned(y, x, h, w, um_per_px=slide.pixel_size_um, fill=255)
        return he_slide.read_region(y, x, h, w, level=0, fill=255)

    return cell_crops(
        cell,
        centre,
        labels=session.store.read,
        he_read=he if pair is not None or he_slide is not None else None,
        channels=panel_channels(channels_for(label), slide.channel_names) if slide is not None else (),
        if_read=lambda y, x, h, w, c: slide.read_region(y, x, h, w, level=0, channels=c),
        limits=limits,
    )
