"""Exports of a review: the reviewed cell table (Parquet / CSV / TSV / AnnData), QuPath GeoJSON
of the cells with their classification, and the agreement table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from napari_ifcell.core.review.state import final_class
from napari_ifcell.orion import ORION_CHANNELS

EXPORT_SUFFIXES = (".parquet", ".csv", ".tsv", ".h5ad", ".geojson")


def export_review(session, path: str | Path, *, include_rejected: bool = False) -> Path:
    """Write the session's cells to ``path`` (format from the suffix). Rejected cells (not a
    cell / artefact) are left out of GeoJSON unless ``include_rejected``; tables keep them,
    with their status."""
    from napari_ifcell.io.cell_table import write_anndata, write_cell_table

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise ValueError(f"{path}: unknown export format {suffix!r}; use one of {', '.join(EXPORT_SUFFIXES)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    table = session.table()
    table["class"] = final_class(table)
    if suffix in (".parquet", ".csv", ".tsv"):
        return write_cell_table(table, path)
    if suffix == ".h5ad":
        table = table.assign(reviewed_at=table["reviewed_at"].astype(str))
        return write_anndata(table, path, ORION_CHANNELS, image_id=session.files.folder.parent.stem)
    return _export_geojson(session, table if include_rejected else table[table["review_status"] != "rejected"], path)


def _export_geojson(session, table: pd.DataFrame, path: Path) -> Path:
    from napari_ifcell.io.qupath_geojson import write_cells_geojson

    return write_cells_geojson(table, path, store=session.store, class_column="class")


def export_agreement(session, path: str | Path) -> Path:
    """Kappa per pair (auto vs people, reviewer vs reviewer) and, below, each confusion matrix."""
    from napari_ifcell.core.review.agreement import agreement_table, auto_vs_people
    from napari_ifcell.io.atomic import atomic_write

    summary = agreement_table(session.state)
    confusion = auto_vs_people(session.state).confusion
    text = summary.to_csv(index=False) + "\nauto (rows) vs people (columns)\n" + confusion.to_csv()
    return atomic_write(Path(path), lambda p: p.write_text(text, encoding="utf-8"))
